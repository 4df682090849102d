package zfsdriver_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// These tests run every driver operation against a real pool (zfs-fuse
// here, kernel OpenZFS where loaded). They share one pool; each works
// under its own dataset.

func setup(t *testing.T) (*zfsdriver.Driver, string, context.Context) {
	t.Helper()
	p := testpool.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return p.Driver, p.Name, ctx
}

func mountpoint(t *testing.T, ctx context.Context, d *zfsdriver.Driver, name string) string {
	t.Helper()
	mp, err := d.GetProperty(ctx, name, "mountpoint")
	if err != nil {
		t.Fatal(err)
	}
	return mp
}

func mustExist(t *testing.T, ctx context.Context, d *zfsdriver.Driver, name string, want bool) {
	t.Helper()
	ok, err := d.Exists(ctx, name)
	if err != nil {
		t.Fatalf("exists %s: %v", name, err)
	}
	if ok != want {
		t.Fatalf("exists %s = %v, want %v", name, ok, want)
	}
}

func TestRealPool(t *testing.T) {
	d, pool, ctx := setup(t)
	t.Logf("zfs: %+v", d.Capabilities())

	t.Run("create get set inherit", func(t *testing.T) {
		ds := pool + "/props"
		err := d.Create(ctx, ds, zfsdriver.CreateOptions{Properties: map[string]string{
			"io.zfslxc:key": "default/7/sha256:abc = x", "refquota": "64M", "com.sun:auto-snapshot": "false",
		}})
		if err != nil {
			t.Fatal(err)
		}
		mustExist(t, ctx, d, ds, true)
		props, err := d.Get(ctx, ds, "io.zfslxc:key", "refquota", "com.sun:auto-snapshot", "io.zfslxc:unset")
		if err != nil {
			t.Fatal(err)
		}
		if v := props["io.zfslxc:key"]; v.Value != "default/7/sha256:abc = x" || v.Source != "local" {
			t.Errorf("user property = %+v", v)
		}
		if v := props["refquota"].Value; v != "67108864" {
			t.Errorf("refquota = %q, want exact 67108864", v)
		}
		if props["io.zfslxc:unset"].IsSet() {
			t.Errorf("unset user property reads as set: %+v", props["io.zfslxc:unset"])
		}
		if err := d.Set(ctx, ds, map[string]string{"io.zfslxc:a": "1", "io.zfslxc:b": "2", "atime": "off"}); err != nil {
			t.Fatal(err)
		}
		if v, _ := d.GetProperty(ctx, ds, "io.zfslxc:b"); v != "2" {
			t.Errorf("io.zfslxc:b = %q", v)
		}
		if err := d.Inherit(ctx, ds, "io.zfslxc:a"); err != nil {
			t.Fatal(err)
		}
		if v, _ := d.GetProperty(ctx, ds, "io.zfslxc:a"); v != "-" {
			t.Errorf("inherited user property = %q, want -", v)
		}
		err = d.Set(ctx, ds, map[string]string{"refquota": "lots"})
		if !errors.Is(err, zfsdriver.ErrInvalidProperty) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("bad refquota: err = %v, want ErrInvalidProperty", err)
		}
		if err := d.Create(ctx, ds, zfsdriver.CreateOptions{}); !errors.Is(err, zfsdriver.ErrExists) {
			t.Errorf("create twice: err = %v, want ErrExists", err)
		}
		if err := d.Create(ctx, pool+"/no/such/parent", zfsdriver.CreateOptions{}); !errors.Is(err, zfsdriver.ErrParentNotFound) {
			t.Errorf("create without parent: err = %v, want ErrParentNotFound", err)
		}
		if err := d.Create(ctx, pool+"/made/with/parents", zfsdriver.CreateOptions{Parents: true}); err != nil {
			t.Errorf("create -p: %v", err)
		}
		if _, err := d.Get(ctx, pool+"/missing", "used"); !zfsdriver.IsNotFound(err) {
			t.Errorf("get of missing: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("snapshot clone destroy", func(t *testing.T) {
		a, b := pool+"/snapA", pool+"/snapB"
		for _, ds := range []string{a, b} {
			if err := d.Create(ctx, ds, zfsdriver.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(mountpoint(t, ctx, d, a), "f"), []byte("layer"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.Snapshot(ctx, []string{a + "@committed", b + "@committed"}, zfsdriver.SnapshotOptions{}); err != nil {
			t.Fatal(err)
		}
		if snaps, err := d.Snapshots(ctx, a); err != nil || !slices.Equal(snaps, []string{a + "@committed"}) {
			t.Fatalf("snapshots of %s = %q, %v", a, snaps, err)
		}
		if err := d.Snapshot(ctx, []string{a + "@committed"}, zfsdriver.SnapshotOptions{}); !errors.Is(err, zfsdriver.ErrExists) {
			t.Errorf("snapshot twice: err = %v, want ErrExists", err)
		}
		clone := pool + "/clone"
		if err := d.Clone(ctx, a+"@committed", clone, zfsdriver.CloneOptions{Properties: map[string]string{"io.zfslxc:key": "k1"}}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(mountpoint(t, ctx, d, clone), "f"))
		if err != nil || string(got) != "layer" {
			t.Fatalf("clone content = %q, %v", got, err)
		}
		list, err := d.List(ctx, clone, zfsdriver.ListOptions{})
		if err != nil || len(list) != 1 || list[0].Origin != a+"@committed" || !list[0].Mounted || list[0].Type != zfsdriver.Filesystem {
			t.Fatalf("list clone = %+v, %v", list, err)
		}
		if err := d.Clone(ctx, a+"@nope", pool+"/clone2", zfsdriver.CloneOptions{}); !zfsdriver.IsNotFound(err) || !errdefs.IsNotFound(err) {
			t.Errorf("clone of missing snapshot: err = %v, want ErrNotFound", err)
		}
		mustExist(t, ctx, d, pool+"/clone2", false)

		err = d.Destroy(ctx, a+"@committed", zfsdriver.DestroyOptions{})
		if !errors.Is(err, zfsdriver.ErrHasDependents) || !errdefs.IsFailedPrecondition(err) {
			t.Errorf("destroy of cloned snapshot: err = %v, want ErrHasDependents", err)
		}
		if err := d.Destroy(ctx, a, zfsdriver.DestroyOptions{}); !errors.Is(err, zfsdriver.ErrHasChildren) {
			t.Errorf("destroy with snapshot: err = %v, want ErrHasChildren", err)
		}
		// Deferred destroy: the snapshot goes when its last clone does.
		if err := d.Destroy(ctx, a+"@committed", zfsdriver.DestroyOptions{Defer: true}); err != nil {
			t.Fatalf("deferred destroy: %v", err)
		}
		if err := d.Destroy(ctx, clone, zfsdriver.DestroyOptions{}); err != nil {
			t.Fatal(err)
		}
		mustExist(t, ctx, d, a+"@committed", false)
		if err := d.Destroy(ctx, clone, zfsdriver.DestroyOptions{}); !zfsdriver.IsNotFound(err) {
			t.Errorf("destroy of missing: err = %v, want ErrNotFound", err)
		}
		if err := d.Destroy(ctx, b, zfsdriver.DestroyOptions{Recursive: true}); err != nil {
			t.Fatalf("recursive destroy: %v", err)
		}
		mustExist(t, ctx, d, b, false)
	})

	t.Run("rollback promote rename", func(t *testing.T) {
		ds := pool + "/rb"
		if err := d.Create(ctx, ds, zfsdriver.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(mountpoint(t, ctx, d, ds), "f")
		if err := os.WriteFile(f, []byte("v1"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.Snapshot(ctx, []string{ds + "@one"}, zfsdriver.SnapshotOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("v2"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.Snapshot(ctx, []string{ds + "@two"}, zfsdriver.SnapshotOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := d.Rollback(ctx, ds+"@one", zfsdriver.RollbackOptions{}); err == nil {
			t.Fatal("rollback past a newer snapshot without DestroyLater succeeded")
		}
		if err := d.Rollback(ctx, ds+"@one", zfsdriver.RollbackOptions{DestroyLater: true}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(f); string(got) != "v1" {
			t.Errorf("after rollback: %q, want v1", got)
		}
		mustExist(t, ctx, d, ds+"@two", false)
		if err := d.Rollback(ctx, ds+"@nope", zfsdriver.RollbackOptions{}); !zfsdriver.IsNotFound(err) {
			t.Errorf("rollback to missing: err = %v", err)
		}

		clone := pool + "/rbclone"
		if err := d.Clone(ctx, ds+"@one", clone, zfsdriver.CloneOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := d.Promote(ctx, ds); !errors.Is(err, zfsdriver.ErrNotClone) {
			t.Errorf("promote of non-clone: err = %v, want ErrNotClone", err)
		}
		if err := d.Promote(ctx, clone); err != nil {
			t.Fatal(err)
		}
		if origin, _ := d.GetProperty(ctx, ds, "origin"); origin != clone+"@one" {
			t.Errorf("after promote, origin of %s = %q, want %s@one", ds, origin, clone)
		}
		renamed := pool + "/rbrenamed"
		if err := d.Rename(ctx, ds, renamed); err != nil {
			t.Fatal(err)
		}
		mustExist(t, ctx, d, renamed, true)
		mustExist(t, ctx, d, ds, false)
		if err := d.Rename(ctx, clone+"@one", clone+"@uno"); err != nil {
			t.Fatalf("rename snapshot: %v", err)
		}
		if err := d.Rename(ctx, pool+"/missing", pool+"/x"); !zfsdriver.IsNotFound(err) {
			t.Errorf("rename missing: err = %v", err)
		}
	})

	t.Run("mount unmount readonly usage", func(t *testing.T) {
		ds := pool + "/mnt"
		if err := d.Create(ctx, ds, zfsdriver.CreateOptions{Properties: map[string]string{"refquota": "32M"}}); err != nil {
			t.Fatal(err)
		}
		mp := mountpoint(t, ctx, d, ds)
		if err := os.WriteFile(filepath.Join(mp, "data"), bytes.Repeat([]byte{7}, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.Unmount(ctx, ds, false); err != nil {
			t.Fatal(err)
		}
		if err := d.Unmount(ctx, ds, false); !errors.Is(err, zfsdriver.ErrNotMounted) {
			t.Errorf("unmount twice: err = %v, want ErrNotMounted", err)
		}
		if list, _ := d.List(ctx, ds, zfsdriver.ListOptions{}); len(list) != 1 || list[0].Mounted {
			t.Errorf("after unmount: %+v", list)
		}
		if err := d.Mount(ctx, ds); err != nil {
			t.Fatal(err)
		}
		if err := d.Mount(ctx, ds); !errors.Is(err, zfsdriver.ErrAlreadyMounted) {
			t.Errorf("mount twice: err = %v, want ErrAlreadyMounted", err)
		}
		u, err := d.Usage(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		if u.Referenced < 1<<20 || u.Used < u.Referenced || u.RefQuota != 32<<20 || u.Available == 0 || u.Available > 32<<20 {
			t.Errorf("usage = %+v", u)
		}
		if err := d.Set(ctx, ds, map[string]string{"readonly": "on"}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mp, "new"), []byte("x"), 0o644); err == nil {
			t.Error("write to a readonly=on dataset succeeded")
		}
		// Past the refquota, writes fail with EDQUOT; zfs reports no space.
		full := pool + "/full"
		if err := d.Create(ctx, full, zfsdriver.CreateOptions{Properties: map[string]string{"quota": "1M"}}); err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte{1}, 4<<20)
		if err := os.WriteFile(filepath.Join(mountpoint(t, ctx, d, full), "big"), big, 0o644); err == nil {
			t.Error("4 MiB written into a 1 MiB quota")
		}
	})

	t.Run("list depth and types", func(t *testing.T) {
		root := pool + "/tree"
		for _, ds := range []string{root, root + "/a", root + "/a/b"} {
			if err := d.Create(ctx, ds, zfsdriver.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Snapshot(ctx, []string{root + "/a@s"}, zfsdriver.SnapshotOptions{}); err != nil {
			t.Fatal(err)
		}
		names := func(opts zfsdriver.ListOptions) []string {
			list, err := d.List(ctx, root, opts)
			if err != nil {
				t.Fatal(err)
			}
			var n []string
			for _, ds := range list {
				n = append(n, ds.Name)
			}
			return n
		}
		if got := names(zfsdriver.ListOptions{}); !slices.Equal(got, []string{root}) {
			t.Errorf("depth 0: %q", got)
		}
		if got := names(zfsdriver.ListOptions{Depth: 1}); !slices.Equal(got, []string{root, root + "/a"}) {
			t.Errorf("depth 1: %q", got)
		}
		if got := names(zfsdriver.ListOptions{Depth: -1}); !slices.Equal(got, []string{root, root + "/a", root + "/a/b"}) {
			t.Errorf("all: %q", got)
		}
		got := names(zfsdriver.ListOptions{Depth: -1, Types: []zfsdriver.DatasetType{zfsdriver.Snapshot}})
		if !slices.Equal(got, []string{root + "/a@s"}) {
			t.Errorf("snapshots: %q", got)
		}
		if kids, err := d.Children(ctx, root); err != nil || !slices.Equal(kids, []string{root + "/a"}) {
			t.Errorf("children = %q, %v", kids, err)
		}
		if _, err := d.List(ctx, pool+"/nope", zfsdriver.ListOptions{}); !zfsdriver.IsNotFound(err) {
			t.Errorf("list of missing: err = %v", err)
		}
		if err := d.Destroy(ctx, root, zfsdriver.DestroyOptions{Recursive: true}); err != nil {
			t.Fatalf("recursive destroy of a tree: %v", err)
		}
		mustExist(t, ctx, d, root, false)
	})

	t.Run("busy destroy is retried until free", func(t *testing.T) {
		ds := pool + "/busy"
		if err := d.Create(ctx, ds, zfsdriver.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(mountpoint(t, ctx, d, ds), "held"))
		if err != nil {
			t.Fatal(err)
		}
		released := make(chan struct{})
		go func() {
			time.Sleep(300 * time.Millisecond)
			f.Close()
			close(released)
		}()
		before := d.Commands()
		err = d.Destroy(ctx, ds, zfsdriver.DestroyOptions{})
		<-released
		if err != nil {
			t.Fatalf("destroy while briefly busy: %v", err)
		}
		if d.Commands()-before < 3 {
			t.Errorf("only %d commands ran: the busy answer was not retried", d.Commands()-before)
		}
		mustExist(t, ctx, d, ds, false)
	})

	t.Run("refused before exec", func(t *testing.T) {
		before := d.Commands()
		for _, name := range []string{"-r", pool + "/a b", pool + "/../x", pool + "/x@y@z", pool + "/$(id)"} {
			if err := d.Create(ctx, name, zfsdriver.CreateOptions{}); !errors.Is(err, zfsdriver.ErrInvalidName) {
				t.Errorf("create %q: err = %v, want ErrInvalidName", name, err)
			}
		}
		if n := d.Commands() - before; n != 0 {
			t.Errorf("%d commands ran for refused names", n)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := d.Create(cctx, pool+"/cancelled", zfsdriver.CreateOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("pools", func(t *testing.T) {
		pools, err := d.Pools(ctx, pool)
		if err != nil || len(pools) != 1 || pools[0].Health != "ONLINE" || pools[0].Size == 0 {
			t.Fatalf("pools = %+v, %v", pools, err)
		}
		if ok, err := d.PoolExists(ctx, "zfslxcnosuchpool"); ok || err != nil {
			t.Errorf("missing pool exists = %v, %v", ok, err)
		}
	})
}
