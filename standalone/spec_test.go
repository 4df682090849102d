package standalone

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
)

func TestImageSpec(t *testing.T) {
	p := &lxcconv.Process{Args: []string{"/bin/app", "-v"}, Env: []string{"PATH=/bin", "HOME=/home/app"}, Cwd: "/srv", UID: 1000, GID: 1000, AdditionalGids: []uint32{27}}
	s, err := imageSpec("web", p)
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
	root, err := imageSpec("r", &lxcconv.Process{Args: []string{"sh"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(root.Process.Capabilities.Effective) == 0 || !slices.Equal(root.Process.Capabilities.Effective, root.Process.Capabilities.Bounding) {
		t.Errorf("root capabilities %+v", root.Process.Capabilities)
	}
	// Each call has its own copy.
	root.Linux.MaskedPaths[0] = "/changed"
	if s2, _ := imageSpec("x", p); s2.Linux.MaskedPaths[0] == "/changed" {
		t.Error("imageSpec results share state")
	}
}

// TestImageSpecIsCtrs: the confinement imageSpec builds with containerd's
// pkg/oci is the spec lxcconv's golden tests convert (ctr run's, from
// containerd v2.4.2's pkg/oci through lxcconv/testdata/gen): mounts,
// masked and read-only paths, namespaces, device rules, the bounding set.
func TestImageSpecIsCtrs(t *testing.T) {
	data, err := os.ReadFile("../lxcconv/testdata/specs/ctr-default.json")
	if err != nil {
		t.Fatal(err)
	}
	var want specs.Spec
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	got, err := imageSpec("ctr-default", &lxcconv.Process{Args: []string{"sh"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"mounts", got.Mounts, want.Mounts},
		{"maskedPaths", got.Linux.MaskedPaths, want.Linux.MaskedPaths},
		{"readonlyPaths", got.Linux.ReadonlyPaths, want.Linux.ReadonlyPaths},
		{"namespaces", got.Linux.Namespaces, want.Linux.Namespaces},
		{"resources.devices", got.Linux.Resources.Devices, want.Linux.Resources.Devices},
		{"capabilities.bounding", got.Process.Capabilities.Bounding, want.Process.Capabilities.Bounding},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
}
