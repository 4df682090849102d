package lxcconv

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ctrSpec is testdata's spec of `ctr run` (containerd v2.4.2's pkg/oci
// defaults) with root's process args.
func ctrSpec(t *testing.T, args ...string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile("testdata/specs/ctr-default.json")
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Args = args
	return &s
}

// TestStandalone: what Convert leaves to a runtime becomes LXC keys or a
// refusal naming the field.
func TestStandalone(t *testing.T) {
	convert := func(t *testing.T, mutate func(*specs.Spec)) *Result {
		t.Helper()
		s := ctrSpec(t, "sh")
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
