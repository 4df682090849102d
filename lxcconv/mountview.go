package lxcconv

import (
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// MountTarget is a mount point the runtime must create before LXC runs,
// because it lies on a host directory: the rootfs or the source of an
// earlier bind mount. LXC's create=dir/create=file would make it with
// mkdir -p on the host path, following a symlink planted in a shared
// volume out of the container (the runc CVE-2021-30465 class), so entries
// for these targets carry no create= option. The runtime creates the
// missing components of Path under Root one by one, refusing symlinks
// (lxcrun does, with O_NOFOLLOW), and LXC's own mount refuses a symlink
// swapped in afterwards. Targets on a fresh kernel filesystem (the /dev
// tmpfs of lxc.autodev, a tmpfs from the spec) keep create=: nothing but
// earlier entries writes there.
type MountTarget struct {
	// Field names the mount, for errors: "mounts[3].destination".
	Field string
	// Dest is the destination as resolved in the container's view
	// (absolute, symlink-free when it was resolved).
	Dest string
	// Root is the host directory holding the target.
	Root string
	// Path is the target relative to Root, a clean slash path, never "".
	Path string
	// Dir: create a directory; else an empty file (a bind of a file).
	Dir bool
	// ReadOnly: Root is mounted read-only in the container (an earlier
	// "ro" bind), so a missing target is refused, as runc gets EROFS.
	ReadOnly bool
}

// viewMount is one mount of the container's view: a host path bound at
// dest, or a fresh kernel filesystem (host == "").
type viewMount struct {
	dest  string // clean slash path relative to the container's root
	host  string // bound host path; "" for tmpfs, proc, sysfs...
	field string
	ro    bool
	file  bool // a bind of a file: nothing can be mounted below it
}

// mountView is the container's file tree as LXC will have mounted it when
// it reaches a mount entry: the rootfs with the earlier mounts on top. It
// is an fs.FS (with Lstat and ReadLink) for ResolveInRoot, so that a
// destination crossing a symlink inside an earlier bind mount resolves as
// it would in the container, not on the host.
type mountView struct {
	rootHost string
	rootFS   fs.FS // nil: nothing is known to exist
	hostFS   fs.FS // nil: bind mounts' contents are unknown
	mounts   []viewMount
}

// holder returns the deepest mount holding p (nil for the rootfs) and p
// relative to it.
func (v *mountView) holder(p string) (*viewMount, string) {
	for i := len(v.mounts) - 1; i >= 0; i-- {
		m := &v.mounts[i]
		if p == m.dest {
			return m, ""
		}
		if rel, ok := strings.CutPrefix(p, m.dest+"/"); ok {
			return m, rel
		}
	}
	return nil, p
}

// lookup maps p to the file system that holds it and the name there; a
// nil fs means the file does not exist (a fresh kernel filesystem, or
// contents unknown).
func (v *mountView) lookup(p string) (fs.FS, string, *viewMount) {
	m, rel := v.holder(p)
	if m == nil {
		if rel == "" {
			rel = "."
		}
		return v.rootFS, rel, nil
	}
	if m.host == "" || v.hostFS == nil {
		return nil, "", m
	}
	name := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(m.host)), "/")
	if name == "" {
		name = "."
	}
	if rel != "" {
		name = path.Join(name, rel)
	}
	return v.hostFS, name, m
}

func (v *mountView) stat(op, name string, follow bool) (fs.FileInfo, error) {
	fsys, n, m := v.lookup(name)
	if m != nil && name == m.dest {
		// A mount point: what is mounted there (the source, symlinks
		// followed, as mount(2) does).
		if fsys == nil {
			return dirInfo(path.Base(name)), nil
		}
		return fs.Stat(fsys, n)
	}
	if fsys == nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if follow {
		return fs.Stat(fsys, n)
	}
	return fs.Lstat(fsys, n)
}

// Open implements fs.FS (ResolveInRoot needs only Lstat and ReadLink).
func (v *mountView) Open(name string) (fs.File, error) {
	fsys, n, _ := v.lookup(name)
	if fsys == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return fsys.Open(n)
}

// Lstat implements fs.ReadLinkFS.
func (v *mountView) Lstat(name string) (fs.FileInfo, error) { return v.stat("lstat", name, false) }

// ReadLink implements fs.ReadLinkFS.
func (v *mountView) ReadLink(name string) (string, error) {
	fsys, n, m := v.lookup(name)
	if fsys == nil || (m != nil && name == m.dest) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return fs.ReadLink(fsys, n)
}

// dirInfo is the FileInfo of a directory whose contents are not known.
type dirInfo string

func (d dirInfo) Name() string       { return string(d) }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o755 }
func (d dirInfo) ModTime() time.Time { return time.Time{} }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }
