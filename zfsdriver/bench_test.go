package zfsdriver_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// The benchmarks pair each driver call with the bare zfs command it runs, on
// the same pool in the same process, so the difference is the driver's own
// cost (validation, parsing, logging). `make bench` runs them and writes
// docs/benchmarks.md.

func benchPool(b *testing.B) (*zfsdriver.Driver, string, context.Context) {
	b.Helper()
	p := testpool.New(b)
	ctx := context.Background()
	if err := p.Driver.Create(ctx, p.Name+"/base", zfsdriver.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := p.Driver.Snapshot(ctx, []string{p.Name + "/base@s"}, zfsdriver.SnapshotOptions{}); err != nil {
		b.Fatal(err)
	}
	return p.Driver, p.Name, ctx
}

func BenchmarkGet(b *testing.B) {
	d, pool, ctx := benchPool(b)
	ds := pool + "/base"
	b.Run("driver", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.Get(ctx, ds, "used", "referenced", "io.zfslxc:key"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			testpool.ZFS(b, "get", "-H", "-p", "-o", "property,value,source", "used,referenced,io.zfslxc:key", ds)
		}
	})
}

func BenchmarkExists(b *testing.B) {
	d, pool, ctx := benchPool(b)
	ds := pool + "/base"
	b.Run("driver", func(b *testing.B) {
		for b.Loop() {
			if ok, err := d.Exists(ctx, ds); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			testpool.ZFS(b, "list", "-H", "-o", "name", "-t", "all", ds)
		}
	})
}

// BenchmarkCloneDestroy is the snapshotter's Prepare/Remove pair: a clone of
// a committed snapshot, then its destroy.
func BenchmarkCloneDestroy(b *testing.B) {
	d, pool, ctx := benchPool(b)
	b.Run("driver", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ds := fmt.Sprintf("%s/d%d", pool, i)
			i++
			if err := d.Clone(ctx, pool+"/base@s", ds, zfsdriver.CloneOptions{}); err != nil {
				b.Fatal(err)
			}
			if err := d.Destroy(ctx, ds, zfsdriver.DestroyOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		i := 0
		for b.Loop() {
			ds := fmt.Sprintf("%s/b%d", pool, i)
			i++
			testpool.ZFS(b, "clone", pool+"/base@s", ds)
			if d.Capabilities().ExplicitUnmount {
				testpool.ZFS(b, "unmount", ds)
			}
			testpool.ZFS(b, "destroy", ds)
		}
	})
}

// BenchmarkSnapshotDestroy is the snapshotter's Commit (snapshot) and the
// destroy of that snapshot.
func BenchmarkSnapshotDestroy(b *testing.B) {
	d, pool, ctx := benchPool(b)
	ds := pool + "/base"
	b.Run("driver", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s := fmt.Sprintf("%s@d%d", ds, i)
			i++
			if err := d.Snapshot(ctx, []string{s}, zfsdriver.SnapshotOptions{}); err != nil {
				b.Fatal(err)
			}
			if err := d.Destroy(ctx, s, zfsdriver.DestroyOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		i := 0
		for b.Loop() {
			s := fmt.Sprintf("%s@b%d", ds, i)
			i++
			testpool.ZFS(b, "snapshot", s)
			testpool.ZFS(b, "destroy", s)
		}
	})
}

// BenchmarkList lists a parent with 20 children, as Cleanup does.
func BenchmarkList(b *testing.B) {
	d, pool, ctx := benchPool(b)
	for i := range 20 {
		if err := d.Clone(ctx, pool+"/base@s", fmt.Sprintf("%s/base/c%d", pool, i), zfsdriver.CloneOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("driver", func(b *testing.B) {
		for b.Loop() {
			if l, err := d.List(ctx, pool+"/base", zfsdriver.ListOptions{Depth: 1}); err != nil || len(l) != 21 {
				b.Fatal(len(l), err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			if d.Capabilities().ParsableList {
				testpool.ZFS(b, "list", "-H", "-p", "-o", "name,type,origin,mountpoint,mounted,used,referenced,available", "-d", "1", pool+"/base")
			} else {
				testpool.ZFS(b, "get", "-H", "-p", "-o", "name,property,value", "-d", "1", "type,origin,mountpoint,mounted,used,referenced,available", pool+"/base")
			}
		}
	})
}
