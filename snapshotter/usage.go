package snapshotter

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// countInodes returns the number of inodes in the filesystem at mnt. Kernel
// OpenZFS reports a dataset's object count through statfs; zfs-fuse's statfs
// numbers are the pool's and meaningless per dataset, so there the tree is
// walked (hard links counted once).
func countInodes(ctx context.Context, mnt string, statfsExact bool) (int64, error) {
	if statfsExact {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil {
			return 0, err
		}
		return int64(st.Files - st.Ffree), nil
	}
	seen := make(map[uint64]struct{})
	err := filepath.WalkDir(mnt, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			seen[st.Ino] = struct{}{}
		}
		return nil
	})
	return int64(len(seen)), err
}
