package pull_test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// format is one manifest format and layer compression of the test image.
type format struct {
	name   string
	docker bool
	gzip   bool
	zstd   bool
}

// formats are every media type and compression containerd takes: OCI and
// Docker schema 2, each gzip, zstd and uncompressed.
var formats = []format{
	{name: "oci-gzip", gzip: true},
	{name: "oci-zstd", zstd: true},
	{name: "oci-plain"},
	{name: "docker-gzip", docker: true, gzip: true},
	{name: "docker-zstd", docker: true, zstd: true},
	{name: "docker-plain", docker: true},
}

var images struct {
	once sync.Once
	err  error
	// byFormat is the multi-layer test image in each format: the busybox
	// base layer (gzip, the same blob in all) and the data and change
	// layers compressed as the format says, with /data/format.txt naming
	// the format so no two formats share those layers.
	byFormat map[string]*imagebuild.Image
	// layers30 is busybox and 29 more layers.
	layers30 *imagebuild.Image
	// index is a linux/amd64 + linux/arm64 index; /arch names the
	// platform.
	index *imagebuild.Index
	// configs run as a user, in a working directory, and with only an
	// ENTRYPOINT or only a CMD.
	configs map[string]*imagebuild.Image
}

// testImages builds the images once per test binary.
func testImages(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	images.once.Do(func() { images.err = buildImages() })
	if images.err != nil {
		t.Fatal(images.err)
	}
}

func buildImages() error {
	images.byFormat = map[string]*imagebuild.Image{}
	for _, f := range formats {
		img, err := imagebuild.MultiLayerTestImage("", imagebuild.DefaultBusyboxPath)
		if err != nil {
			return err
		}
		img.Docker = f.docker
		for i := 1; i < len(img.Layers); i++ {
			img.Layers[i].Gzip, img.Layers[i].Zstd = f.gzip, f.zstd
		}
		img.Layers[1].Entries = append(img.Layers[1].Entries, imagebuild.Entry{Path: "/data/format.txt", Content: []byte(f.name)})
		images.byFormat[f.name] = img
	}

	base, err := imagebuild.BusyboxLayer("")
	if err != nil {
		return err
	}
	l30 := &imagebuild.Image{Layers: []imagebuild.Layer{base}}
	l30.Config.Cmd = []string{"/bin/sh", "-c", "cat /layers/*"}
	for i := 1; i < 30; i++ {
		entries := []imagebuild.Entry{
			{Path: "/layers", Type: imagebuild.Dir},
			{Path: fmt.Sprintf("/layers/%02d", i), Content: []byte(fmt.Sprintf("%d\n", i))},
		}
		if i%3 == 0 { // every third layer deletes the previous layer's file
			entries = append(entries, imagebuild.Entry{Path: fmt.Sprintf("/layers/%02d", i-1), Type: imagebuild.Whiteout})
		}
		l30.Layers = append(l30.Layers, imagebuild.Layer{Gzip: i%2 == 0, Entries: entries})
	}
	images.layers30 = l30

	arch := func(a string) imagebuild.Entry { return imagebuild.Entry{Path: "/arch", Content: []byte(a)} }
	amd64 := &imagebuild.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers:   []imagebuild.Layer{base, {Gzip: true, Entries: []imagebuild.Entry{arch("amd64")}}},
	}
	amd64.Config.Cmd = []string{"/bin/cat", "/arch"}
	arm64 := &imagebuild.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Layers:   []imagebuild.Layer{{Gzip: true, Entries: []imagebuild.Entry{arch("arm64")}}},
	}
	arm64.Config.Cmd = []string{"/bin/cat", "/arch"}
	images.index = &imagebuild.Index{Images: []*imagebuild.Image{arm64, amd64}}

	images.configs = map[string]*imagebuild.Image{}
	for name, cfg := range map[string]ocispec.ImageConfig{
		"user":       {User: "app", Cmd: []string{"/bin/id"}},
		"workdir":    {WorkingDir: "/home/app/work", Cmd: []string{"/bin/pwd"}},
		"entrypoint": {Entrypoint: []string{"/bin/echo", "entrypoint", "only"}},
		"cmd":        {Cmd: []string{"/bin/echo", "cmd", "only"}},
	} {
		img := &imagebuild.Image{Layers: []imagebuild.Layer{base}, Config: cfg}
		img.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		images.configs[name] = img
	}
	return nil
}

// configOutput is what each config image prints when run without
// arguments, from its config: id of the image's user "app" (with its
// supplementary group from /etc/group), the working directory (created
// by the runtime), the ENTRYPOINT or the CMD alone.
var configOutput = map[string]string{
	"user":       "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n",
	"workdir":    "/home/app/work\n",
	"entrypoint": "entrypoint only\n",
	"cmd":        "cmd only\n",
}
