package template

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

func TestReadImageTarAndDir(t *testing.T) {
	img := &imagebuild.Image{
		Name:   "example.com/t:1",
		Layers: []imagebuild.Layer{{Gzip: true, Entries: []imagebuild.Entry{{Path: "/a", Content: []byte("a")}}}, {Entries: []imagebuild.Entry{{Path: "/b", Content: []byte("b")}}}},
	}
	img.Config.Entrypoint = []string{"/a"}
	img.Config.Cmd = []string{"x y", ""}
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "img.tar")
	desc, err := img.WriteLayoutFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	layoutDir := filepath.Join(dir, "layout")
	if err := os.Mkdir(layoutDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xf", tarPath, "-C", layoutDir).CombinedOutput(); err != nil {
		t.Skipf("tar: %v: %s", err, out)
	}
	for name, src := range map[string]string{"tar": tarPath, "dir": layoutDir} {
		t.Run(name, func(t *testing.T) {
			l, err := openLayout(src)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			got, err := readImage(l)
			if err != nil {
				t.Fatal(err)
			}
			if got.digest != desc.Digest || len(got.layers) != 2 || !slices.Equal(got.config.Config.Cmd, img.Config.Cmd) {
				t.Errorf("readImage: %s %d layers %q", got.digest, len(got.layers), got.config.Config.Cmd)
			}
			for _, ld := range got.layers {
				if !layerSupported(ld.MediaType) {
					t.Errorf("layer media type %s", ld.MediaType)
				}
			}
		})
	}
	if _, err := openLayout(filepath.Join(dir, "missing.tar")); err == nil {
		t.Error("missing source accepted")
	}
	if _, err := readImage(dirLayout{root: dir}); err == nil || !strings.Contains(err.Error(), "not an OCI image layout") {
		t.Errorf("no index.json: %v", err)
	}
}

func TestConfigPropsRoundTrip(t *testing.T) {
	img := &imagebuild.Image{}
	cfg := img.Config
	cfg.Entrypoint = []string{"/bin/sh", "-c"}
	cfg.Cmd = []string{strings.Repeat("é", 3000)}
	cfg.StopSignal = "SIGINT"
	props, err := configProps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(props) < 4 {
		t.Errorf("a long config should be split: %d properties", len(props))
	}
	all := map[string]zfsdriver.Property{}
	for k, v := range props {
		if len(v) > configChunk {
			t.Errorf("%s is %d bytes", k, len(v))
		}
		all[k] = zfsdriver.Property{Value: v, Source: "local"}
	}
	got, err := decodeConfig(all)
	if err != nil || !slices.Equal(got.Cmd, cfg.Cmd) || got.StopSignal != "SIGINT" {
		t.Errorf("round trip: %v %+v", err, got)
	}
	delete(all, PropConfig+".1")
	if _, err := decodeConfig(all); err == nil {
		t.Error("missing part accepted")
	}
}

func TestValidateTemplateName(t *testing.T) {
	const parent = "tank/zfslxc-templates"
	s, err := NewStore(nil, parent)
	if err != nil {
		t.Fatal(err)
	}
	// The longest name whose <parent>/NAME@template fits zfs's 255 bytes.
	longest := strings.Repeat("n", 255-len(parent)-len("/@template"))
	for name, ok := range map[string]bool{
		"busybox": true, "web-1.2_x": true, "": false, "a/b": false, "a@b": false, "ct-x": false, "a b": false,
		"..": false, "-x": false, "a\x00b": false, "a\nb": false,
		longest: true, longest + "n": false, strings.Repeat("n", 300): false,
	} {
		err := s.validateTemplateName(name)
		if (err == nil) != ok || err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("%.40q (%d bytes): %v", name, len(name), err)
		}
	}
}

// tampered serves a layout with a byte appended to every blob.
type tampered struct{ layout }

func (t tampered) open(name string) (io.ReadCloser, error) {
	rc, err := t.layout.open(name)
	if err != nil || name == "index.json" {
		return rc, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	data = append(data, 0)
	return io.NopCloser(bytes.NewReader(data)), nil
}

func TestApplyLayerChecksDigest(t *testing.T) {
	img := &imagebuild.Image{
		Name: "example.com/t:1",
		Layers: []imagebuild.Layer{
			{Gzip: true, Entries: []imagebuild.Entry{{Path: "/a", Content: []byte("a")}, {Path: "/gone", Content: []byte("g")}}},
			{Entries: []imagebuild.Entry{{Path: "/gone", Type: imagebuild.Whiteout}, {Path: "/b", Content: []byte("b")}}},
		},
	}
	img.Config.Cmd = []string{"/a"}
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	if _, err := img.WriteLayoutFile(tarPath); err != nil {
		t.Fatal(err)
	}
	l, err := openLayout(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, err := readImage(l)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for i, ld := range got.layers {
		if _, err := applyLayer(context.Background(), root, layoutSource(l, got, tarPath), ld, got.config.RootFS.DiffIDs[i], io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "b")); err != nil {
		t.Error(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("whiteout not applied: %v", err)
	}
	// The uncompressed layer with a byte after the end-of-archive blocks
	// still untars: only the digest check catches it.
	_, err = applyLayer(context.Background(), t.TempDir(), layoutSource(tampered{l}, got, tarPath), got.layers[1], "", io.Discard)
	if !errdefs.IsDataLoss(err) {
		t.Errorf("tampered layer: %v, want a data loss error", err)
	}
	// A config whose diff_id lies (its own digest is right): refused, as
	// containerd refuses it.
	for i, ld := range got.layers {
		lie := got.config.RootFS.DiffIDs[1-i]
		_, err = applyLayer(context.Background(), t.TempDir(), layoutSource(l, got, tarPath), ld, lie, io.Discard)
		if !errdefs.IsDataLoss(err) || !strings.Contains(err.Error(), "diff_id") {
			t.Errorf("layer %d with a lying diff_id: %v, want a data loss error naming diff_id", i, err)
		}
	}
}
