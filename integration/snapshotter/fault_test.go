package snapshotter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// TestKillDuringImport kills the daemon with SIGKILL while containerd
// unpacks a large layer into it, starts it again (it runs Cleanup at
// start), imports again and runs the image; then checks that the pool and
// the daemon's MetaStore agree, and that the garbage collection still
// removes everything, the crash's leftovers included.
func TestKillDuringImport(t *testing.T) {
	img := largeImage(t, "large", largeImageSize)
	forEachFlavor(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, _, err := e.D.CtrContext(ctx, "images", "import", "--snapshotter", sn, img.Tar)
			done <- err
		}()
		// The busybox layer is committed in no time; the kill lands while
		// the second layer's dataset (a clone of the first) fills up.
		var importErr error
		imported := false
	wait:
		for {
			select {
			case importErr = <-done:
				imported = true
				break wait
			default:
			}
			if len(e.datasets(t)) >= 2 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.Sn.Kill9(t)
		if !imported {
			importErr = <-done
		}
		if importErr == nil {
			t.Logf("the import finished before the kill; the restart still has to cope")
		} else {
			t.Logf("import with the daemon killed: %v", errLines(importErr.Error()))
		}
		t.Logf("datasets after the kill:\n%s", fmtDatasets(e.datasets(t)))

		e.Sn.Start(t)
		e.waitReconnect(t)
		e.assertAgree(t)

		e.importImage(t, img)
		if out := e.D.MustCtr(t, "run", "--rm", "--snapshotter", sn, img.Ref, "big"); strings.TrimSpace(out) != fmt.Sprint(largeImageSize) {
			t.Errorf("size of /big/blob.bin in the container: %q, want %d", out, largeImageSize)
		}
		infos := e.assertAgree(t)
		// The import changed containerd's references into the
		// snapshotter, so its collection also removed what the killed
		// import left in the daemon.
		e.assertContainerdAgrees(t)
		committed := 0
		for _, info := range infos {
			if info.Kind == snapshots.KindCommitted {
				committed++
			}
		}
		if committed != img.Layers {
			t.Errorf("want %d committed snapshots after the re-import, have %d: %v", img.Layers, committed, sortedKeys(infos))
		}

		// A graceful restart runs Cleanup again; nothing may change.
		e.Sn.Restart(t)
		e.waitReconnect(t)
		e.assertAgree(t)
		e.assertContainerdAgrees(t)

		e.removeAllImages(t)
		e.waitEmpty(t)
	})
}

// TestSnapshotterRestart stops the daemon with SIGTERM and starts it again
// while containerd keeps running: containerd reconnects, lists the
// snapshots and runs a new container on them.
func TestSnapshotterRestart(t *testing.T) {
	img := multiLayerImage(t)
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.importImage(t, img)
		before := e.ctrSnapshots(t)

		e.Sn.Restart(t)
		after := e.waitReconnect(t)
		if fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("snapshots after the restart:\n%v\nbefore:\n%v", after, before)
		}
		want := imagebuild.MultiLayerExpected()
		if err := want.Verify(e.runScript(t, img.Ref, "after-restart", want.Script())); err != nil {
			t.Error(err)
		}
		if log := e.Sn.Log(); !strings.Contains(log, "stopping on signal") {
			t.Errorf("the daemon did not log a graceful stop:\n%s", e.Sn.LogTail(20))
		}
		e.assertAgree(t)
		e.assertContainerdAgrees(t)
	})
}

// errLines drops ctr's deprecation warnings (2.x on cgroup v1) from an
// error message, for the test log.
func errLines(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.Contains(line, "DEPRECATION") && strings.TrimSpace(line) != "" {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// TestCleanupOrphans leaves datasets without metadata under the parent,
// as a crash between a dataset's creation and the metadata commit does
// (also before the first snapshot ever), and checks that the daemon's
// startup Cleanup destroys them and leaves datasets that are not
// snapshot datasets alone.
func TestCleanupOrphans(t *testing.T) {
	e := setup(t, nil)
	if log := e.Sn.Log(); strings.Contains(log, "cleanup failed") {
		t.Errorf("cleanup of a fresh daemon failed:\n%s", e.Sn.LogTail(20))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	zfs := e.Pool.Driver
	for _, round := range []string{"empty-metastore", "with-snapshots"} {
		t.Run(round, func(t *testing.T) {
			e.Sn.Stop(t)
			orphan, mine := e.Parent+"/77", e.Parent+"/not-a-snapshot"
			for _, ds := range []string{orphan, mine} {
				if err := zfs.Create(ctx, ds, zfsdriver.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := zfs.Snapshot(ctx, []string{orphan + "@committed"}, zfsdriver.SnapshotOptions{}); err != nil {
				t.Fatal(err)
			}
			e.Sn.Start(t)
			if ok, err := zfs.Exists(ctx, orphan); err != nil || ok {
				t.Errorf("orphan %s still there after the startup cleanup (%v):\n%s", orphan, err, e.Sn.LogTail(20))
			}
			if ok, err := zfs.Exists(ctx, mine); err != nil || !ok {
				t.Errorf("%s, not a snapshot dataset, was destroyed (%v)", mine, err)
			}
			if err := zfs.Destroy(ctx, mine, zfsdriver.DestroyOptions{}); err != nil {
				t.Fatal(err)
			}
			e.assertAgree(t)
			// The next round starts with a snapshot in the MetaStore.
			if _, err := e.client(t).Prepare(ctx, "keep-"+round, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestKillAfterImportSealsLayers kills the daemon with SIGKILL as soon as
// an import returns, when the read-only seal of the last committed layers
// (which runs after Commit, see docs/snapshotter.md) is most likely still
// pending, starts it again, and checks that every committed layer's
// dataset is read-only before the daemon serves, that the pool and the
// MetaStore agree, and that the image still runs.
func TestKillAfterImportSealsLayers(t *testing.T) {
	img := multiLayerImage(t)
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.importImage(t, img)
		// containerd hands the unpacker's keys over as
		// NAMESPACE/TXID/extract-…: the layers must still take the unpack
		// path (host-only properties given at create/clone, readonly=on
		// sealed after Commit), not a `zfs set` per property at Commit.
		if log := e.Sn.Log(); !strings.Contains(log, "-o setuid=off") || strings.Contains(log, " set setuid=off ") {
			t.Errorf("the import's layers did not take the unpack path (want `-o setuid=off` at create/clone, no `zfs set setuid=off`):\n%s", e.Sn.LogTail(30))
		}
		e.Sn.Kill9(t)
		e.Sn.Start(t)
		if !strings.Contains(e.Sn.Log(), "did not stop cleanly") {
			t.Errorf("the restart after a kill did not seal the committed datasets:\n%s", e.Sn.LogTail(20))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		committed := 0
		for _, d := range e.datasets(t) {
			if d.Committed == "" {
				continue
			}
			committed++
			mp, err := e.Pool.Driver.GetProperty(ctx, d.Name, "mountpoint")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(mp, "written-after-restart"), []byte("x"), 0o644); err == nil {
				t.Errorf("committed layer %s (%s) is writable after the restart", d.Name, d.Committed)
			}
		}
		if committed != img.Layers {
			t.Errorf("%d committed layers, want %d", committed, img.Layers)
		}
		e.waitReconnect(t)
		e.assertAgree(t)
		want := imagebuild.MultiLayerExpected()
		if err := want.Verify(e.runScript(t, img.Ref, "after-kill", want.Script())); err != nil {
			t.Error(err)
		}
		e.removeAllImages(t)
		e.waitEmpty(t)
	})
}
