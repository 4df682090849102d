package lxcconv

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestProcessChecksShared: the spec's process (Convert) and an exec's
// (ExecProcess) are refused for the same fields, named alike.
func TestProcessChecksShared(t *testing.T) {
	big := 1001
	for _, tc := range []struct {
		name   string
		mutate func(p *specs.Process)
		field  string
	}{
		{"no args", func(p *specs.Process) { p.Args = nil }, "args"},
		{"NUL in args", func(p *specs.Process) { p.Args = []string{"a\x00b"} }, "args[0]"},
		{"env without =", func(p *specs.Process) { p.Env = []string{"A=1", "B"} }, "env[1]"},
		{"relative cwd", func(p *specs.Process) { p.Cwd = "tmp" }, "cwd"},
		{"username", func(p *specs.Process) { p.User.Username = "app" }, "user.username"},
		{"command line", func(p *specs.Process) { p.CommandLine = "x" }, "commandLine"},
		{"unknown rlimit", func(p *specs.Process) { p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}} }, "rlimits[0].type"},
		{"rlimit twice", func(p *specs.Process) {
			p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE"}, {Type: "RLIMIT_CORE"}}
		}, "rlimits[1].type"},
		{"soft above hard", func(p *specs.Process) {
			p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_CORE", Soft: 2, Hard: 1}}
		}, "rlimits[0]"},
		{"oom score", func(p *specs.Process) { p.OOMScoreAdj = &big }, "oomScoreAdj"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			tc.mutate(s.Process)
			_, err := Convert(s, baseOptions())
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "process."+tc.field {
				t.Errorf("Convert: %v, want a refusal of process.%s", err, tc.field)
			}
			p := baseSpec().Process
			tc.mutate(p)
			_, err = ExecProcess(p)
			if !errors.As(err, &fe) || fe.Field != tc.field || !errdefs.IsInvalidArgument(err) {
				t.Errorf("ExecProcess: %v, want an InvalidArgument refusal of %s", err, tc.field)
			}
		})
	}
	if _, err := ExecProcess(nil); err == nil || !strings.Contains(err.Error(), "process: missing") {
		t.Errorf("ExecProcess(nil): %v", err)
	}
	p := baseSpec().Process
	n := 5
	p.OOMScoreAdj = &n
	p.NoNewPrivileges = true
	p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}}
	got, err := ExecProcess(p)
	if err != nil || got.OOMScoreAdj != &n || !got.NoNewPrivileges || len(got.Rlimits) != 1 || got.Args[0] != "sh" {
		t.Errorf("ExecProcess = %+v, %v", got, err)
	}
}
