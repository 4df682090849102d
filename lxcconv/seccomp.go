package lxcconv

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// epermErrno is what runc returns for SCMP_ACT_ERRNO without errnoRet.
const epermErrno = 1

// compatArches are the architectures LXC's seccomp loader covers on each
// host architecture (the native one plus its compat ABIs).
var compatArches = map[string][]specs.Arch{
	"amd64":   {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"386":     {specs.ArchX86},
	"arm64":   {specs.ArchAARCH64, specs.ArchARM},
	"arm":     {specs.ArchARM},
	"ppc64le": {specs.ArchPPC64LE},
	"s390x":   {specs.ArchS390X, specs.ArchS390},
}

// seccompAction maps an OCI action to LXC seccomp v2 policy syntax. LXC
// 5.0 knows kill, errno N, allow, trap and notify.
func (c *converter) seccompAction(field string, act specs.LinuxSeccompAction, errnoRet *uint, defaultErrno *uint) (string, error) {
	switch act {
	case specs.ActAllow:
		return "allow", nil
	case specs.ActLog:
		c.warn(field, "SCMP_ACT_LOG applied as allow: LXC seccomp v2 policy cannot log")
		return "allow", nil
	case specs.ActKill, specs.ActKillThread:
		return "kill", nil
	case specs.ActKillProcess:
		c.warn(field, "SCMP_ACT_KILL_PROCESS applied as kill (thread): LXC seccomp v2 policy has no kill-process action")
		return "kill", nil
	case specs.ActTrap:
		return "trap", nil
	case specs.ActErrno:
		e := uint(epermErrno)
		switch {
		case errnoRet != nil:
			e = *errnoRet
		case defaultErrno != nil:
			e = *defaultErrno
		}
		if e == 0 {
			// errno 0 would make a denied syscall report success.
			return "", fieldErr(field, "SCMP_ACT_ERRNO with errno 0 would make the denied syscall succeed")
		}
		if e > 4095 {
			return "", fieldErr(field, "errno %d is out of range", e)
		}
		return fmt.Sprintf("errno %d", e), nil
	case specs.ActTrace:
		return "", fieldErr(field, "SCMP_ACT_TRACE cannot be expressed in LXC seccomp v2 policy")
	case specs.ActNotify:
		return "", fieldErr(field, "SCMP_ACT_NOTIFY cannot be expressed in LXC seccomp v2 policy (no listenerPath support)")
	default:
		return "", fieldErr(field, "unknown seccomp action %q", act)
	}
}

var seccompOps = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true, specs.OpEqualTo: true,
	specs.OpGreaterEqual: true, specs.OpGreaterThan: true, specs.OpMaskedEqual: true,
}

func validSyscallName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		b := n[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// seccompArg formats one condition as LXC reads it: [index,value,op] or,
// for SCMP_CMP_MASKED_EQ, [index,value,op,mask]. OCI (like libseccomp)
// puts the mask in value and the compared datum in valueTwo.
func seccompArg(a specs.LinuxSeccompArg) string {
	if a.Op == specs.OpMaskedEqual {
		return fmt.Sprintf("[%d,%d,%s,%d]", a.Index, a.ValueTwo, a.Op, a.Value)
	}
	return fmt.Sprintf("[%d,%d,%s]", a.Index, a.Value, a.Op)
}

func (c *converter) seccomp() error {
	s := c.spec.Linux.Seccomp
	if s == nil {
		return nil
	}
	const f = "linux.seccomp"
	if c.opts.SeccompProfilePath == "" {
		return fieldErr(f, "needs Options.SeccompProfilePath for the policy file")
	}
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return fieldErr(f+".listenerPath", "seccomp notify listeners cannot be expressed in LXC")
	}
	for i, fl := range s.Flags {
		c.warn(fmt.Sprintf("%s.flags[%d]", f, i), "%s not applied: LXC seccomp v2 policy has no filter flags", fl)
	}
	native := compatArches[runtime.GOARCH]
	for i, a := range s.Architectures {
		if !slices.Contains(native, a) {
			c.warn(fmt.Sprintf("%s.architectures[%d]", f, i), "%s not covered: LXC applies the policy to the host's native and compat architectures", a)
		}
	}
	def, err := c.seccompAction(f+".defaultAction", s.DefaultAction, s.DefaultErrnoRet, nil)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("2\n")
	if def == "allow" {
		b.WriteString("denylist allow\n")
	} else {
		b.WriteString("allowlist " + def + "\n")
	}
	for i, sc := range s.Syscalls {
		field := fmt.Sprintf("%s.syscalls[%d]", f, i)
		// Per rule, errnoRet defaults to EPERM, not to defaultErrnoRet.
		act, err := c.seccompAction(field+".action", sc.Action, sc.ErrnoRet, nil)
		if err != nil {
			return err
		}
		if act == def {
			// libseccomp refuses a rule whose action is the default.
			continue
		}
		counts := map[uint]int{}
		for j, a := range sc.Args {
			if a.Index >= 6 {
				return fieldErr(fmt.Sprintf("%s.args[%d].index", field, j), "%d is not below 6", a.Index)
			}
			if !seccompOps[a.Op] {
				return fieldErr(fmt.Sprintf("%s.args[%d].op", field, j), "unknown operator %q", a.Op)
			}
			counts[a.Index]++
		}
		// Several conditions on one argument: runc adds one rule per
		// condition (libseccomp cannot AND them); do the same.
		split := false
		for _, n := range counts {
			if n > 1 {
				split = true
			}
		}
		var argSets [][]specs.LinuxSeccompArg
		if split {
			for _, a := range sc.Args {
				argSets = append(argSets, []specs.LinuxSeccompArg{a})
			}
		} else {
			argSets = [][]specs.LinuxSeccompArg{sc.Args}
		}
		for j, name := range sc.Names {
			if !validSyscallName(name) {
				return fieldErr(fmt.Sprintf("%s.names[%d]", field, j), "invalid syscall name %q", name)
			}
			for _, args := range argSets {
				line := name + " " + act
				for _, a := range args {
					line += " " + seccompArg(a)
				}
				b.WriteString(line + "\n")
			}
		}
	}
	c.res.SeccompProfile = b.String()
	if err := c.add("lxc.seccomp.profile", c.opts.SeccompProfilePath); err != nil {
		return fieldErr("Options.SeccompProfilePath", "%v", err)
	}
	return nil
}
