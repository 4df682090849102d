package pull_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// Knobs of BenchmarkPull (scripts/bench.sh sets them).
const (
	// pullRunsEnv: pulls per snapshotter and image (default 5).
	pullRunsEnv = "PULL_RUNS"
	// pullLargeEnv: size of the large image's layer in MiB (default
	// 1024; 0 leaves the large image out).
	pullLargeEnv = "PULL_LARGE_MIB"
	// reportEnv names a file the benchmark appends its markdown table to
	// (docs/benchmarks.md's registry section).
	reportEnv = "ZFSLXC_REGISTRYBENCH_REPORT"
)

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a number", name, v)
	}
	return n
}

// BenchmarkPull times `ctr images pull` (fetch + unpack) of the same
// image from the same local registry into zfslxc and into overlayfs in the
// same containerd, interleaved (the order flips every round), the image
// and its content removed (`ctr images rm --sync`) after every pull:
// the multi-layer test image (3 layers, 2 MB) and busybox plus one
// PULL_LARGE_MIB layer. It reports medians and the zfslxc ÷ overlayfs
// ratio.
func BenchmarkPull(b *testing.B) {
	runs := envInt(b, pullRunsEnv, 5)
	largeMiB := envInt(b, pullLargeEnv, 1024)
	reg := registrytest.Start(b, registrytest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	small, err := imagebuild.MultiLayerTestImage("", imagebuild.DefaultBusyboxPath)
	if err != nil {
		b.Fatal(err)
	}
	type img struct{ name, ref string }
	images := []img{{"3 layers, 2 MB", reg.Ref("zfslxc/bench-small:v1")}}
	if _, err := reg.Push(ctx, "zfslxc/bench-small:v1", small); err != nil {
		b.Fatal(err)
	}
	if largeMiB > 0 {
		base, err := imagebuild.BusyboxLayer("")
		if err != nil {
			b.Fatal(err)
		}
		large := &imagebuild.Image{Layers: []imagebuild.Layer{base, imagebuild.LargeFileLayer("/big/blob.bin", int64(largeMiB)<<20)}}
		if _, err := reg.Push(ctx, "zfslxc/bench-large:v1", large); err != nil {
			b.Fatal(err)
		}
		images = append(images, img{fmt.Sprintf("busybox + %d MiB layer", largeMiB), reg.Ref("zfslxc/bench-large:v1")})
	}
	var report string
	for _, fl := range containerdtest.Flavors() {
		b.Run(fl.Name, func(b *testing.B) {
			e := setup(b, fl)
			for _, im := range images {
				times := map[string][]float64{}
				for r := 0; r < runs; r++ {
					order := []string{sn, "overlayfs"}
					if r%2 == 1 {
						order[0], order[1] = order[1], order[0]
					}
					for _, snap := range order {
						start := time.Now()
						if _, _, err := e.d.CtrContext(ctx, "images", "pull", "--plain-http", "--snapshotter", snap, im.ref); err != nil {
							b.Fatal(err)
						}
						times[snap] = append(times[snap], time.Since(start).Seconds())
						if _, _, err := e.d.CtrContext(ctx, "images", "rm", "--sync", im.ref); err != nil {
							b.Fatal(err)
						}
					}
				}
				z, o := containerdtest.Median(times[sn]), containerdtest.Median(times["overlayfs"])
				report += fmt.Sprintf("| %s | %s | %.2f s | %.2f s | **%.2f×** |\n", fl.Name, im.name, z, o, z/o)
			}
		})
	}
	if out := os.Getenv(reportEnv); out != "" && report != "" {
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintf(f, "\n#### `ctr images pull` from a local registry (fetch + unpack), median of %d interleaved pulls each, image removed after each\n\n", runs)
		fmt.Fprintf(f, "| containerd | image | zfslxc | overlayfs | zfslxc ÷ overlayfs |\n|---|---|---|---|---|\n%s", report)
	}
}
