package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// readLayout is a layout tar read back into memory (small images only).
type readLayout struct {
	files    map[string][]byte
	index    ocispec.Index
	manifest ocispec.Manifest
	config   ocispec.Image
	// layers are the uncompressed layer tars, in manifest order.
	layers [][]byte
}

// fakeBusybox writes a small stand-in for /bin/busybox, so unit tests do
// not need busybox-static.
func fakeBusybox(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(p, []byte("#!fake busybox\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeAndRead writes img to a file in a temp dir and reads it back,
// checking every digest and size on the way.
func writeAndRead(t *testing.T, img *Image) (ocispec.Descriptor, *readLayout) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.tar")
	desc, err := img.WriteLayoutFile(p)
	if err != nil {
		t.Fatalf("WriteLayoutFile: %v", err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return desc, parseLayout(t, f)
}

func parseLayout(t *testing.T, r io.Reader) *readLayout {
	t.Helper()
	rl := &readLayout{files: map[string][]byte{}}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read layout tar: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if _, dup := rl.files[hdr.Name]; dup {
			t.Errorf("layout member %s written twice", hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", hdr.Name, err)
		}
		rl.files[hdr.Name] = data
	}

	var layout ocispec.ImageLayout
	unmarshalMember(t, rl.files, ocispec.ImageLayoutFile, &layout)
	if layout.Version != ocispec.ImageLayoutVersion {
		t.Errorf("oci-layout version %q, want %q", layout.Version, ocispec.ImageLayoutVersion)
	}
	unmarshalMember(t, rl.files, ocispec.ImageIndexFile, &rl.index)
	if rl.index.SchemaVersion != 2 || rl.index.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("index: schemaVersion %d mediaType %q", rl.index.SchemaVersion, rl.index.MediaType)
	}
	if len(rl.index.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(rl.index.Manifests))
	}
	md := rl.index.Manifests[0]
	if md.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("manifest media type %q", md.MediaType)
	}
	unmarshalMember(t, rl.files, blobName(t, rl.files, md), &rl.manifest)
	if rl.manifest.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("config media type %q", rl.manifest.Config.MediaType)
	}
	unmarshalMember(t, rl.files, blobName(t, rl.files, rl.manifest.Config), &rl.config)
	if len(rl.config.RootFS.DiffIDs) != len(rl.manifest.Layers) {
		t.Fatalf("config has %d diffIDs, manifest %d layers", len(rl.config.RootFS.DiffIDs), len(rl.manifest.Layers))
	}
	for i, ld := range rl.manifest.Layers {
		blob := rl.files[blobName(t, rl.files, ld)]
		uncompressed := blob
		switch ld.MediaType {
		case ocispec.MediaTypeImageLayerGzip:
			zr, err := gzip.NewReader(bytes.NewReader(blob))
			if err != nil {
				t.Fatalf("layer %d: gzip: %v", i, err)
			}
			if uncompressed, err = io.ReadAll(zr); err != nil {
				t.Fatalf("layer %d: gunzip: %v", i, err)
			}
		case ocispec.MediaTypeImageLayer:
		default:
			t.Fatalf("layer %d: media type %q", i, ld.MediaType)
		}
		if got := digest.FromBytes(uncompressed); got != rl.config.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: diffID %s, config says %s", i, got, rl.config.RootFS.DiffIDs[i])
		}
		rl.layers = append(rl.layers, uncompressed)
	}
	return rl
}

// blobName checks that the blob of d is present with d's size and digest,
// and returns its member name.
func blobName(t *testing.T, files map[string][]byte, d ocispec.Descriptor) string {
	t.Helper()
	name := "blobs/sha256/" + d.Digest.Encoded()
	data, ok := files[name]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if int64(len(data)) != d.Size {
		t.Errorf("blob %s: size %d, descriptor says %d", d.Digest, len(data), d.Size)
	}
	if got := digest.FromBytes(data); got != d.Digest {
		t.Errorf("blob %s: content digest %s", d.Digest, got)
	}
	return name
}

func unmarshalMember(t *testing.T, files map[string][]byte, name string, v any) {
	t.Helper()
	data, ok := files[name]
	if !ok {
		t.Fatalf("layout member %s missing", name)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
}

// tarHeaders lists the headers of an uncompressed layer tar by name, and
// the content of its regular files.
func tarHeaders(t *testing.T, layer []byte) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	hdrs := map[string]*tar.Header{}
	contents := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, contents
		}
		if err != nil {
			t.Fatalf("read layer tar: %v", err)
		}
		hdrs[hdr.Name] = hdr
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			contents[hdr.Name] = string(data)
		}
	}
}
