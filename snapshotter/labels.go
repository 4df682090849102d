package snapshotter

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
)

// validateKey refuses an empty key or committed name: bbolt refuses it
// without an errdefs class ("bucket name required"), which reaches
// containerd as Unknown. what names it in the error ("snapshot key",
// "committed name"). Length is not capped: bbolt takes a bucket name of
// any size, and the dataset's io.zfslxc:key is cut (ondisk.KeyProp).
func validateKey(what, key string) error {
	if key == "" {
		return fmt.Errorf("%s is empty: %w", what, errdefs.ErrInvalidArgument)
	}
	return nil
}

// validateLabels runs containerd's own check of a label (key and value
// together at most 4096 bytes, pkg/labels), which containerd's metadata
// store runs in front of every snapshotter but a client of the socket
// skips, and refuses an empty key, which bbolt cannot store (a label
// with an empty value is dropped, as containerd drops it).
func validateLabels(l map[string]string) error {
	for k, v := range l {
		if k == "" && v != "" {
			return fmt.Errorf("label with an empty key (value %q): %w", v, errdefs.ErrInvalidArgument)
		}
		if err := labels.Validate(k, v); err != nil {
			return fmt.Errorf("label: %w", err)
		}
	}
	return nil
}

// parseQuota reads a quota label: a byte count ("1073741824") or a size
// with a binary unit ("10G", "512MiB", "1.5g"). Zero means no quota.
func parseQuota(v string) (uint64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, fmt.Errorf("empty size")
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return n, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size (want bytes or a size like 10G)")
	}
	return uint64(n), nil
}

// compressionValues are the values of the ZFS compression property that
// both zfs-fuse and OpenZFS take; OpenZFS adds lz4 and zstd.
var compressionValues = map[string]bool{
	"on": true, "off": true, "lzjb": true, "zle": true, "gzip": true, "lz4": true, "zstd": true,
}

func validateCompression(v string) error {
	if compressionValues[v] {
		return nil
	}
	for _, prefix := range []string{"gzip-", "zstd-", "zstd-fast-"} {
		if rest, ok := strings.CutPrefix(v, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= 1000 {
				return nil
			}
		}
	}
	return fmt.Errorf("not a ZFS compression (on, off, lz4, zstd, gzip, gzip-1…9, zle, lzjb)")
}

// validateRecordsize accepts a power of two from 512 bytes to 1 MiB.
func validateRecordsize(v string) (uint64, error) {
	n, err := parseQuota(v)
	if err != nil || n < 512 || n > 1<<20 || n&(n-1) != 0 {
		return 0, fmt.Errorf("not a power of two from 512 to 1M")
	}
	return n, nil
}
