package lxcconv

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestNoConfigInjection puts bytes that mean something to LXC's config
// parser (a line break followed by an lxc. key, CR, NUL, '#', '=', and a
// bare lxc. key) into every spec field that reaches LXC configuration.
// Each conversion is either refused naming the field, or gives exactly
// the keys the same spec gives with a harmless value: nothing injected.
func TestNoConfigInjection(t *testing.T) {
	payloads := map[string]string{
		"newline key": "x\nlxc.hook.pre-start = /bin/evil",
		"cr":          "x\rlxc.hook.pre-start = /bin/evil",
		"nul":         "x\x00y",
		"comment":     "#x",
		"equals":      "x = y",
		"lxc key":     "lxc.apparmor.profile",
	}
	fields := []struct {
		name string
		set  func(s *specs.Spec, v string)
	}{
		{"hostname", func(s *specs.Spec, v string) { s.Hostname = "h" + v }},
		{"domainname", func(s *specs.Spec, v string) { s.Domainname = "d" + v }},
		{"mounts.destination", func(s *specs.Spec, v string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/m" + v, Type: "tmpfs", Source: "tmpfs"})
		}},
		{"mounts.source", func(s *specs.Spec, v string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/m", Type: "bind", Source: "/src" + v, Options: []string{"rbind"}})
		}},
		{"mounts.options", func(s *specs.Spec, v string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/m", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755" + v}})
		}},
		{"mounts.type", func(s *specs.Spec, v string) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/m", Type: "tmpfs" + v, Source: "tmpfs"})
		}},
		{"sysctl key", func(s *specs.Spec, v string) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward" + v: "1"} }},
		{"sysctl value", func(s *specs.Spec, v string) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1" + v} }},
		{"cgroupsPath", func(s *specs.Spec, v string) { s.Linux.CgroupsPath = "/default/c" + v }},
		{"apparmorProfile", func(s *specs.Spec, v string) { s.Process.ApparmorProfile = "p" + v }},
		{"annotation", func(s *specs.Spec, v string) { s.Annotations = map[string]string{"a" + v: "b" + v} }},
		{"env", func(s *specs.Spec, v string) { s.Process.Env = append(s.Process.Env, "K="+v) }},
		{"args", func(s *specs.Spec, v string) { s.Process.Args = append(s.Process.Args, v) }},
		{"cwd", func(s *specs.Spec, v string) { s.Process.Cwd = "/w" + v }},
		{"rlimit type", func(s *specs.Spec, v string) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE" + v, Hard: 10, Soft: 10}}
		}},
		{"namespace path", func(s *specs.Spec, v string) {
			s.Linux.Namespaces[4] = specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/var/run/netns/n" + v}
		}},
		{"seccomp syscall", func(s *specs.Spec, v string) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir" + v}, Action: specs.ActErrno}}}
		}},
		{"capability", func(s *specs.Spec, v string) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_KILL"+v)
		}},
		{"device path", func(s *specs.Spec, v string) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x" + v, Type: "c", Major: 1, Minor: 3}}
		}},
		{"masked path", func(s *specs.Spec, v string) { s.Linux.MaskedPaths = []string{"/proc/x" + v} }},
		{"readonly path", func(s *specs.Spec, v string) { s.Linux.ReadonlyPaths = []string{"/proc/x" + v} }},
	}
	keys := func(c *Config) []string {
		var k []string
		for _, e := range c.Entries {
			if strings.HasPrefix(e.Key, "lxc.sysctl.") {
				// The sysctl's name is part of the key; where it points
				// is TestSysctlKeyStaysInProcSys's.
				k = append(k, "lxc.sysctl.*")
				continue
			}
			k = append(k, e.Key)
		}
		slices.Sort(k)
		return slices.Compact(k)
	}
	for _, f := range fields {
		harmless := baseSpec()
		f.set(harmless, "")
		want, err := Convert(harmless, baseOptions())
		if err != nil {
			t.Fatalf("%s with a harmless value: %v", f.name, err)
		}
		wantKeys := keys(want.Config)
		for pname, p := range payloads {
			t.Run(f.name+"/"+pname, func(t *testing.T) {
				s := baseSpec()
				f.set(s, p)
				res, err := Convert(s, baseOptions())
				if err != nil {
					var fe *FieldError
					if !errors.As(err, &fe) || fe.Field == "" {
						t.Fatalf("refused without naming a field: %v", err)
					}
					return
				}
				if got := keys(res.Config); !slices.Equal(got, wantKeys) {
					t.Errorf("keys changed:\n got %q\nwant %q", got, wantKeys)
				}
				for _, e := range res.Config.Entries {
					if strings.ContainsAny(e.Value, "\n\r\x00") {
						t.Errorf("%s = %q holds a line break or NUL", e.Key, e.Value)
					}
				}
				checkRoundTrip(t, res.Config)
			})
		}
	}
}

// TestSysctlKeyStaysInProcSys: LXC writes lxc.sysctl.KEY to
// /proc/sys/KEY with dots as slashes: a key that climbs out of /proc/sys
// or is not a sysctl name is refused naming it.
func TestSysctlKeyStaysInProcSys(t *testing.T) {
	for _, key := range []string{"kernel/../../sysrq-trigger", "../sysrq-trigger", "net..ipv4", "/abs", "kernel.x y", "kernel.msgmax\n"} {
		s := baseSpec()
		s.Linux.Sysctl = map[string]string{key: "1"}
		res, err := Convert(s, baseOptions())
		if err == nil {
			t.Errorf("sysctl %q accepted: %q", key, res.Config.Get("lxc.sysctl."+key))
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(fe.Field, "sysctl") {
			t.Errorf("sysctl %q: %v, want a refusal naming linux.sysctl", key, err)
		}
	}
}
