package snapshotter_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
			if _, err := f.sn.Prepare(f.ctx, "extract-"+k+" sha256:x", "base"); err != nil {
				b.Fatal(err)
			}
			if err := f.sn.Commit(f.ctx, k, "extract-"+k+" sha256:x"); err != nil {
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

// BenchmarkCommit is Commit alone (the snapshot; readonly=on runs after
// Commit returns, see seal.go).
func BenchmarkCommit(b *testing.B) {
	f := newFixture(b)
	n := 0 // b.Run calls each function more than once: names stay unique
	b.Run("snapshotter", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n++
			k := fmt.Sprintf("c%d", n)
			b.StopTimer()
			if _, err := f.sn.Prepare(f.ctx, "extract-"+k+" sha256:x", ""); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := f.sn.Commit(f.ctx, k, "extract-"+k+" sha256:x"); err != nil {
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

// BenchmarkPrepareImageSize prepares on a parent layer holding 1 MiB and
// on one holding 1 GiB, PREPARE_ROUNDS times each (default 20),
// interleaved (the order alternates), and reports the median of each and
// their ratio: a clone costs the same whatever the size, so the ratio
// should be about 1. With ZFSLXC_UNPACKBENCH_REPORT set it appends a
// markdown row there (scripts/bench.sh).
func BenchmarkPrepareImageSize(b *testing.B) {
	rounds := 20
	if n, err := strconv.Atoi(os.Getenv("PREPARE_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	// One pool for both, far from full.
	f := newFixtureOnPool(b, testpool.Options{Size: 16 << 30})
	sizes := []int64{1 << 20, 1 << 30}
	for _, size := range sizes {
		name := fmt.Sprintf("layer-%d", size>>20)
		m, err := f.sn.Prepare(f.ctx, name+"-a", "")
		if err != nil {
			b.Fatal(err)
		}
		writeFile(b, filepath.Join(m[0].Source, "data"), size)
		if err := f.sn.Commit(f.ctx, name, name+"-a"); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.sn.Cleanup(f.ctx); err != nil { // the seals, before timing
		b.Fatal(err)
	}
	// Let the pool write out what the data left in flight, so the clones
	// are timed, not the background writes.
	exec.Command("sync").Run()
	time.Sleep(5 * time.Second)
	times := map[int64][]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			order := sizes
			if r%2 == 1 {
				order = []int64{sizes[1], sizes[0]}
			}
			for _, size := range order {
				k := fmt.Sprintf("p%d-%d-%d", i, r, size>>20)
				start := time.Now()
				if _, err := f.sn.Prepare(f.ctx, k, fmt.Sprintf("layer-%d", size>>20)); err != nil {
					b.Fatal(err)
				}
				times[size] = append(times[size], float64(time.Since(start))/float64(time.Millisecond))
				b.StopTimer()
				if err := f.sn.Remove(f.ctx, k); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		}
	}
	small, large := median(times[sizes[0]]), median(times[sizes[1]])
	b.ReportMetric(small, "1MiB-p50-ms")
	b.ReportMetric(large, "1GiB-p50-ms")
	b.ReportMetric(large/small, "1GiB/1MiB")
	if path := os.Getenv("ZFSLXC_UNPACKBENCH_REPORT"); path != "" {
		row := fmt.Sprintf("\n#### Prepare on a 1 GiB parent ÷ on a 1 MiB parent (%d interleaved rounds, median ms)\n\n"+
			"| 1 MiB parent | 1 GiB parent | ratio |\n|---:|---:|---:|\n| %.1f | %.1f | **%.2f×** |\n", len(times[sizes[0]]), small, large, large/small)
		fh, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		if _, err := fh.WriteString(row); err != nil {
			b.Fatal(err)
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
