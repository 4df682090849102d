package lxcrun_test

import (
	"io/fs"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestDevices: linux.devices (ctr run --device, --privileged) are created
// in the container before the process runs, with the spec's numbers,
// mode and owner, at any path; the device cgroup decides access. They
// were refused ("needs Options.HookCommand").
func TestDevices(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	spec := baseSpec(rootfs, "sh", "-c",
		`stat -c '%n %F %t:%T %a %u:%g' /dev/fuse /opt/dev/null2 /dev/null; echo x > /opt/dev/null2 && echo writable; `+
			`(echo x > /dev/fuse) 2>/dev/null; echo fuse-write=$?`)
	mode := fs.FileMode(0o600)
	uid, gid := uint32(1000), uint32(44)
	spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229},
		{Path: "/opt/dev/null2", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &uid, GID: &gid},
		{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}, // autodev's, kept
	}
	// As containerd: deny all, then the defaults; /dev/fuse not allowed
	// for writing, so only the node exists.
	spec.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(10)), Minor: ptr(int64(229)), Access: "m"},
	}}
	b := create(t, spec, "", false)
	b.release(t)
	if st := b.wait(t); st != (lxcrun.Status{}) {
		t.Errorf("status %v; stderr %q", st, b.stderr.String())
	}
	want := "/dev/fuse character special file a:e5 666 0:0\n" +
		"/opt/dev/null2 character special file 1:3 600 1000:44\n" +
		"/dev/null character special file 1:3 666 0:0\n" +
		"writable\nfuse-write=1\n"
	if got := b.stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s\nstderr %q", got, want, b.stderr.String())
	}
}

func ptr[T any](v T) *T { return &v }
