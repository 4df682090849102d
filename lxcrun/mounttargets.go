package lxcrun

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// CreateMountTargets makes the mount points lxcconv left to the runtime
// (Result.MountTargets), in order, before LXC runs. Each component of a
// target's path is opened with O_NOFOLLOW under its host directory (the
// rootfs, or a volume bound earlier), so a symlink planted in a shared
// volume can never lead the creation onto the host, and a symlink swapped
// in afterwards makes LXC's own mount fail (it too refuses symlinks in a
// target path). A missing target inside a read-only mount is refused, as
// runc gets EROFS there.
func CreateMountTargets(targets []lxcconv.MountTarget) error {
	for _, t := range targets {
		if err := createMountTarget(t); err != nil {
			return &lxcconv.FieldError{Field: t.Field, Msg: fmt.Sprintf("%s: %v", t.Dest, err)}
		}
	}
	return nil
}

func createMountTarget(t lxcconv.MountTarget) error {
	comps := strings.Split(t.Path, "/")
	if t.Path == "" || path.Clean(t.Path) != t.Path || strings.HasPrefix(t.Path, "/") || comps[0] == ".." {
		return fmt.Errorf("target path %q is not clean and relative", t.Path)
	}
	fd, err := unix.Open(t.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", t.Root, err)
	}
	defer func() { unix.Close(fd) }()
	for i, comp := range comps {
		last := i == len(comps)-1
		where := path.Join(t.Root, path.Join(comps[:i+1]...))
		var st unix.Stat_t
		err := unix.Fstatat(fd, comp, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case errors.Is(err, unix.ENOENT):
			if t.ReadOnly {
				return fmt.Errorf("%s does not exist and the mount holding it is read-only", where)
			}
			if last && !t.Dir {
				f, err := unix.Openat(fd, comp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
				if err != nil {
					return fmt.Errorf("creating %s: %w", where, err)
				}
				return unix.Close(f)
			}
			if err := unix.Mkdirat(fd, comp, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("creating %s: %w", where, err)
			}
		case err != nil:
			return fmt.Errorf("%s: %w", where, err)
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			return fmt.Errorf("%s is a symlink: mount targets are never created through one", where)
		case last && !t.Dir:
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				return fmt.Errorf("%s is a directory and the source is a file", where)
			}
			return nil
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			return fmt.Errorf("%s is not a directory", where)
		}
		next, err := unix.Openat(fd, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", where, err)
		}
		unix.Close(fd)
		fd = next
	}
	return nil
}
