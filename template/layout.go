package template

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker media types, which `ctr export` and `docker save` may still write.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayerForeign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// maxJSONBlob bounds the index, manifest and config blobs read in memory.
const maxJSONBlob = 16 << 20

// layout is an OCI image layout: a directory or a tar of one. Blobs are
// opened by their path inside the layout ("index.json",
// "blobs/sha256/…").
type layout interface {
	open(name string) (io.ReadCloser, error)
	Close() error
}

// dirLayout is a layout unpacked in a directory.
type dirLayout struct{ root string }

func (d dirLayout) open(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.root, filepath.FromSlash(name)))
}

func (d dirLayout) Close() error { return nil }

// tarLayout is a layout tar on disk: one pass records where each regular
// file's data starts, and blobs are read in place (no copy, no memory
// beyond the table).
type tarLayout struct {
	f     *os.File
	files map[string]section
}

type section struct{ off, size int64 }

// countReader counts the bytes read through it, so the tar reader's
// position in the file is known after each header.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func openTarLayout(p string) (*tarLayout, error) {
	// O_NONBLOCK: a FIFO swapped in after openLayout's check must not
	// block the open; the check is made again on what was opened.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = notLayoutFile(p, fi)
		}
		return nil, err
	}
	cr := &countReader{r: f}
	tr := tar.NewReader(cr)
	t := &tarLayout{f: f, files: map[string]section{}}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: reading tar: %w", p, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// After Next the reader stands at the entry's data (archive/tar
		// reads whole 512-byte blocks and no further).
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		t.files[name] = section{off: cr.n, size: hdr.Size}
	}
	return t, nil
}

func (t *tarLayout) open(name string) (io.ReadCloser, error) {
	s, ok := t.files[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("%s: not in the layout tar: %w", name, os.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, s.off, s.size)), nil
}

func (t *tarLayout) Close() error { return t.f.Close() }

// openLayout opens a layout directory or tar.
func openLayout(p string) (layout, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("image source: %w", err)
	}
	switch {
	case fi.IsDir():
		return dirLayout{root: p}, nil
	case !fi.Mode().IsRegular():
		return nil, notLayoutFile(p, fi)
	}
	return openTarLayout(p)
}

// notLayoutFile refuses a source that is neither a directory nor a
// regular file: reading a FIFO or a device blocks or never ends.
func notLayoutFile(p string, fi os.FileInfo) error {
	return fmt.Errorf("image source %s: not a regular file or directory (%v): %w", p, fi.Mode().Type(), errdefs.ErrInvalidArgument)
}

func blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return path.Join("blobs", d.Algorithm().String(), d.Encoded()), nil
}

// readJSON reads a small blob, checks its digest and decodes it.
func readJSON(l layout, desc ocispec.Descriptor, v any) error {
	p, err := blobPath(desc.Digest)
	if err != nil {
		return err
	}
	rc, err := l.open(p)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxJSONBlob+1))
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if len(data) > maxJSONBlob {
		return fmt.Errorf("blob %s: larger than %d bytes", desc.Digest, maxJSONBlob)
	}
	if got := desc.Digest.Algorithm().FromBytes(data); got != desc.Digest {
		return fmt.Errorf("blob %s: content has digest %s: %w", desc.Digest, got, errdefs.ErrDataLoss)
	}
	return json.Unmarshal(data, v)
}

// image is what a template needs from an image: the manifest's digest, its
// layers (bottom first) and the config.
type image struct {
	digest digest.Digest
	layers []ocispec.Descriptor
	config ocispec.Image
	// chainID of the top layer (from the config's diff ids): the name
	// containerd commits the unpacked image under in a snapshotter.
	chainID digest.Digest
}

// checkImage checks the config against the manifest's layers and sets
// the chain id.
func (img *image) checkImage() error {
	diffIDs := img.config.RootFS.DiffIDs
	if len(diffIDs) != 0 && len(diffIDs) != len(img.layers) {
		return fmt.Errorf("image %s: %d layers but %d diff ids", img.digest, len(img.layers), len(diffIDs))
	}
	if len(diffIDs) > 0 {
		img.chainID = identity.ChainID(diffIDs)
	}
	return nil
}

// readImage resolves the layout's index.json to one image manifest for
// this machine's platform (through nested indexes), then reads the config.
func readImage(l layout) (*image, error) {
	rc, err := l.open("index.json")
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout: %w", err)
	}
	var idx ocispec.Index
	err = json.NewDecoder(io.LimitReader(rc, maxJSONBlob)).Decode(&idx)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	for depth := 0; depth < 8; depth++ {
		desc, err := pickManifest(idx.Manifests)
		if err != nil {
			return nil, err
		}
		switch desc.MediaType {
		case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
			idx = ocispec.Index{}
			if err := readJSON(l, desc, &idx); err != nil {
				return nil, err
			}
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
			var m ocispec.Manifest
			if err := readJSON(l, desc, &m); err != nil {
				return nil, err
			}
			img := &image{digest: desc.Digest, layers: m.Layers}
			if err := readJSON(l, m.Config, &img.config); err != nil {
				return nil, fmt.Errorf("image config: %w", err)
			}
			if err := img.checkImage(); err != nil {
				return nil, err
			}
			return img, nil
		default:
			return nil, fmt.Errorf("manifest %s: media type %q: %w", desc.Digest, desc.MediaType, errdefs.ErrNotImplemented)
		}
	}
	return nil, errors.New("index.json: indexes nested too deep")
}

// pickManifest returns the only manifest, or the one for this machine's
// OS and architecture.
func pickManifest(list []ocispec.Descriptor) (ocispec.Descriptor, error) {
	if len(list) == 0 {
		return ocispec.Descriptor{}, errors.New("image index lists no manifest")
	}
	if len(list) == 1 {
		return list[0], nil
	}
	for _, d := range list {
		if d.Platform != nil && d.Platform.OS == runtime.GOOS && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("image index lists %d manifests and none for %s/%s: %w",
		len(list), runtime.GOOS, runtime.GOARCH, errdefs.ErrNotFound)
}

// layerSupported reports whether a layer media type can be applied
// (DecompressStream detects the compression from the content).
func layerSupported(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
		ocispec.MediaTypeImageLayerNonDistributable, ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // still written by old tools
		ocispec.MediaTypeImageLayerNonDistributableZstd, //nolint:staticcheck
		mediaTypeDockerLayerGzip, mediaTypeDockerLayerForeign:
		return true
	}
	return false
}
