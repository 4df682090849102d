package snapshotter_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
)

// Benchmarks of the snapshotter against the bare zfs commands it runs, on
// the same pool in the same process. `make bench` runs them and writes
// docs/benchmarks.md. They report zfs-procs/op: the zfs processes spawned
// per operation (busy retries included).

// BenchmarkLayer is what an image unpack costs per layer: Prepare on the
// previous layer, Commit, and (for a steady state) Remove.
func BenchmarkLayer(b *testing.B) {
	f := newFixture(b)
	f.commitLayer(b, "base", "", map[string]string{"a": "1"})
	b.Run("snapshotter", func(b *testing.B) {
		before := f.zfs.Commands()
		i := 0
		for b.Loop() {
			k := fmt.Sprintf("l%d", i)
			i++
			if _, err := f.sn.Prepare(f.ctx, k+"-a", "base"); err != nil {
				b.Fatal(err)
			}
			if err := f.sn.Commit(f.ctx, k, k+"-a"); err != nil {
				b.Fatal(err)
			}
			if err := f.sn.Remove(f.ctx, k); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(f.zfs.Commands()-before)/float64(b.N), "zfs-procs/op")
	})
	b.Run("bare-zfs", func(b *testing.B) {
		explicitUnmount := f.zfs.Capabilities().ExplicitUnmount
		i := 0
		for b.Loop() {
			ds := fmt.Sprintf("%s/bare%d", f.parent, i)
			i++
			testpool.ZFS(b, "clone", "-o", ondisk.PropKey+"=k", f.parent+"/1@committed", ds)
			testpool.ZFS(b, "snapshot", "-o", ondisk.PropKey+"=k", ds+"@committed")
			testpool.ZFS(b, "set", "readonly=on", ds)
			if explicitUnmount {
				testpool.ZFS(b, "unmount", ds)
			}
			testpool.ZFS(b, "destroy", "-r", ds)
		}
	})
}

// BenchmarkPrepare is Prepare alone (a zfs clone), against `zfs clone`.
func BenchmarkPrepare(b *testing.B) {
	f := newFixture(b)
	f.commitLayer(b, "base", "", map[string]string{"a": "1"})
	b.Run("snapshotter", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			k := fmt.Sprintf("p%d", i)
			if _, err := f.sn.Prepare(f.ctx, k, "base"); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := f.sn.Remove(f.ctx, k); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("bare-zfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ds := fmt.Sprintf("%s/bare%d", f.parent, i)
			testpool.ZFS(b, "clone", "-o", ondisk.PropKey+"=k", f.parent+"/1@committed", ds)
			b.StopTimer()
			testpool.ZFS(b, "destroy", ds)
			b.StartTimer()
		}
	})
}

// BenchmarkCommit is Commit alone (snapshot + readonly=on).
func BenchmarkCommit(b *testing.B) {
	f := newFixture(b)
	n := 0 // b.Run calls each function more than once: names stay unique
	b.Run("snapshotter", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n++
			k := fmt.Sprintf("c%d", n)
			b.StopTimer()
			if _, err := f.sn.Prepare(f.ctx, k+"-a", ""); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := f.sn.Commit(f.ctx, k, k+"-a"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-zfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n++
			ds := fmt.Sprintf("%s/bare%d", f.parent, n)
			b.StopTimer()
			testpool.ZFS(b, "create", ds)
			b.StartTimer()
			testpool.ZFS(b, "snapshot", "-o", ondisk.PropKey+"=k", ds+"@committed")
			testpool.ZFS(b, "set", "readonly=on", ds)
		}
	})
}

// BenchmarkRemove is Remove of a committed layer alone.
func BenchmarkRemove(b *testing.B) {
	f := newFixture(b)
	explicitUnmount := f.zfs.Capabilities().ExplicitUnmount
	b.Run("snapshotter", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			k := fmt.Sprintf("r%d", i)
			b.StopTimer()
			f.commitLayer(b, k, "", nil)
			b.StartTimer()
			if err := f.sn.Remove(f.ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-zfs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ds := fmt.Sprintf("%s/bare%d", f.parent, i)
			b.StopTimer()
			testpool.ZFS(b, "create", ds)
			testpool.ZFS(b, "snapshot", ds+"@committed")
			b.StartTimer()
			if explicitUnmount {
				testpool.ZFS(b, "unmount", ds)
			}
			testpool.ZFS(b, "destroy", "-r", ds)
		}
	})
}

// BenchmarkPrepareImageSize prepares on a parent holding 1 MiB and 1 GiB:
// a clone costs the same whatever the size (the line must be flat).
func BenchmarkPrepareImageSize(b *testing.B) {
	for _, size := range []int64{1 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			// The same pool size for both, far from full.
			f := newFixtureOnPool(b, testpool.Options{Size: 16 << 30})
			m, err := f.sn.Prepare(f.ctx, "big-a", "")
			if err != nil {
				b.Fatal(err)
			}
			writeFile(b, filepath.Join(m[0].Source, "data"), size)
			if err := f.sn.Commit(f.ctx, "big", "big-a"); err != nil {
				b.Fatal(err)
			}
			// Let the pool write out what the data left in flight, so the
			// clones are timed, not the background writes.
			exec.Command("sync").Run()
			time.Sleep(5 * time.Second)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := fmt.Sprintf("p%d", i)
				if _, err := f.sn.Prepare(f.ctx, k, "big"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := f.sn.Remove(f.ctx, k); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// writeFile writes size bytes of incompressible data (a random MiB
// repeated; dedup is off).
func writeFile(b *testing.B, path string, size int64) {
	b.Helper()
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for written := int64(0); written < size; written += int64(len(block)) {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
}
