package lxcconv

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// busyboxRootfs mirrors the root filesystem of the image the captures in
// testdata/real ran (integration/imagebuild.MultiLayerTestImage on
// BusyboxLayer): applets are symlinks to /bin/busybox, /etc/hosts,
// /etc/hostname and /etc/resolv.conf are empty files, /data holds a
// symlink. Destinations are resolved in it as in the real rootfs.
func busyboxRootfs() fstest.MapFS {
	dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	m := fstest.MapFS{
		"bin/busybox":         {Data: []byte("\x7fELF"), Mode: 0o755},
		"dev":                 dir,
		"etc/passwd":          {Data: []byte("root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		"etc/group":           {Data: []byte("root:x:0:\ndaemon:x:1:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n")},
		"etc/hostname":        {},
		"etc/hosts":           {},
		"etc/resolv.conf":     {},
		"home/app":            dir,
		"proc":                {Mode: fs.ModeDir | 0o555},
		"root":                {Mode: fs.ModeDir | 0o700},
		"sbin":                dir,
		"sys":                 {Mode: fs.ModeDir | 0o555},
		"tmp":                 {Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		"usr/bin":             dir,
		"usr/sbin":            dir,
		"var":                 dir,
		"data/keep.txt":       {Data: []byte("kept")},
		"data/hard":           {Data: []byte("keep")},
		"data/link":           {Data: []byte("keep.txt"), Mode: fs.ModeSymlink | 0o777},
		"data/dir/inner.txt":  {Data: []byte("inner")},
		"data/opaque/new.txt": {Data: []byte("new")},
	}
	for _, a := range []string{"sh", "cat", "sleep", "id", "ls"} {
		m["bin/"+a] = &fstest.MapFile{Data: []byte("busybox"), Mode: fs.ModeSymlink | 0o777}
	}
	return m
}

// realStatHost answers for the host paths the captures bind mount: the
// capture tool's data directory, and nerdctl's per-container
// resolv.conf, hosts and hostname files. Any other path is an error, so
// a new capture with a new kind of source shows up here.
func realStatHost(p string) (bool, error) {
	switch {
	case p == "/tmp/x":
		return true, nil
	case strings.HasPrefix(p, "/var/lib/nerdctl/"):
		switch path.Base(p) {
		case "resolv.conf", "hosts", "hostname":
			return false, nil
		}
	case strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/"):
		// Masked paths not in the converter's own lists: none today.
		return false, nil
	}
	return false, fmt.Errorf("%s: not a path of the fake host in real_test.go: %w", p, fs.ErrNotExist)
}

func realOptions(name string, cgroupVersion int) Options {
	o := goldenOptions(name, cgroupVersion)
	o.RootFS = busyboxRootfs()
	o.StatHost = realStatHost
	return o
}

// TestGoldenReal converts every config.json captured from containerd 1.6
// and 2.4 (ctr and nerdctl, see testdata/real/README.md) and compares the
// result with testdata/golden/real. containerd's own specs must be
// runnable: a refusal fails the test.
func TestGoldenReal(t *testing.T) {
	// (integration/speccapture makes the inputs.)
	goldenCorpus(t, "testdata/real", filepath.Join("testdata", "golden", "real"), realOptions)
}
