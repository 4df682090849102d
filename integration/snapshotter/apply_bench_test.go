package snapshotter_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

// applyTarget is where BenchmarkApply writes a layer: a directory on the
// host filesystem (what overlayfs's upper directories live on) or a ZFS
// dataset created with props.
type applyTarget struct {
	name  string
	zfs   bool
	props []string // zfs create -o values
}

// applyTargets are the write-path choices measured: the dataset defaults
// the snapshotter uses (properties inherited from the parent: compression
// off, checksum on, atime on, recordsize 128K) and one change each.
// checksum=off is measured to see what the checksums cost, not as a
// choice (it gives up detecting corruption).
var applyTargets = []applyTarget{
	{name: "host-dir"},
	{name: "zfs-default", zfs: true},
	{name: "zfs-atime=off", zfs: true, props: []string{"atime=off"}},
	{name: "zfs-compression=lzjb", zfs: true, props: []string{"compression=lzjb"}},
	{name: "zfs-recordsize=32K", zfs: true, props: []string{"recordsize=32K"}},
	{name: "zfs-checksum=off", zfs: true, props: []string{"checksum=off"}},
}

// layerSink keeps the layer blobs of an image build as files.
type layerSink struct {
	dir    string
	layers []string // paths, bottom first
}

func (s *layerSink) Blob(desc ocispec.Descriptor, write func(io.Writer) error) error {
	if !strings.Contains(desc.MediaType, "layer") {
		return nil
	}
	p := filepath.Join(s.dir, desc.Digest.Encoded())
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	s.layers = append(s.layers, p)
	return f.Close()
}

func (s *layerSink) Manifest(ocispec.Descriptor, []byte) error { return nil }

// applyLayer writes one compressed layer blob into dir the way
// containerd's walking applier does (decompress, digest the tar, apply
// with whiteout handling), without containerd.
func applyLayer(ctx context.Context, blob, dir string) error {
	f, err := os.Open(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	ds, err := compression.DecompressStream(f)
	if err != nil {
		return err
	}
	defer ds.Close()
	digester := digest.Canonical.Digester()
	if _, err := archive.Apply(ctx, dir, io.TeeReader(ds, digester.Hash())); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, ds) // the applier reads the stream to its end
	return err
}

// BenchmarkApply measures the write path alone: containerd's archive
// applier writing the layers of BenchmarkImport's two images into a
// directory on the host filesystem (where overlayfs's upper directories
// live) and into zfs-fuse datasets with the snapshotter's defaults and
// with one property changed, interleaved (the order rotates each round),
// each layer into a new empty target. For ZFS it also times the `zfs
// snapshot` that follows (Commit's), in which the layer's data is
// written out to the pool. IMPORT_WARM rounds. With
// ZFSLXC_UNPACKBENCH_REPORT set it appends a markdown table.
func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	imgs := benchImages(b)
	p := testpool.New(b, testpool.Options{Size: 4 << 30})
	hostDir := b.TempDir()
	type result struct{ apply, snap []float64 }
	results := map[string]map[string]*result{} // image → target
	n := 0
	for _, bi := range imgs {
		sink := &layerSink{dir: b.TempDir()}
		if _, err := bi.img.Build(sink); err != nil {
			b.Fatal(err)
		}
		results[bi.name] = map[string]*result{}
		for _, t := range applyTargets {
			results[bi.name][t.name] = &result{}
		}
		for round := 0; round < importWarmRounds; round++ {
			for i := range applyTargets {
				t := applyTargets[(i+round)%len(applyTargets)]
				var applyMS, snapMS float64
				for _, blob := range sink.layers {
					n++
					dir := filepath.Join(hostDir, fmt.Sprint(n))
					ds := fmt.Sprintf("%s/apply%d", p.Name, n)
					if t.zfs {
						args := []string{"create"}
						for _, prop := range t.props {
							args = append(args, "-o", prop)
						}
						testpool.ZFS(b, append(args, ds)...)
						dir = filepath.Join(p.Mount, fmt.Sprintf("apply%d", n))
					} else if err := os.Mkdir(dir, 0o755); err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					if err := applyLayer(ctx, blob, dir); err != nil {
						b.Fatalf("apply %s into %s: %v", blob, t.name, err)
					}
					applyMS += ms(time.Since(start))
					if t.zfs {
						start = time.Now()
						testpool.ZFS(b, "snapshot", ds+"@committed")
						snapMS += ms(time.Since(start))
						testpool.ZFS(b, "unmount", ds)
						testpool.ZFS(b, "destroy", "-r", ds)
					} else if err := os.RemoveAll(dir); err != nil {
						b.Fatal(err)
					}
				}
				r := results[bi.name][t.name]
				r.apply = append(r.apply, applyMS)
				r.snap = append(r.snap, snapMS)
			}
		}
	}
	var rows []string
	for _, bi := range imgs {
		host := containerdtest.Median(results[bi.name]["host-dir"].apply)
		for _, t := range applyTargets {
			r := results[bi.name][t.name]
			a, s := containerdtest.Median(r.apply), containerdtest.Median(r.snap)
			b.ReportMetric(a, bi.name+"/"+t.name+"-apply-ms")
			snap, total := "", ""
			if t.zfs {
				b.ReportMetric(s, bi.name+"/"+t.name+"-snapshot-ms")
				snap, total = fmt.Sprintf("%.0f", s), fmt.Sprintf("%.2f×", (a+s)/host)
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %.0f | %.2f× | %s | %s |", bi.name, t.name, a, a/host, snap, total))
		}
	}
	if path := os.Getenv(importReportEnv); path != "" {
		var sb strings.Builder
		fmt.Fprintf(&sb, "\n#### Write path: containerd's applier into a host directory and into zfs-fuse datasets (%d interleaved rounds, median ms per image, all layers)\n\n", importWarmRounds)
		sb.WriteString("Each layer is applied into a new empty target (`archive.Apply` after decompression, as the walking applier does); for ZFS the `zfs snapshot` that Commit runs next is timed apart: it writes the layer out to the pool.\n\n")
		sb.WriteString("| image | target | apply | ÷ host dir | zfs snapshot | apply + snapshot ÷ host dir |\n|---|---|---:|---:|---:|---:|\n")
		sb.WriteString(strings.Join(slices.Clip(rows), "\n") + "\n")
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(sb.String()); err != nil {
			b.Fatal(err)
		}
	}
}
