package imagebuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker image manifest v2 schema 2 media types (what `docker push` wrote
// before Docker 29; registries and containerd still serve and pull them).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayerZstd    = "application/vnd.docker.image.rootfs.diff.tar.zstd"
)

// Sink receives an image's blobs as Build makes them, each once, children
// before their parents: layers and the config through Blob, manifests and
// indexes through Manifest (a registry stores those apart).
type Sink interface {
	// Blob stores a blob of desc.Size bytes that write writes.
	Blob(desc ocispec.Descriptor, write func(io.Writer) error) error
	// Manifest stores a manifest or an index, by digest.
	Manifest(desc ocispec.Descriptor, data []byte) error
}

// Built describes an image Build made.
type Built struct {
	// Manifest is the manifest's descriptor, with the image's Platform.
	Manifest ocispec.Descriptor
	// Config is the image config's descriptor.
	Config ocispec.Descriptor
	// Layers are the layer blobs' descriptors, bottom first.
	Layers []ocispec.Descriptor
	// DiffIDs are the digests of the uncompressed layers, bottom first.
	DiffIDs []digest.Digest
}

// ChainID is the chain ID of the top layer: the key containerd's unpacker
// commits the image's top snapshot under.
func (b *Built) ChainID() digest.Digest { return identity.ChainID(b.DiffIDs) }

// mediaTypes of one manifest format.
type mediaTypes struct {
	manifest, config, layer, layerGzip, layerZstd string
}

var (
	ociTypes = mediaTypes{
		manifest: ocispec.MediaTypeImageManifest, config: ocispec.MediaTypeImageConfig,
		layer: ocispec.MediaTypeImageLayer, layerGzip: ocispec.MediaTypeImageLayerGzip, layerZstd: ocispec.MediaTypeImageLayerZstd,
	}
	dockerTypes = mediaTypes{
		manifest: MediaTypeDockerManifest, config: MediaTypeDockerConfig,
		layer: MediaTypeDockerLayer, layerGzip: MediaTypeDockerLayerGzip, layerZstd: MediaTypeDockerLayerZstd,
	}
)

func (img *Image) mediaTypes() mediaTypes {
	if img.Docker {
		return dockerTypes
	}
	return ociTypes
}

func (mt mediaTypes) layerType(l *Layer) string {
	switch {
	case l.Gzip:
		return mt.layerGzip
	case l.Zstd:
		return mt.layerZstd
	}
	return mt.layer
}

// Build makes the image's layers, config and manifest and hands them to s
// (Name is not used: see WriteLayout and a registry's tag for naming).
// Layers are generated twice (once to learn their digests, once to write
// them) unless they are small, so large generated files are never held in
// memory.
func (img *Image) Build(s Sink) (*Built, error) {
	if len(img.Layers) == 0 {
		return nil, errors.New("image has no layers")
	}
	layers := make([]*layerBlob, len(img.Layers))
	for i := range img.Layers {
		lb, err := measure(&img.Layers[i], keepLimit)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		layers[i] = lb
	}
	configJSON, err := json.Marshal(img.configBlob(layers))
	if err != nil {
		return nil, fmt.Errorf("marshal image config: %w", err)
	}
	mt := img.mediaTypes()
	b := &Built{Config: jsonDescriptor(mt.config, configJSON)}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: mt.manifest,
		Config:    b.Config,
	}
	for i, lb := range layers {
		desc := ocispec.Descriptor{MediaType: mt.layerType(lb.layer), Digest: lb.digest, Size: lb.size}
		if err := s.Blob(desc, lb.writeTo); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		manifest.Layers = append(manifest.Layers, desc)
		b.DiffIDs = append(b.DiffIDs, lb.diffID)
	}
	b.Layers = manifest.Layers
	if err := s.Blob(b.Config, bytesWriter(configJSON)); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return nil, fmt.Errorf("marshal manifest: %w", err)
	}
	b.Manifest = jsonDescriptor(mt.manifest, manifestJSON)
	if err := s.Manifest(b.Manifest, manifestJSON); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	platform := img.platform()
	b.Manifest.Platform = &platform
	return b, nil
}

// Index is a multi-platform image: one image per platform under one name.
type Index struct {
	// Name is the full reference, as Image.Name.
	Name string
	// Docker writes a Docker manifest list instead of an OCI index.
	Docker bool
	// Images are the per-platform images (their Name is not used); each
	// sets its Platform.
	Images []*Image
}

// Build makes every image, then the index naming their manifests with
// their platforms, and hands them to s. It returns the index's descriptor
// and what Build returned for each image, in order.
func (idx *Index) Build(s Sink) (ocispec.Descriptor, []*Built, error) {
	if len(idx.Images) == 0 {
		return ocispec.Descriptor{}, nil, errors.New("index has no images")
	}
	mediaType := ocispec.MediaTypeImageIndex
	if idx.Docker {
		mediaType = MediaTypeDockerManifestList
	}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mediaType}
	var built []*Built
	for i, img := range idx.Images {
		b, err := img.Build(s)
		if err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("index %s: image %d (%s): %w", idx.Name, i, img.platform().Architecture, err)
		}
		built = append(built, b)
		index.Manifests = append(index.Manifests, b.Manifest)
	}
	data, err := json.Marshal(index)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("marshal index: %w", err)
	}
	desc := jsonDescriptor(mediaType, data)
	if err := s.Manifest(desc, data); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("index %s: %w", idx.Name, err)
	}
	return desc, built, nil
}

// Ref returns the full name of the index, with ":latest" added when Name
// has no tag.
func (idx *Index) Ref() string {
	name, tag := splitTag(idx.Name)
	return name + ":" + tag
}

func bytesWriter(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

func jsonDescriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}
