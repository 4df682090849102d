package lxcrun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// makeDevices creates the spec's extra device nodes (Result.Devices). It
// runs in the container's mount namespace (inMountNamespace), whose root
// is the container's: a symlink on the way resolves inside the container.
// A path that exists already is kept, as runc does (autodev's nodes, a
// bind of the host's node).
func makeDevices(devs []lxcconv.Device) error {
	for _, d := range devs {
		if err := makeDevice(d); err != nil {
			return fmt.Errorf("linux.devices: %s: %w", d.Path, err)
		}
	}
	return nil
}

func makeDevice(d lxcconv.Device) error {
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("unknown device type %q", d.Type)
	}
	perm := fs.FileMode(0o666)
	if d.FileMode != nil {
		perm = *d.FileMode & fs.ModePerm
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o755); err != nil {
		return err
	}
	dev := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
	if err := unix.Mknod(d.Path, typ|uint32(perm), int(dev)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return fmt.Errorf("mknod: %w", err)
	}
	// mknod(2) applies the umask.
	if err := unix.Fchmodat(unix.AT_FDCWD, d.Path, uint32(perm), 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Lchown(d.Path, uid, gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}
