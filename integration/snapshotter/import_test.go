package snapshotter_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// TestImportAndRun imports the 3-layer test image into the snapshotter,
// checks one dataset per layer (a clone chain, each with @committed), runs
// it with runc and checks what the container sees: contents across a
// whiteout and an opaque directory, a hard link, a symlink, modes and
// owners, and (on the host) the xattr.
func TestImportAndRun(t *testing.T) {
	img := multiLayerImage(t)
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.importImage(t, img)

		list := e.datasets(t)
		if len(list) != img.Layers {
			t.Fatalf("want %d datasets (one per layer) under %s, have:\n%s", img.Layers, e.Parent, fmtDatasets(list))
		}
		for i, d := range list {
			if d.Committed == "" {
				t.Errorf("dataset %s has no @committed snapshot", d.Name)
			}
			// Layer i+1 is a clone of layer i: O(1) whatever its size.
			if i == 0 && d.Origin != "" {
				t.Errorf("bottom layer %s is a clone of %s", d.Name, d.Origin)
			}
			if i > 0 && d.Origin != list[i-1].Name+"@committed" {
				t.Errorf("layer %s: origin %q, want %s@committed", d.Name, d.Origin, list[i-1].Name)
			}
		}
		rows := e.ctrSnapshots(t)
		if len(rows) != img.Layers {
			t.Errorf("ctr snapshots ls: want %d snapshots, have %v", img.Layers, rows)
		}
		for _, r := range rows {
			if r.Kind != "Committed" {
				t.Errorf("ctr snapshots ls: %s is %s, want Committed", r.Key, r.Kind)
			}
		}
		infos := e.assertAgree(t)
		e.assertContainerdAgrees(t)
		for key, info := range infos {
			if info.Kind != snapshots.KindCommitted {
				t.Errorf("daemon snapshot %q is %v after import, want committed", key, info.Kind)
			}
		}

		if out := e.D.MustCtr(t, "run", "--rm", "--snapshotter", sn, img.Ref, "default-cmd"); out != "kept" {
			t.Errorf("default command printed %q, want %q", out, "kept")
		}
		want := imagebuild.MultiLayerExpected()
		out := e.runScript(t, img.Ref, "checks", want.Script())
		if err := want.Verify(out); err != nil {
			t.Error(err)
		}
		checkXattrs(t, e, list, want)
		// The containers' snapshots went with --rm; the layers stay.
		e.waitDatasets(t, img.Layers)
	})
}

// checkXattrs looks for the expected xattrs in the layer datasets'
// mountpoints on the host (busybox has no getfattr).
func checkXattrs(t *testing.T, e *env, list []dataset, want imagebuild.Expectation) {
	t.Helper()
	mnt := filepath.Join(e.Sn.Root, "datasets")
	for p, attrs := range want.Xattrs {
		var found string
		for _, d := range list {
			if _, err := os.Lstat(filepath.Join(mnt, d.ID, p)); err == nil {
				found = filepath.Join(mnt, d.ID, p)
			}
		}
		if found == "" {
			t.Errorf("%s not found in any layer dataset under %s", p, mnt)
			continue
		}
		for name, value := range attrs {
			buf := make([]byte, 256)
			n, err := syscall.Getxattr(found, name, buf)
			if errors.Is(err, syscall.ENOTSUP) {
				t.Errorf("getxattr %s: %v: the pool does not store xattrs (zfs-fuse needs --enable-xattr)", found, err)
				continue
			}
			if err != nil {
				t.Errorf("getxattr %s %s: %v", found, name, err)
				continue
			}
			if got := string(buf[:n]); got != value {
				t.Errorf("%s: xattr %s = %q, want %q", p, name, got, value)
			}
		}
	}
}

// TestGarbageCollection removes a container and the image and checks that
// containerd's garbage collection removes every snapshot through the
// proxy: no dataset left under the parent, no snapshot in containerd's
// metadata nor in the daemon's.
func TestGarbageCollection(t *testing.T) {
	img := multiLayerImage(t)
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.importImage(t, img)
		// A container that stays after its task: its active snapshot is a
		// fourth dataset, a clone of the top layer.
		if out := e.D.MustCtr(t, "run", "--snapshotter", sn, img.Ref, "kept"); out != "kept" {
			t.Errorf("run printed %q, want kept", out)
		}
		list := e.waitDatasets(t, img.Layers+1)
		if top := list[len(list)-1]; top.Committed != "" || !strings.HasSuffix(top.Key, "/kept") {
			t.Errorf("container snapshot dataset %s: key %q committed %q, want active snapshot of container kept", top.Name, top.Key, top.Committed)
		}

		// A layer a container's snapshot is cloned from must stay.
		e.D.MustCtr(t, "images", "rm", "--sync", img.Ref)
		e.waitDatasets(t, img.Layers+1)

		e.D.MustCtr(t, "containers", "rm", "kept")
		// Removing the container's snapshot marks the layers unreferenced;
		// the next collection (scheduled by the removal, or forced by a
		// synchronous delete) takes everything.
		e.removeAllImages(t)
		e.waitEmpty(t)
	})
}
