package lxcrun

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
)

func TestExecProcess(t *testing.T) {
	umask := uint32(0o027)
	caps := &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}}
	full := &specs.Process{
		Terminal:        true,
		ConsoleSize:     &specs.Box{Height: 24, Width: 80},
		User:            specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{5, 6}, Umask: &umask},
		Args:            []string{"sh", "-c", "a\nb", ""},
		Env:             []string{"A=1", "EMPTY="},
		Cwd:             "/srv/x y",
		Capabilities:    caps,
		Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}},
		NoNewPrivileges: true,
	}
	got, err := ExecProcess(full)
	if err != nil {
		t.Fatal(err)
	}
	want := &lxcconv.Process{
		Args: full.Args, Env: full.Env, Cwd: full.Cwd, UID: 1000, GID: 100, AdditionalGids: []uint32{5, 6},
		Umask: &umask, Terminal: true, ConsoleSize: full.ConsoleSize, Capabilities: caps, Rlimits: full.Rlimits,
		NoNewPrivileges: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExecProcess = %+v, want %+v", got, want)
	}
	// The result does not alias the spec's slices.
	full.Args[0] = "changed"
	if got.Args[0] != "sh" {
		t.Errorf("Args alias the spec")
	}

	base := func() *specs.Process { return &specs.Process{Args: []string{"true"}, Cwd: "/"} }
	tests := []struct {
		name   string
		mutate func(p *specs.Process)
		field  string
	}{
		// The checks are lxcconv's (TestProcessChecksShared); here, that
		// they reach the caller classed and named.
		{"no args", func(p *specs.Process) { p.Args = nil }, "args"},
		{"unknown rlimit", func(p *specs.Process) { p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}} }, "rlimits[0].type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.mutate(p)
			_, err := ExecProcess(p)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("ExecProcess: %v, want InvalidArgument naming %s", err, tc.field)
			}
		})
	}
	if _, err := ExecProcess(nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("ExecProcess(nil): %v", err)
	}
}
