// Package ondisk is the snapshotter's on-disk contract: how it names its
// datasets and snapshots and which user properties it writes on them.
// The snapshotter writes these names; `zfslxc template` (which clones a
// committed layer instead of unpacking it again) and `zfslxc gc` read them.
// It imports nothing of the snapshotter, so a tool reads the contract
// without linking the daemon.
//
// Layout under the parent dataset (e.g. tank/zfslxc, marked PropManaged
// when the snapshotter created it):
//
//	<parent>/<id>             one dataset per snapshot; <id> is the
//	                          MetaStore's decimal snapshot id
//	<parent>/<id>@committed   taken by Commit; children are clones of it
//
// Both carry PropKey: the containerd key of the snapshot (on @committed,
// the committed name), URL path-escaped.
package ondisk

import (
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Names and user properties.
const (
	// CommittedSnapshot is the name of the snapshot Commit takes.
	CommittedSnapshot = "committed"
	// PropKey records the containerd key of a dataset (and the committed
	// name on its @committed snapshot), URL path-escaped (KeyProp).
	PropKey = "io.zfslxc:key"
	// PropManaged marks a parent dataset the snapshotter created itself.
	PropManaged = "io.zfslxc:managed"
	// maxKeyProp caps a PropKey value (OpenZFS's property limit is 8 KiB;
	// longer keys are cut, they are for people and logs only).
	maxKeyProp = 4096
)

// ParentMountpoint is where the snapshotter mounts a parent dataset it
// creates when no mountpoint is configured: <root>/datasets. Each snapshot
// dataset is mounted below it at <id>.
func ParentMountpoint(root string) string { return filepath.Join(root, "datasets") }

// CleanStopMark is the file in the snapshotter's root that says its last
// run closed cleanly, every committed dataset made read-only; a start
// without it makes them all read-only first (see docs/snapshotter.md).
func CleanStopMark(root string) string { return filepath.Join(root, "closed-cleanly") }

// Dataset is the dataset of snapshot id under parent.
func Dataset(parent, id string) string { return parent + "/" + id }

// Committed is the committed snapshot of a snapshot dataset.
func Committed(dataset string) string { return dataset + "@" + CommittedSnapshot }

// IsID reports whether name (the last component of a dataset under the
// parent) is a snapshot id. Datasets with other names are not the
// snapshotter's, and it never touches them.
func IsID(name string) bool {
	_, err := strconv.ParseUint(name, 10, 64)
	return err == nil
}

// ParseCommitted splits "<parent>/<id>@committed" into the parent and the
// id; ok is false for any other name.
func ParseCommitted(name string) (parent string, id uint64, ok bool) {
	ds, snap, found := strings.Cut(name, "@")
	if !found || snap != CommittedSnapshot {
		return "", 0, false
	}
	i := strings.LastIndexByte(ds, '/')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(ds[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return ds[:i], n, true
}

// KeyProp is the PropKey value of a containerd key: URL path-escaped, so
// any key (spaces, newlines, '%') fits a zfs property, and cut at 4 KiB.
func KeyProp(key string) string {
	v := url.PathEscape(key)
	if len(v) > maxKeyProp {
		v = v[:maxKeyProp] + "..."
	}
	return v
}

// ParseKeyProp returns the containerd key a PropKey value records.
func ParseKeyProp(v string) (string, error) {
	return url.PathUnescape(v)
}
