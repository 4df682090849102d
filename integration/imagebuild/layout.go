package imagebuild

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// WriteLayout writes img to w as a tar of an OCI image layout (oci-layout,
// index.json, blobs/sha256/…) that `ctr images import` reads, and returns
// the manifest descriptor as recorded in index.json (see Build).
func (img *Image) WriteLayout(w io.Writer) (ocispec.Descriptor, error) {
	if err := img.validate(); err != nil {
		return ocispec.Descriptor{}, err
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("marshal oci-layout: %w", err)
	}
	lw := &layoutWriter{tw: tar.NewWriter(w), written: map[digest.Digest]bool{}}
	lw.file(ocispec.ImageLayoutFile, layoutJSON)
	lw.dir("blobs/")
	lw.dir("blobs/sha256/")
	built, err := img.Build(lw)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image %s: %w", img.Name, err)
	}
	manifestDesc := built.Manifest
	manifestDesc.Annotations = map[string]string{
		ocispec.AnnotationRefName: img.Tag(),
		AnnotationImageName:       img.Ref(),
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("marshal index: %w", err)
	}
	lw.file(ocispec.ImageIndexFile, indexJSON)
	if lw.err == nil {
		lw.err = lw.tw.Close()
	}
	if lw.err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image %s: write layout: %w", img.Name, lw.err)
	}
	return manifestDesc, nil
}

// WriteLayoutFile writes the layout tar of img to the file at path (see
// WriteLayout), replacing it if it exists.
func (img *Image) WriteLayoutFile(path string) (ocispec.Descriptor, error) {
	f, err := os.Create(path)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("create layout file: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	desc, err := img.WriteLayout(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", path, cerr)
	}
	if err != nil {
		os.Remove(path)
		return ocispec.Descriptor{}, fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return desc, nil
}

// layoutWriter writes members of the layout tar, keeping the first error.
type layoutWriter struct {
	tw      *tar.Writer
	written map[digest.Digest]bool // blobs already in the tar
	err     error
}

func (lw *layoutWriter) header(name string, typ byte, mode, size int64) {
	if lw.err != nil {
		return
	}
	lw.err = lw.tw.WriteHeader(&tar.Header{
		Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: epoch, Format: tar.FormatPAX,
	})
}

func (lw *layoutWriter) dir(name string) { lw.header(name, tar.TypeDir, 0o755, 0) }

func (lw *layoutWriter) file(name string, data []byte) {
	lw.header(name, tar.TypeReg, 0o644, int64(len(data)))
	if lw.err == nil {
		_, lw.err = lw.tw.Write(data)
	}
}

// Blob writes blobs/sha256/<hex> (Sink).
func (lw *layoutWriter) Blob(desc ocispec.Descriptor, write func(io.Writer) error) error {
	lw.blob(desc.Digest, desc.Size, write)
	return lw.err
}

// Manifest writes a manifest as a blob (Sink).
func (lw *layoutWriter) Manifest(desc ocispec.Descriptor, data []byte) error {
	lw.blob(desc.Digest, desc.Size, bytesWriter(data))
	return lw.err
}

// blob writes blobs/sha256/<hex> once per digest.
func (lw *layoutWriter) blob(d digest.Digest, size int64, write func(io.Writer) error) {
	if lw.err != nil || lw.written[d] {
		return
	}
	lw.written[d] = true
	lw.header("blobs/"+d.Algorithm().String()+"/"+d.Encoded(), tar.TypeReg, 0o644, size)
	if lw.err == nil {
		lw.err = write(lw.tw)
	}
}
