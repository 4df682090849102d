package lxcconv

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DirFS is os.DirFS for an image's root filesystem, which is not trusted:
// Open does not follow a symlink in the last component (ResolveInRoot
// resolves them inside the root first) and does not block on a FIFO. Use
// it for Options.RootFS and ProcessFromImage.
func DirFS(dir string) fs.FS { return dirFS{FS: os.DirFS(dir), dir: dir} }

type dirFS struct {
	fs.FS // os.DirFS(dir): Stat, ReadDir, ReadLink, Lstat
	dir   string
}

// Open opens name with O_NOFOLLOW|O_NONBLOCK.
func (d dirFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := os.OpenFile(filepath.Join(d.dir, filepath.FromSlash(name)), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ReadLink implements fs.ReadLinkFS.
func (d dirFS) ReadLink(name string) (string, error) { return fs.ReadLink(d.FS, name) }

// Lstat implements fs.ReadLinkFS.
func (d dirFS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(d.FS, name) }
