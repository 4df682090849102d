package lxcrun

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

func TestMountHookDir(t *testing.T) {
	for _, tc := range []struct {
		typ, cfg, dir, err string
	}{
		{"mount", "/run/s/ct/lxc/ct/config", "/run/s/ct", ""},
		{"start", "/run/s/ct/lxc/ct/config", "", `LXC_HOOK_TYPE="start"`},
		{"", "/run/s/ct/lxc/ct/config", "", `LXC_HOOK_TYPE=""`},
		{"mount", "/etc/ct/config", "", "LXC_CONFIG_FILE"},
		{"mount", "lxc/ct/config", "", "LXC_CONFIG_FILE"},
		{"mount", "", "", "LXC_CONFIG_FILE"},
	} {
		t.Setenv("LXC_HOOK_TYPE", tc.typ)
		t.Setenv("LXC_CONFIG_FILE", tc.cfg)
		dir, err := mountHookDir()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: %q, %v; want an error naming %s", tc.typ, tc.cfg, dir, err, tc.err)
			}
			continue
		}
		if err != nil || dir != tc.dir {
			t.Errorf("%s %s: %q, %v; want %s", tc.typ, tc.cfg, dir, err, tc.dir)
		}
	}
}

// TestRunMountHook: device nodes are made under the rootfs with the
// spec's mode and owner, never through a symlink; the createContainer
// hooks get the state with status creating and init's pid; a failure is
// appended to LXC's log as an ERROR line.
func TestRunMountHook(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(rootfs, "escape")); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "state.json")
	mode := fs.FileMode(0o640)
	uid, gid := uint32(7), uint32(8)
	mh := lxcconv.MountHook{
		State: specs.State{Version: "1.2.0", ID: "ct", Bundle: "/b/ct", Annotations: map[string]string{"a": "b"}},
		Devices: []lxcconv.Device{
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid},
			{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200},
			{Path: "/dev/loop9", Type: "b", Major: 7, Minor: 9},
		},
		CreateContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + rec}}},
	}
	if err := writeJSON(filepath.Join(dir, mountHookFile), mh); err != nil {
		t.Fatal(err)
	}
	if err := runMountHook(context.Background(), dir, rootfs); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		path      string
		typ, perm uint32
		rdev      uint64
		uid, gid  uint32
	}{
		{"dev/fuse", unix.S_IFCHR, 0o640, unix.Mkdev(10, 229), 7, 8},
		{"dev/net/tun", unix.S_IFCHR, 0o666, unix.Mkdev(10, 200), 0, 0},
		{"dev/loop9", unix.S_IFBLK, 0o666, unix.Mkdev(7, 9), 0, 0},
	} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(rootfs, d.path), &st); err != nil {
			t.Fatalf("%s: %v", d.path, err)
		}
		if st.Mode&unix.S_IFMT != d.typ || st.Mode&0o7777 != d.perm || st.Rdev != d.rdev || st.Uid != d.uid || st.Gid != d.gid {
			t.Errorf("%s: mode %o rdev %d uid %d gid %d", d.path, st.Mode, st.Rdev, st.Uid, st.Gid)
		}
	}
	var got specs.State
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	// Here the hook's "init" is this test's parent (no shell between).
	if got.ID != "ct" || got.Status != specs.StateCreating || got.Bundle != "/b/ct" || got.Annotations["a"] != "b" || got.Version != "1.2.0" || got.Pid != os.Getppid() {
		t.Errorf("state %+v, want status creating and pid %d", got, os.Getppid())
	}
	// Again: the nodes exist already and are kept.
	if err := runMountHook(context.Background(), dir, rootfs); err != nil {
		t.Fatalf("second run: %v", err)
	}

	// A symlink on the way is refused, and nothing is made outside.
	for _, p := range []string{"/escape/x", "/escape/sub/x"} {
		mh.Devices = []lxcconv.Device{{Path: p, Type: "c", Major: 1, Minor: 3}}
		mh.CreateContainer = nil
		if err := writeJSON(filepath.Join(dir, mountHookFile+".tmp"), mh); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, mountHookFile+".tmp"), filepath.Join(dir, mountHookFile)); err != nil {
			t.Fatal(err)
		}
		if err := runMountHook(context.Background(), dir, rootfs); err == nil || !strings.Contains(err.Error(), "device "+p) {
			t.Errorf("device through a symlink %s: %v", p, err)
		}
		for _, leak := range []string{"x", "sub"} {
			if _, err := os.Lstat(filepath.Join(dir, leak)); err == nil {
				t.Errorf("%s made outside the rootfs", leak)
			}
		}
	}
	// A node of another kind in the way.
	mh.Devices = []lxcconv.Device{{Path: "/dev/fuse", Type: "b", Major: 10, Minor: 229}}
	if err := writeJSON(filepath.Join(dir, "m2"), mh); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "m2"), filepath.Join(dir, mountHookFile)); err != nil {
		t.Fatal(err)
	}
	if err := runMountHook(context.Background(), dir, rootfs); err == nil || !strings.Contains(err.Error(), "not that device") {
		t.Errorf("other node in the way: %v", err)
	}

	// A failing createContainer hook: its error, in LXC's log too.
	mh.Devices = nil
	mh.CreateContainer = []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo no gpu >&2; exit 4"}}}
	if err := writeJSON(filepath.Join(dir, "m3"), mh); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "m3"), filepath.Join(dir, mountHookFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, lxcDir, "ct"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LXC_HOOK_TYPE", "mount")
	t.Setenv("LXC_CONFIG_FILE", filepath.Join(dir, lxcDir, "ct", configFile))
	t.Setenv("LXC_ROOTFS_MOUNT", rootfs)
	err = RunMountHook(context.Background())
	if err == nil || !strings.Contains(err.Error(), "createContainer hook 0 (/bin/sh)") || !strings.Contains(err.Error(), "no gpu") {
		t.Fatalf("failing hook: %v", err)
	}
	c := &Container{logFile: filepath.Join(dir, logFile)}
	if tail := c.logTail(); !strings.Contains(tail, "createContainer hook 0") || !strings.Contains(tail, "exit status 4") {
		t.Errorf("LXC log tail %q does not carry the hook's failure", tail)
	}
}
