package lxcconv

import (
	"io/fs"
	"reflect"
	"strings"
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

// TestSharedMounts: a bind mount with shared or rshared propagation is
// staged by the pre-mount hook (its entry binds from the staging point),
// one with rslave is not; without the runtime's hook it stays a bind of
// the source, with a warning, and Standalone refuses the staged form.
func TestSharedMounts(t *testing.T) {
	const hook = "/usr/bin/containerd-shim-lxc-v1 hook"
	spec := func() *specs.Spec {
		s := baseSpec()
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/vol", Type: "bind", Source: "/host/vol", Options: []string{"rbind", "rshared", "rw"}},
			specs.Mount{Destination: "/etc/cfg", Type: "bind", Source: "/host/cfg.file", Options: []string{"bind", "shared", "ro"}},
			specs.Mount{Destination: "/in", Type: "bind", Source: "/host/in", Options: []string{"rbind", "rslave"}},
		)
		return s
	}
	opts := baseOptions()
	opts.StatHost = func(p string) (bool, error) { return !strings.HasSuffix(p, ".file"), nil }
	opts.HookCommand = hook
	opts.SharedMountDir = "/run/s/ct"
	res, err := Convert(spec(), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []SharedMount{
		{Field: "mounts[4]", Source: "/host/vol", Staging: "/run/s/ct/shared.0", Recursive: true, Dir: true},
		{Field: "mounts[5]", Source: "/host/cfg.file", Staging: "/run/s/ct/shared.1"},
	}
	if res.MountHook == nil || !reflect.DeepEqual(res.MountHook.SharedMounts, want) {
		t.Fatalf("MountHook = %+v, want SharedMounts %+v", res.MountHook, want)
	}
	if got := res.Config.Get("lxc.hook.pre-mount"); !reflect.DeepEqual(got, []string{hook + " pre-mount"}) {
		t.Errorf("lxc.hook.pre-mount = %q", got)
	}
	if got := res.Config.Get("lxc.hook.mount"); len(got) > 0 {
		t.Errorf("lxc.hook.mount = %q without createContainer hooks", got)
	}
	entries := strings.Join(res.Config.Get("lxc.mount.entry"), "\n")
	for _, e := range []string{
		"/run/s/ct/shared.0 vol none rbind,rshared,rw 0 0",
		"/run/s/ct/shared.1 etc/cfg none bind,shared,ro 0 0",
		"/host/in in none rbind,rslave 0 0",
	} {
		if !strings.Contains(entries, e) {
			t.Errorf("no entry %q in\n%s", e, entries)
		}
	}
	if err := res.Standalone(); err == nil || !strings.Contains(err.Error(), "mounts[4].options") {
		t.Errorf("Standalone: %v, want a refusal naming mounts[4].options", err)
	}

	// No hook from the runtime: binds of the sources, and a warning.
	opts.HookCommand = ""
	res, err = Convert(spec(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.MountHook != nil || len(res.Config.Get("lxc.hook.pre-mount")) > 0 {
		t.Errorf("MountHook %+v, pre-mount %q without HookCommand", res.MountHook, res.Config.Get("lxc.hook.pre-mount"))
	}
	if entries := strings.Join(res.Config.Get("lxc.mount.entry"), "\n"); !strings.Contains(entries, "/host/vol vol none rbind,rshared,rw 0 0") {
		t.Errorf("entries without the hook:\n%s", entries)
	}
	warned := false
	for _, w := range res.Warnings {
		warned = warned || w.Field == "mounts[4].options"
	}
	if !warned {
		t.Errorf("no warning on mounts[4].options: %v", res.Warnings)
	}
}

// TestRecursiveReadOnlyMounts: an rro bind mount is staged (its clone is
// made read-only throughout by the runtime) and its entry binds from the
// staging point with a plain ro in place of rro; without shared
// propagation the clone is made a slave. Without the runtime's hook it
// is refused, naming the mount.
func TestRecursiveReadOnlyMounts(t *testing.T) {
	spec := func() *specs.Spec {
		s := baseSpec()
		s.Mounts = append(s.Mounts,
			// containerd's CRI: rro without ro.
			specs.Mount{Destination: "/mnt", Type: "bind", Source: "/host/vol", Options: []string{"rbind", "rprivate", "rro"}},
			specs.Mount{Destination: "/cfg", Type: "bind", Source: "/host/cfg", Options: []string{"bind", "ro", "rro"}},
			specs.Mount{Destination: "/plain", Type: "bind", Source: "/host/plain", Options: []string{"rbind", "ro"}},
		)
		return s
	}
	opts := baseOptions()
	opts.StatHost = func(string) (bool, error) { return true, nil }
	opts.HookCommand = "/usr/bin/containerd-shim-lxc-v1 hook"
	opts.SharedMountDir = "/run/s/ct"
	res, err := Convert(spec(), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []SharedMount{
		{Field: "mounts[4]", Source: "/host/vol", Staging: "/run/s/ct/shared.0", Recursive: true, Dir: true, ReadOnly: true, Slave: true},
		{Field: "mounts[5]", Source: "/host/cfg", Staging: "/run/s/ct/shared.1", Dir: true, ReadOnly: true, Slave: true},
	}
	if res.MountHook == nil || !reflect.DeepEqual(res.MountHook.SharedMounts, want) {
		t.Fatalf("MountHook = %+v, want SharedMounts %+v", res.MountHook, want)
	}
	entries := strings.Join(res.Config.Get("lxc.mount.entry"), "\n")
	for _, e := range []string{
		"/run/s/ct/shared.0 mnt none rbind,rprivate,ro 0 0",
		"/run/s/ct/shared.1 cfg none bind,ro 0 0",
		"/host/plain plain none rbind,ro 0 0",
	} {
		if !strings.Contains(entries, e) {
			t.Errorf("no entry %q in\n%s", e, entries)
		}
	}
	if strings.Contains(entries, "rro") {
		t.Errorf("rro reached an LXC mount entry:\n%s", entries)
	}
	if err := res.Standalone(); err == nil || !strings.Contains(err.Error(), "mounts[4].options") || !strings.Contains(err.Error(), "rro") {
		t.Errorf("Standalone: %v, want a refusal naming mounts[4].options and rro", err)
	}

	// An rshared rro mount stays a peer (containerd's CRI refuses the
	// combination; a plain OCI spec may ask for it).
	s := baseSpec()
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/host/vol", Options: []string{"rbind", "rshared", "rro"}})
	if res, err = Convert(s, opts); err != nil {
		t.Fatal(err)
	}
	if got := res.MountHook.SharedMounts; len(got) != 1 || !got[0].ReadOnly || got[0].Slave {
		t.Errorf("rshared,rro: SharedMounts %+v, want one ReadOnly, not Slave", got)
	}

	// No hook from the runtime: refused, nothing half-made.
	opts.HookCommand = ""
	res, err = Convert(spec(), opts)
	const wantErr = "mounts[4].options: recursive read-only (rro) needs the runtime's pre-mount hook"
	if err == nil || !strings.Contains(err.Error(), wantErr) || res != nil {
		t.Fatalf("Convert without a hook = %v, %v; want nil and an error containing %q", res, err, wantErr)
	}
}
