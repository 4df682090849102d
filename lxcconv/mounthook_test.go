package lxcconv

import (
	"io/fs"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestMountHook: createContainer hooks become the MountHook the runtime
// hands lxc.hook.mount, with the state runc gives createContainer hooks;
// without them there is none.
func TestMountHook(t *testing.T) {
	mode := fs.FileMode(0o620)
	uid := uint32(5)
	cc := []specs.Hook{{Path: "/usr/bin/ldconfig-hook", Args: []string{"x", "--root"}, Env: []string{"A=b"}}, {Path: "/bin/true"}}
	for _, tc := range []struct {
		name    string
		spec    func(*specs.Spec)
		want    *MountHook
		wantKey bool
	}{
		{name: "none", spec: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/cni"}}, StartContainer: []specs.Hook{{Path: "/bin/x"}}}
		}},
		{name: "createContainer hooks", spec: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: cc}
		}, want: &MountHook{CreateContainer: cc}, wantKey: true},
		// The runtime makes device nodes itself, once init is ready.
		{name: "device nodes", spec: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			s.Annotations = map[string]string{"k": "v"}
			tc.spec(s)
			o := baseOptions()
			o.ContainerName = "c1"
			o.BundleDir = "/run/b/c1"
			o.HookCommand = "/usr/bin/containerd-shim-lxc-v1 hook"
			res, err := Convert(s, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Config.Get("lxc.hook.mount"); (len(got) == 1 && got[0] == o.HookCommand+" mount") != tc.wantKey {
				t.Errorf("lxc.hook.mount = %q, want it: %v", got, tc.wantKey)
			}
			if tc.want == nil {
				if res.MountHook != nil {
					t.Errorf("MountHook = %+v, want none", res.MountHook)
				}
				return
			}
			tc.want.State = specs.State{Version: "1.3.0", ID: "c1", Status: specs.StateCreating, Bundle: "/run/b/c1", Annotations: map[string]string{"k": "v"}}
			if !reflect.DeepEqual(res.MountHook, tc.want) {
				t.Errorf("MountHook = %+v\nwant        %+v", res.MountHook, tc.want)
			}
		})
	}
}
