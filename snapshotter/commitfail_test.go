package snapshotter_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// TestFailedCommitTakesItsStepsBack: a Commit whose `zfs snapshot` is
// taken but whose `zfs set` of the committed layer's properties then
// fails (a pool that fills between the two: on zfs-fuse both answer "out
// of space", see integration/snapshotter TestCommitPoolFull) leaves the
// snapshot active as it was: no @committed, writable, setuid and devices
// as before; the next Commit works. zfs-fuse sets one property per
// command (devices, readonly, setuid in turn), so the failure comes after
// readonly=on was set. Found: the metadata rolled back to active, but the
// dataset kept @committed and readonly=on, so the active snapshot refused
// writes (EROFS).
func TestFailedCommitTakesItsStepsBack(t *testing.T) {
	var failSet atomic.Bool
	f := newFixtureWithRunner(t, func(ctx context.Context, path string, args []string) ([]byte, []byte, int, error) {
		if failSet.Load() && len(args) > 0 && args[0] == "set" && slices.Contains(args, "setuid=off") {
			return nil, []byte("cannot set property for '" + args[len(args)-1] + "': out of space\n"), 1, nil
		}
		return zfsdriver.ExecRunner(ctx, path, args)
	})
	m, err := f.sn.Prepare(f.ctx, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	ds := f.parent + "/" + lastID(t, f)
	before := map[string]string{}
	for _, prop := range []string{"readonly", "setuid", "devices"} {
		if before[prop], err = f.zfs.GetProperty(f.ctx, ds, prop); err != nil {
			t.Fatal(err)
		}
	}

	failSet.Store(true)
	err = f.sn.Commit(f.ctx, "c", "a")
	failSet.Store(false)
	t.Logf("commit whose zfs set fails: %v", err)
	if !errdefs.IsResourceExhausted(err) {
		t.Fatalf("commit: %v, want ResourceExhausted", err)
	}
	if info, err := f.sn.Stat(f.ctx, "a"); err != nil || info.Kind != snapshots.KindActive {
		t.Errorf("after the failed commit: %+v, %v; want active", info, err)
	}
	if ok, err := f.zfs.Exists(f.ctx, ondisk.Committed(ds)); err != nil || ok {
		t.Errorf("%s after the failed commit: exists %v, %v", ondisk.Committed(ds), ok, err)
	}
	for prop, want := range before {
		if got, err := f.zfs.GetProperty(f.ctx, ds, prop); err != nil || got != want {
			t.Errorf("%s after the failed commit: %q, %v; want %q as before", prop, got, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(source(t, m), "after"), []byte("x"), 0o644); err != nil {
		t.Errorf("the active snapshot refuses writes after the failed commit: %v", err)
	}

	if err := f.sn.Commit(f.ctx, "c", "a"); err != nil {
		t.Fatalf("commit again: %v", err)
	}
	if ok, err := f.zfs.Exists(f.ctx, ondisk.Committed(ds)); err != nil || !ok {
		t.Errorf("%s after the second commit: exists %v, %v", ondisk.Committed(ds), ok, err)
	}
	if got, _ := f.zfs.GetProperty(f.ctx, ds, "setuid"); got != "off" {
		t.Errorf("setuid of the committed layer: %q, want off", got)
	}
}
