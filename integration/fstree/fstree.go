// Package fstree records a directory tree as a comparable description
// (type, mode, owner, size, content digest, link target, xattrs and
// hard-link groups of every entry), so a test can check that two
// snapshotters unpacked the same image to the same tree.
package fstree

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Tree maps a path relative to the root ("/" for the root itself) to the
// description of its entry.
type Tree map[string]string

// Options of Walk.
type Options struct {
	// SkipXattrPrefixes are xattr name prefixes left out: a snapshotter's
	// own bookkeeping, e.g. "trusted.overlay." (overlayfs hides them
	// anyway) or "security.selinux".
	SkipXattrPrefixes []string
}

// Walk describes every entry under root. Hard links are reported as the
// sorted list of the tree's paths that share an inode.
func Walk(root string, opts Options) (Tree, error) {
	tree := Tree{}
	inodes := map[uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = "/" + strings.TrimPrefix(rel, ".")
		rel = strings.ReplaceAll(rel, "//", "/")
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc, err := describe(p, &st, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		tree[rel] = desc
		if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
			inodes[st.Ino] = append(inodes[st.Ino], rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, paths := range inodes {
		if len(paths) < 2 {
			continue
		}
		slices.Sort(paths)
		for _, p := range paths {
			tree[p] += " links=" + strings.Join(paths, ",")
		}
	}
	return tree, nil
}

func describe(p string, st *unix.Stat_t, opts Options) (string, error) {
	var b strings.Builder
	mode := st.Mode & 0o7777
	fmt.Fprintf(&b, "%s %04o %d:%d", kind(st.Mode), mode, st.Uid, st.Gid)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		sum, err := fileDigest(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " size=%d sha256=%s", st.Size, sum)
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " -> %s", target)
	case unix.S_IFCHR, unix.S_IFBLK:
		fmt.Fprintf(&b, " dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	xattrs, err := readXattrs(p, opts.SkipXattrPrefixes)
	if err != nil {
		return "", err
	}
	if len(xattrs) > 0 {
		b.WriteString(" xattrs=" + strings.Join(xattrs, ","))
	}
	return b.String(), nil
}

func kind(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFCHR:
		return "chardev"
	case unix.S_IFBLK:
		return "blockdev"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return fmt.Sprintf("mode(%o)", m)
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readXattrs lists name=value of p's xattrs (not following a symlink),
// sorted.
func readXattrs(p string, skip []string) ([]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("llistxattr: %w", err)
	}
	var out []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" || hasPrefix(name, skip) {
			continue
		}
		val := make([]byte, 4096)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			if errors.Is(err, syscall.ENODATA) {
				continue
			}
			return nil, fmt.Errorf("lgetxattr %s: %w", name, err)
		}
		out = append(out, name+"="+string(val[:m]))
	}
	slices.Sort(out)
	return out, nil
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Diff lists the differences between want and got, one line per path,
// sorted; nil when they are the same.
func Diff(want, got Tree) []string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: missing (want %s)", p, w))
		case g != w:
			out = append(out, fmt.Sprintf("%s: got %s, want %s", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			out = append(out, fmt.Sprintf("%s: unexpected %s", p, g))
		}
	}
	slices.Sort(out)
	return out
}
