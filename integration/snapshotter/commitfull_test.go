package snapshotter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/zfslxc/zfslxc/internal/testpool"
)

// fillPool writes into dir until the pool is full: ENOSPC for a write of
// a new file, twice, with a sync between, so that space held by open
// transaction groups is counted.
func fillPool(t *testing.T, dir string) {
	t.Helper()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8) // not compressible, not zeros
	}
	full := 0
	for i := 0; full < 2; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("fill-%d", i)))
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
				full++
				syscall.Sync()
				continue
			}
			t.Fatal(err)
		}
		for {
			if _, err = f.Write(chunk); err != nil {
				break
			}
		}
		f.Close()
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
			t.Fatalf("filling the pool: %v", err)
		}
		full++
		syscall.Sync()
		if i > 1000 {
			t.Fatal("the pool never filled")
		}
	}
}

// TestCommitPoolFull: a Commit whose `zfs snapshot` cannot be taken
// because the pool is full fails with ResourceExhausted naming the
// snapshot and the space, and commits nothing: the snapshot stays active,
// its dataset keeps no @committed snapshot and is not made read-only, the
// MetaStore and the datasets are as before; once space is freed the same
// Commit works and the layer holds what was written.
func TestCommitPoolFull(t *testing.T) {
	// The smallest pool zfs-fuse takes, so filling it is quick.
	e := setupOn(t, nil, testpool.Options{Size: 128 << 20})
	c := e.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	mounts, err := c.Prepare(ctx, "full-active", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mounts[0].Source, "kept"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	filler := e.Pool.Name + "/filler"
	testpool.ZFS(t, "create", filler)
	fillPool(t, filepath.Join(e.Pool.Mount, "filler"))

	before := e.state(t)
	err = c.Commit(ctx, "full", "full-active")
	t.Logf("commit on a full pool: %v", err)
	if !errdefs.IsResourceExhausted(err) || !strings.Contains(fmt.Sprint(err), `"full-active"`) || !strings.Contains(fmt.Sprint(err), "space") {
		t.Fatalf("commit on a full pool: %v, want ResourceExhausted naming the snapshot and the space", err)
	}
	if after := e.state(t); after != before {
		t.Errorf("the failed commit changed the pool or the MetaStore:\n%s\nwas:\n%s", after, before)
	}
	if info, err := c.Stat(ctx, "full-active"); err != nil || info.Kind != snapshots.KindActive {
		t.Errorf("after the failed commit: %+v, %v; want it still active", info, err)
	}
	list := e.datasets(t)
	if len(list) != 1 || list[0].Committed != "" {
		t.Fatalf("after the failed commit:\n%s\nwant one dataset without @committed", fmtDatasets(list))
	}
	ds := list[0].Name
	for prop, want := range map[string]string{"readonly": "off", "setuid": "on", "devices": "on"} {
		if got, err := e.Pool.Driver.GetProperty(ctx, ds, prop); err != nil || got != want {
			t.Errorf("%s of the active snapshot after the failed commit: %q, %v; want %q", prop, got, err, want)
		}
	}

	// Free the space; it is back once zfs has synced the destroy.
	testpool.ZFS(t, "destroy", "-r", filler)
	deadline := time.Now().Add(time.Minute)
	for {
		u, err := e.Pool.Driver.Usage(ctx, e.Pool.Name)
		if err != nil {
			t.Fatal(err)
		}
		if u.Available > 32<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("space not back a minute after the destroy: %d bytes available", u.Available)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(mounts[0].Source, "after"), []byte("after"), 0o644); err != nil {
		t.Fatalf("the active snapshot is not writable after the failed commit: %v", err)
	}
	if err := c.Commit(ctx, "full", "full-active"); err != nil {
		t.Fatalf("commit after space was freed: %v", err)
	}
	e.assertAgree(t)
	vm, err := c.View(ctx, "full-view", "full")
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := mount.All(vm, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target, 0)
	for name, want := range map[string]string{"kept": "kept", "after": "after"} {
		if got, err := os.ReadFile(filepath.Join(target, name)); err != nil || string(got) != want {
			t.Errorf("%s in the committed layer: %q, %v", name, got, err)
		}
	}
}
