package imagebuild

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestLargeFileLayerStreams writes a 64 MiB layer through a pipe, checks
// every blob while streaming, and checks the writer allocated far less
// than the layer.
func TestLargeFileLayerStreams(t *testing.T) {
	const size = 64 << 20
	layer := LargeFileLayer("/bench/blob.bin", size)
	img := &Image{Name: "docker.io/zfslxc/large:latest", Layers: []Layer{layer}}

	pr, pw := io.Pipe()
	type result struct {
		desc ocispec.Descriptor
		err  error
	}
	done := make(chan result, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		desc, err := img.WriteLayout(pw)
		pw.CloseWithError(err)
		done <- result{desc, err}
	}()

	sizes := map[digest.Digest]int64{}
	small := map[string][]byte{}
	var fileHash []byte
	tr := tar.NewReader(pr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read layout: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if !strings.HasPrefix(hdr.Name, "blobs/sha256/") {
			data, _ := io.ReadAll(tr)
			small[hdr.Name] = data
			continue
		}
		d := digest.SHA256.Digester()
		var keep bytes.Buffer
		r := io.TeeReader(tr, d.Hash())
		if hdr.Size < 1<<20 {
			r = io.TeeReader(r, &keep)
			if _, err := io.Copy(io.Discard, r); err != nil {
				t.Fatal(err)
			}
			small[hdr.Name] = keep.Bytes()
		} else {
			fileHash = hashLayerFile(t, r, "bench/blob.bin")
		}
		if got := digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(hdr.Name, "blobs/sha256/")); got != d.Digest() {
			t.Errorf("blob %s has digest %s", hdr.Name, d.Digest())
		}
		sizes[d.Digest()] = hdr.Size
	}
	res := <-done
	runtime.ReadMemStats(&after)
	if res.err != nil {
		t.Fatalf("WriteLayout: %v", res.err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/3 {
		t.Errorf("writing a %d MiB layer allocated %d MiB", size>>20, alloc>>20)
	}

	var m ocispec.Manifest
	if err := json.Unmarshal(small["blobs/sha256/"+res.desc.Digest.Encoded()], &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if len(m.Layers) != 1 || sizes[m.Layers[0].Digest] != m.Layers[0].Size {
		t.Fatalf("manifest layers %+v, blob sizes %v", m.Layers, sizes)
	}
	if m.Layers[0].MediaType != ocispec.MediaTypeImageLayer {
		t.Errorf("large layer media type %s", m.Layers[0].MediaType)
	}
	want := sha256.New()
	e := layer.Entries[len(layer.Entries)-1]
	if _, err := io.Copy(want, newRandomReader(e.Seed, size)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fileHash, want.Sum(nil)) {
		t.Error("large file content differs from the generated stream")
	}
}

// hashLayerFile reads a layer tar from r and returns the sha256 of member.
func hashLayerFile(t *testing.T, r io.Reader, member string) []byte {
	t.Helper()
	var sum []byte
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		if hdr.Name == member {
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				t.Fatal(err)
			}
			sum = h.Sum(nil)
		}
	}
	// Drain the tar padding so the blob digest covers every byte.
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	if sum == nil {
		t.Fatalf("layer has no %s", member)
	}
	return sum
}

func TestRandomReaderChunking(t *testing.T) {
	const size = 1000
	var whole bytes.Buffer
	if _, err := io.Copy(&whole, newRandomReader(7, size)); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 3, 7, 8, 9, 64, 999, 4096} {
		r := newRandomReader(7, size)
		var got bytes.Buffer
		buf := make([]byte, chunk)
		for {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
		}
		if !bytes.Equal(got.Bytes(), whole.Bytes()) {
			t.Errorf("reading in chunks of %d gives other bytes", chunk)
		}
	}
	if whole.Len() != size {
		t.Errorf("read %d bytes, want %d", whole.Len(), size)
	}
	var other bytes.Buffer
	io.Copy(&other, newRandomReader(8, size))
	if bytes.Equal(other.Bytes(), whole.Bytes()) {
		t.Error("seeds 7 and 8 give the same bytes")
	}
}

// BenchmarkWriteLayoutLargeFile measures writing an uncompressed layer
// holding one 256 MiB generated file (both passes).
func BenchmarkWriteLayoutLargeFile(b *testing.B) {
	const size = 256 << 20
	img := &Image{Name: "docker.io/zfslxc/large:latest", Layers: []Layer{LargeFileLayer("/bench/blob.bin", size)}}
	b.SetBytes(size)
	for b.Loop() {
		if _, err := img.WriteLayout(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
