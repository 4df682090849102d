package lxcconv

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkProcess validates what an init process (the spec's, prefix
// "process") and an exec process (prefix "") share; errors are FieldErrors
// naming the field.
func checkProcess(prefix string, p *specs.Process) error {
	field := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	switch {
	case len(p.Args) == 0:
		return fieldErr(field("args"), "empty")
	case p.CommandLine != "":
		return fieldErr(field("commandLine"), "is a Windows-only field")
	case p.User.Username != "":
		return fieldErr(field("user.username"), "is a Windows-only field; give uid/gid")
	case !path.IsAbs(p.Cwd) || strings.ContainsRune(p.Cwd, 0):
		return fieldErr(field("cwd"), "%q is not an absolute path", p.Cwd)
	}
	for i, a := range p.Args {
		if strings.ContainsRune(a, 0) {
			return fieldErr(field(fmt.Sprintf("args[%d]", i)), "contains NUL")
		}
	}
	for i, e := range p.Env {
		if strings.ContainsRune(e, 0) || !strings.Contains(e, "=") {
			return fieldErr(field(fmt.Sprintf("env[%d]", i)), "must be KEY=VALUE without NUL")
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fieldErr(field("oomScoreAdj"), "%d is outside -1000…1000", *p.OOMScoreAdj)
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		f := field(fmt.Sprintf("rlimits[%d]", i))
		if _, ok := rlimits[r.Type]; !ok {
			return fieldErr(f+".type", "unknown rlimit %q", r.Type)
		}
		if seen[r.Type] {
			return fieldErr(f+".type", "rlimit %q given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return fieldErr(f, "soft limit %d above hard limit %d", r.Soft, r.Hard)
		}
	}
	return nil
}

// newProcess is the helper's process for p (checked): what init and exec
// processes share.
func newProcess(p *specs.Process) *Process {
	return &Process{
		Args:           slices.Clone(p.Args),
		Env:            slices.Clone(p.Env),
		Cwd:            p.Cwd,
		UID:            p.User.UID,
		GID:            p.User.GID,
		AdditionalGids: slices.Clone(p.User.AdditionalGids),
		Umask:          p.User.Umask,
		Terminal:       p.Terminal,
		ConsoleSize:    p.ConsoleSize,
		Capabilities:   p.Capabilities,
	}
}

// ExecProcess converts the OCI process of an exec (containerd's
// ExecProcessRequest) to the process zfslxc-init runs in the running
// container, with the checks Convert applies to the spec's process.
// Unlike init, an exec gets its rlimits from the helper (LXC's
// lxc.prlimit applies to init only), its own no_new_privs (as runc; the
// container's applies anyway) and its oom_score_adj from the starter.
func ExecProcess(p *specs.Process) (*Process, error) {
	if p == nil {
		return nil, fieldErr("process", "missing")
	}
	if err := checkProcess("", p); err != nil {
		return nil, err
	}
	proc := newProcess(p)
	proc.Rlimits = slices.Clone(p.Rlimits)
	proc.NoNewPrivileges = p.NoNewPrivileges
	proc.OOMScoreAdj = p.OOMScoreAdj
	return proc, nil
}
