package pull_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// TestCtrPull pushes the test images to a plain-HTTP registry and pulls
// them with ctr into zfslxc and overlayfs on containerd 1.6 (client-side
// unpack) and 2.4 (transfer service): one dataset per layer, layers
// shared between images share datasets, every format unpacks to the same
// tree as overlayfs, the index resolves to linux/amd64, and what was
// pulled runs under the LXC shim.
func TestCtrPull(t *testing.T) {
	testImages(t)
	reg := registrytest.Start(t, registrytest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	chains := map[string]digest.Digest{}         // format → top chain ID
	formatChains := map[string][]digest.Digest{} // format → its layers' chain IDs
	for _, f := range formats {
		b, err := reg.Push(ctx, "zfslxc/format:"+f.name, images.byFormat[f.name])
		if err != nil {
			t.Fatal(err)
		}
		chains[f.name] = b.ChainID()
		for i := range b.DiffIDs {
			formatChains[f.name] = append(formatChains[f.name], (&imagebuild.Built{DiffIDs: b.DiffIDs[:i+1]}).ChainID())
		}
	}
	b30, err := reg.Push(ctx, "zfslxc/layers30:v1", images.layers30)
	if err != nil {
		t.Fatal(err)
	}
	_, idxBuilt, err := reg.PushIndex(ctx, "zfslxc/multi:v1", images.index)
	if err != nil {
		t.Fatal(err)
	}
	arm64, amd64 := idxBuilt[0], idxBuilt[1]

	for _, fl := range containerdtest.Flavors() {
		t.Run(fl.Name, func(t *testing.T) {
			e := setup(t, fl)
			var all []digest.Digest // every layer chain ID of every format image pulled
			for _, f := range formats {
				all = append(all, formatChains[f.name]...)
			}
			pull := func(t *testing.T, snap, ref string) {
				t.Helper()
				e.mustCtr(t, "images", "pull", "--plain-http", "--snapshotter", snap, ref)
			}

			t.Run("Formats", func(t *testing.T) {
				pulled := formats
				if fl.ConfigVersion < 3 {
					// containerd 1.6 knows zstd layers only under the OCI
					// media type: it refuses Docker's
					// application/vnd.docker.image.rootfs.diff.tar.zstd.
					ref := reg.Ref("zfslxc/format:docker-zstd")
					_, err := e.ctr(t, "images", "pull", "--plain-http", "--snapshotter", sn, ref)
					if err == nil || !strings.Contains(err.Error(), "unknown type: "+imagebuild.MediaTypeDockerLayerZstd) {
						t.Errorf("containerd 1.6 pull of a Docker zstd layer: %v, want its unknown-type error", err)
					}
					pulled = slices.DeleteFunc(slices.Clone(formats), func(f format) bool { return f.name == "docker-zstd" })
					all = nil
					for _, f := range pulled {
						all = append(all, formatChains[f.name]...)
					}
				}
				for _, f := range pulled {
					pull(t, sn, reg.Ref("zfslxc/format:"+f.name))
					pull(t, "overlayfs", reg.Ref("zfslxc/format:"+f.name))
				}
				// One dataset per distinct layer chain: the busybox base
				// layer is one dataset for all six images.
				layers := e.layerDatasets(t)
				distinct := map[digest.Digest]bool{}
				for _, c := range all {
					distinct[c] = true
					if n := len(layers[c]); n != 1 {
						t.Errorf("layer chain %s: %d datasets %v, want 1", c, n, layers[c])
					}
				}
				if len(distinct) != 1+2*len(pulled) || len(layers) != len(distinct) {
					t.Errorf("%d committed layer datasets for %d distinct layers (want %d): %v", len(layers), len(distinct), 1+2*len(pulled), layers)
				}
				for _, f := range pulled {
					t.Run(f.name, func(t *testing.T) { e.sameTree(t, chains[f.name]) })
				}
				// What was pulled runs under the LXC shim.
				ref := reg.Ref("zfslxc/format:oci-zstd")
				out := e.mustCtr(t, "run", "--rm", "--snapshotter", sn, "--runtime", runtimeType, ref, "pulled-zstd",
					"/bin/sh", "-c", "cat /data/keep.txt /data/format.txt")
				if out != "keptoci-zstd" {
					t.Errorf("run of the pulled image printed %q, want %q", out, "keptoci-zstd")
				}
			})

			t.Run("Layers30", func(t *testing.T) {
				before := len(e.layerDatasets(t))
				pull(t, sn, reg.Ref("zfslxc/layers30:v1"))
				pull(t, "overlayfs", reg.Ref("zfslxc/layers30:v1"))
				layers := e.layerDatasets(t)
				for i := range b30.DiffIDs {
					c := (&imagebuild.Built{DiffIDs: b30.DiffIDs[:i+1]}).ChainID()
					if len(layers[c]) != 1 {
						t.Errorf("layer %d (%s): datasets %v, want 1", i, c, layers[c])
					}
				}
				// The base layer is the format images' one: 29 new.
				if got := len(layers) - before; got != 29 {
					t.Errorf("30-layer pull added %d layer datasets, want 29 (base shared)", got)
				}
				e.sameTree(t, b30.ChainID())
				out := e.mustCtr(t, "run", "--rm", "--snapshotter", sn, "--runtime", runtimeType, reg.Ref("zfslxc/layers30:v1"), "layers30")
				if want := wantLayers30(); out != want {
					t.Errorf("30-layer image printed %q, want %q", out, want)
				}
			})

			t.Run("Index", func(t *testing.T) {
				ref := reg.Ref("zfslxc/multi:v1")
				pull(t, sn, ref)
				layers := e.layerDatasets(t)
				if len(layers[amd64.ChainID()]) != 1 {
					t.Errorf("linux/amd64 top layer %s not unpacked: %v", amd64.ChainID(), layers)
				}
				if len(layers[arm64.ChainID()]) != 0 {
					t.Errorf("linux/arm64 layer %s unpacked on amd64", arm64.ChainID())
				}
				out := e.mustCtr(t, "run", "--rm", "--snapshotter", sn, "--runtime", runtimeType, ref, "index")
				if out != "amd64" {
					t.Errorf("index ran %q, want amd64", out)
				}
			})
		})
	}
}

// wantLayers30 is what `cat /layers/*` prints in the 30-layer image:
// the contents of files 01…29 in order, except those a later layer whited
// out (every third layer deletes the previous layer's file).
func wantLayers30() string {
	var b strings.Builder
	for i := 1; i < 30; i++ {
		if (i+1)%3 == 0 && i+1 < 30 {
			continue
		}
		fmt.Fprintf(&b, "%d\n", i)
	}
	return b.String()
}
