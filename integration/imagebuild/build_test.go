package imagebuild

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// memSink keeps what Build hands it.
type memSink struct {
	blobs     map[digest.Digest][]byte
	manifests map[digest.Digest][]byte
	order     []digest.Digest
}

func newMemSink() *memSink {
	return &memSink{blobs: map[digest.Digest][]byte{}, manifests: map[digest.Digest][]byte{}}
}

func (m *memSink) Blob(desc ocispec.Descriptor, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	m.blobs[desc.Digest] = b.Bytes()
	m.order = append(m.order, desc.Digest)
	return nil
}

func (m *memSink) Manifest(desc ocispec.Descriptor, data []byte) error {
	m.manifests[desc.Digest] = data
	m.order = append(m.order, desc.Digest)
	return nil
}

// TestBuildFormats builds one image per manifest format with a gzip, a
// zstd and an uncompressed layer and checks the media types, that each
// blob matches its digest and size, and that each decompresses to the
// tar its diffID names.
func TestBuildFormats(t *testing.T) {
	layers := []Layer{
		{Gzip: true, Entries: []Entry{{Path: "/g", Content: []byte("gzip")}}},
		{Zstd: true, Entries: []Entry{{Path: "/z", Content: []byte("zstd")}}},
		{Entries: []Entry{{Path: "/u", Content: []byte("plain")}}},
	}
	tests := []struct {
		name   string
		docker bool
		want   []string // manifest, config, layers
	}{
		{"oci", false, []string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig,
			ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayer}},
		{"docker", true, []string{MediaTypeDockerManifest, MediaTypeDockerConfig,
			MediaTypeDockerLayerGzip, MediaTypeDockerLayerZstd, MediaTypeDockerLayer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemSink()
			b, err := (&Image{Docker: tt.docker, Layers: layers}).Build(s)
			if err != nil {
				t.Fatal(err)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(s.manifests[b.Manifest.Digest], &m); err != nil {
				t.Fatal(err)
			}
			got := []string{b.Manifest.MediaType, m.Config.MediaType}
			for _, l := range m.Layers {
				got = append(got, l.MediaType)
			}
			if m.MediaType != b.Manifest.MediaType || len(got) != len(tt.want) {
				t.Fatalf("media types %v (manifest field %q), want %v", got, m.MediaType, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("media type %d: %s, want %s", i, got[i], tt.want[i])
				}
			}
			for i, l := range m.Layers {
				blob := s.blobs[l.Digest]
				if digest.FromBytes(blob) != l.Digest || int64(len(blob)) != l.Size {
					t.Fatalf("layer %d: blob does not match its descriptor", i)
				}
				var r io.Reader = bytes.NewReader(blob)
				switch i {
				case 0:
					if r, err = gzip.NewReader(r); err != nil {
						t.Fatal(err)
					}
				case 1:
					zr, err := zstd.NewReader(r)
					if err != nil {
						t.Fatal(err)
					}
					defer zr.Close()
					r = zr
				}
				tarDigest, err := digest.FromReader(r)
				if err != nil {
					t.Fatalf("layer %d: decompress: %v", i, err)
				}
				if tarDigest != b.DiffIDs[i] {
					t.Errorf("layer %d: uncompressed digest %s, diffID %s", i, tarDigest, b.DiffIDs[i])
				}
			}
			// Children before parents: the manifest comes last.
			if s.order[len(s.order)-1] != b.Manifest.Digest {
				t.Errorf("manifest not last: %v", s.order)
			}
			if b.ChainID() == b.DiffIDs[0] {
				t.Errorf("chain ID of 3 layers equals the first diffID")
			}
		})
	}
	if _, err := (&Image{Layers: []Layer{{Gzip: true, Zstd: true, Entries: []Entry{{Path: "/x", Type: Dir}}}}}).Build(newMemSink()); err == nil {
		t.Error("a layer both Gzip and Zstd was built")
	}
}

// TestBuildIndex checks an index names each platform's manifest, after
// them, with the right media type.
func TestBuildIndex(t *testing.T) {
	for _, docker := range []bool{false, true} {
		s := newMemSink()
		idx := &Index{Docker: docker, Images: []*Image{
			{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: []Layer{{Entries: []Entry{{Path: "/a", Content: []byte("amd64")}}}}},
			{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, Layers: []Layer{{Entries: []Entry{{Path: "/a", Content: []byte("arm64")}}}}},
		}}
		desc, built, err := idx.Build(s)
		if err != nil {
			t.Fatal(err)
		}
		want := ocispec.MediaTypeImageIndex
		if docker {
			want = MediaTypeDockerManifestList
		}
		var index ocispec.Index
		if err := json.Unmarshal(s.manifests[desc.Digest], &index); err != nil {
			t.Fatal(err)
		}
		if desc.MediaType != want || index.MediaType != want || len(index.Manifests) != 2 {
			t.Fatalf("docker=%v: index %s %+v", docker, desc.MediaType, index)
		}
		for i, m := range index.Manifests {
			if m.Digest != built[i].Manifest.Digest || m.Platform == nil || m.Platform.Architecture != idx.Images[i].Platform.Architecture {
				t.Errorf("entry %d: %+v, want %s for %s", i, m, built[i].Manifest.Digest, idx.Images[i].Platform.Architecture)
			}
		}
		if built[1].Manifest.Platform.Variant != "v8" {
			t.Errorf("arm64 variant lost: %+v", built[1].Manifest.Platform)
		}
		if s.order[len(s.order)-1] != desc.Digest {
			t.Errorf("index not last")
		}
	}
}
