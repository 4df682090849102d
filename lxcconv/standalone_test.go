package lxcconv

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestImageSpec(t *testing.T) {
	p := &Process{Args: []string{"/bin/app", "-v"}, Env: []string{"PATH=/bin", "HOME=/home/app"}, Cwd: "/srv", UID: 1000, GID: 1000, AdditionalGids: []uint32{27}}
	s, err := ImageSpec("web", p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "web" || s.Linux.CgroupsPath != "" || s.Process.Rlimits != nil || s.Process.NoNewPrivileges {
		t.Errorf("hostname %q cgroupsPath %q rlimits %v nnp %v", s.Hostname, s.Linux.CgroupsPath, s.Process.Rlimits, s.Process.NoNewPrivileges)
	}
	if !slices.Equal(s.Process.Args, p.Args) || !slices.Equal(s.Process.Env, p.Env) || s.Process.Cwd != "/srv" ||
		s.Process.User.UID != 1000 || s.Process.User.GID != 1000 || !slices.Equal(s.Process.User.AdditionalGids, []uint32{27}) {
		t.Errorf("process %+v", s.Process)
	}
	caps := s.Process.Capabilities
	if len(caps.Bounding) == 0 || caps.Effective != nil || caps.Permitted != nil {
		t.Errorf("non-root capabilities %+v: want the bounding set only", caps)
	}
	// containerd's confinement: masked and read-only paths, new
	// namespaces, deny-all device rule.
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") || len(s.Linux.Namespaces) < 5 {
		t.Errorf("linux %+v", s.Linux)
	}
	root, err := ImageSpec("r", &Process{Args: []string{"sh"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(root.Process.Capabilities.Effective) == 0 || !slices.Equal(root.Process.Capabilities.Effective, root.Process.Capabilities.Bounding) {
		t.Errorf("root capabilities %+v", root.Process.Capabilities)
	}
	// Each call has its own copy.
	root.Linux.MaskedPaths[0] = "/changed"
	if s2, _ := ImageSpec("x", p); s2.Linux.MaskedPaths[0] == "/changed" {
		t.Error("ImageSpec results share state")
	}
}

// TestStandalone: what Convert leaves to a runtime becomes LXC keys or a
// refusal naming the field.
func TestStandalone(t *testing.T) {
	convert := func(t *testing.T, mutate func(*specs.Spec)) *Result {
		t.Helper()
		s, err := ImageSpec("ct", &Process{Args: []string{"sh"}, Env: []string{"PATH=/bin"}, Cwd: "/"})
		if err != nil {
			t.Fatal(err)
		}
		s.Root = &specs.Root{Path: "/rootfs"}
		if mutate != nil {
			mutate(s)
		}
		res, err := Convert(s, baseOptions())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := convert(t, func(s *specs.Spec) {
		lim := int64(50)
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &lim}
	})
	if len(res.ReadonlyPaths) == 0 || len(res.LateCgroup) == 0 {
		t.Fatalf("the image spec left nothing to a runtime: %+v", res)
	}
	if err := res.Standalone(); err != nil {
		t.Fatal(err)
	}
	if res.ReadonlyPaths != nil || res.LateCgroup != nil || res.Remounts != nil {
		t.Errorf("runtime steps left: %v %v %v", res.ReadonlyPaths, res.LateCgroup, res.Remounts)
	}
	text := res.Config.String()
	for _, want := range []string{
		"lxc.mount.entry = proc/sys proc/sys none rbind,ro,relative,optional 0 0",
		"lxc.mount.entry = proc/sysrq-trigger proc/sysrq-trigger none rbind,ro,relative,optional 0 0",
		"lxc.cgroup2.pids.max = 50",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*specs.Spec)
		field  string
	}{
		{"sysctl with read-only /proc/sys", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"} }, "linux.readonlyPaths"},
		{"read-only root", func(s *specs.Spec) { s.Root.Readonly = true }, "root.readonly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := convert(t, tc.mutate).Standalone()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("Standalone: %v, want a refusal of %s", err, tc.field)
			}
		})
	}
}
