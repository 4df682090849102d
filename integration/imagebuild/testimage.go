package imagebuild

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultTestImageName is the name integration tests import
// MultiLayerTestImage as.
const DefaultTestImageName = "docker.io/zfslxc/test:latest"

// XattrName and XattrValue are the extended attribute MultiLayerTestImage
// sets on /data/xattr.txt.
const (
	XattrName  = "user.zfslxc"
	XattrValue = "yes"
)

// MultiLayerTestImage returns the standard image of the snapshotter
// integration tests, named name (DefaultTestImageName if empty):
//
//   - layer 0 (gzip): BusyboxLayer(busyboxPath);
//   - layer 1 (gzip): /data with keep.txt "keep", gone.txt "gone",
//     dir/inner.txt, opaque/old.txt, a hardlink /data/hard → /data/keep.txt,
//     a symlink /data/link → keep.txt, xattr.txt carrying the xattr
//     user.zfslxc=yes (kept only if the snapshotter's filesystem supports
//     user xattrs: ext4 does, ZFS needs xattr=on or sa), and private.txt
//     (mode 0750, owner 1000:1000);
//   - layer 2 (uncompressed): a whiteout of /data/gone.txt, /data/opaque
//     made opaque with a new file new.txt, and /data/keep.txt rewritten to
//     "kept".
//
// After all layers, /data/hard still reads "keep": layer 2 replaces
// keep.txt with a new file, which breaks the hard link as overlayfs
// copy-up does. MultiLayerExpected describes the result. The image runs
// ENTRYPOINT ["/bin/sh","-c"] CMD ["cat /data/keep.txt"]; change Config
// on the returned Image to run something else.
func MultiLayerTestImage(name, busyboxPath string) (*Image, error) {
	if name == "" {
		name = DefaultTestImageName
	}
	base, err := BusyboxLayer(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("multi-layer test image: %w", err)
	}
	file := func(p, content string) Entry { return Entry{Path: p, Content: []byte(content)} }
	dir := func(p string) Entry { return Entry{Path: p, Type: Dir, Mode: 0o755} }
	data := Layer{Gzip: true, Entries: []Entry{
		dir("/data"),
		file("/data/keep.txt", "keep"),
		file("/data/gone.txt", "gone"),
		dir("/data/dir"),
		file("/data/dir/inner.txt", "inner"),
		dir("/data/opaque"),
		file("/data/opaque/old.txt", "old"),
		{Path: "/data/hard", Type: Hardlink, Linkname: "/data/keep.txt"},
		{Path: "/data/link", Type: Symlink, Linkname: "keep.txt"},
		{Path: "/data/xattr.txt", Content: []byte("xattr"), Xattrs: map[string]string{XattrName: XattrValue}},
		{Path: "/data/private.txt", Content: []byte("private"), Mode: 0o750, UID: 1000, GID: 1000},
	}}
	change := Layer{Entries: []Entry{
		dir("/data"),
		{Path: "/data/gone.txt", Type: Whiteout},
		dir("/data/opaque"),
		{Path: "/data/opaque", Type: OpaqueDir},
		file("/data/opaque/new.txt", "new"),
		file("/data/keep.txt", "kept"),
	}}
	return &Image{
		Name: name,
		Config: ocispec.ImageConfig{
			Entrypoint: []string{"/bin/sh", "-c"},
			Cmd:        []string{"cat /data/keep.txt"},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			WorkingDir: "/",
			StopSignal: "SIGTERM",
		},
		Layers: []Layer{base, data, change},
	}, nil
}

// MultiLayerExpected returns what a container of MultiLayerTestImage sees.
func MultiLayerExpected() Expectation {
	return Expectation{
		Files: map[string]string{
			"/data/keep.txt":       "kept",
			"/data/hard":           "keep",
			"/data/link":           "kept",
			"/data/dir/inner.txt":  "inner",
			"/data/opaque/new.txt": "new",
			"/data/xattr.txt":      "xattr",
			"/data/private.txt":    "private",
		},
		Absent: []string{"/data/gone.txt", "/data/opaque/old.txt"},
		Dirs: map[string][]string{
			"/data":        {"dir", "hard", "keep.txt", "link", "opaque", "private.txt", "xattr.txt"},
			"/data/opaque": {"new.txt"},
		},
		Symlinks: map[string]string{"/data/link": "keep.txt"},
		Modes: map[string]string{
			"/data/private.txt": "750:1000:1000",
			"/tmp":              "1777:0:0",
			"/home/app":         "755:1000:1000",
		},
		Xattrs: map[string]map[string]string{
			"/data/xattr.txt": {XattrName: XattrValue},
		},
	}
}
