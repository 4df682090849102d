package snapshotter_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

// BenchmarkImport times `ctr images import` of the same image into the
// zfslxc snapshotter and into overlayfs, in the same containerd, in the
// same run, for each containerd flavor. Each round removes the image and
// collects garbage (untimed), so every import unpacks all layers again.
// `make bench` writes the result to docs/benchmarks.md.
func BenchmarkImport(b *testing.B) {
	images := map[string]*imagebuild.Image{}
	multi, err := imagebuild.MultiLayerTestImage("docker.io/zfslxc/bench-small:latest", "")
	if err != nil {
		b.Fatal(err)
	}
	images["3layers-3MiB"] = multi
	base, err := imagebuild.BusyboxLayer("")
	if err != nil {
		b.Fatal(err)
	}
	images["2layers-128MiB"] = &imagebuild.Image{
		Name:   "docker.io/zfslxc/bench-large:latest",
		Layers: []imagebuild.Layer{base, imagebuild.LargeFileLayer("/big/blob.bin", 128<<20)},
	}
	dir := b.TempDir()
	tars := map[string]string{}
	for name, img := range images {
		tars[name] = filepath.Join(dir, name+".tar")
		if _, err := img.WriteLayoutFile(tars[name]); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range containerdtest.Flavors() {
		b.Run(f.Name, func(b *testing.B) {
			containerdtest.RequireHost(b, f)
			p := testpool.New(b, testpool.Options{Size: 4 << 30})
			s := containerdtest.StartSnapshotter(b, containerdtest.SnapshotterOptions{Dataset: p.Name + "/zfslxc", Driver: p.Driver})
			d := containerdtest.Start(b, f, containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: f.ConfigVersion, SnapshotterName: sn, SnapshotterAddress: s.Address}))
			for _, name := range []string{"3layers-3MiB", "2layers-128MiB"} {
				for _, snapshotter := range []string{sn, "overlayfs"} {
					b.Run(fmt.Sprintf("%s/%s", name, snapshotter), func(b *testing.B) {
						for i := 0; i < b.N; i++ {
							d.MustCtr(b, "images", "import", "--snapshotter", snapshotter, tars[name])
							b.StopTimer()
							d.MustCtr(b, "images", "rm", "--sync", images[name].Ref())
							id := fmt.Sprintf("gc-%d", time.Now().UnixNano())
							d.MustCtr(b, "leases", "create", "--id", id)
							d.MustCtr(b, "leases", "rm", "--sync", id)
							b.StartTimer()
						}
					})
				}
			}
		})
	}
	_ = os.RemoveAll(dir)
}
