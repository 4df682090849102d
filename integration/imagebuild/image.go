package imagebuild

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationImageName is containerd's annotation naming an image in full
// ("docker.io/zfslxc/test:latest"); `ctr images import` uses it as is.
const AnnotationImageName = "io.containerd.image.name"

// Image is an OCI image to build: a config and layers, bottom layer first.
type Image struct {
	// Name is the full reference the image is imported as, e.g.
	// "docker.io/zfslxc/test:latest". A name without a tag gets ":latest".
	Name string
	// Config is the runtime configuration (Entrypoint, Cmd, Env, User,
	// WorkingDir, StopSignal…) stored in the image config.
	Config ocispec.ImageConfig
	// Layers are applied in order, the first one at the bottom.
	Layers []Layer
	// Platform defaults to linux on the architecture of this process
	// (linux/amd64 here): the layers usually carry host binaries, and ctr
	// imports only the host platform unless told otherwise.
	Platform ocispec.Platform
	// Docker writes Docker image manifest v2 schema 2 media types
	// (manifest, config, layers) instead of OCI ones.
	Docker bool
}

// Ref returns the full name the image is imported as: Name, with ":latest"
// added when Name has no tag.
func (img *Image) Ref() string {
	name, tag := splitTag(img.Name)
	return name + ":" + tag
}

// Tag returns the tag of Ref, written as the
// org.opencontainers.image.ref.name annotation.
func (img *Image) Tag() string {
	_, tag := splitTag(img.Name)
	return tag
}

// splitTag splits "host/repo:tag" into "host/repo" and "tag" (default
// "latest"); a colon before the last slash is a registry port.
func splitTag(ref string) (name, tag string) {
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, "latest"
}

// platform returns Platform with its defaults filled in.
func (img *Image) platform() ocispec.Platform {
	p := img.Platform
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		p.Architecture = runtime.GOARCH
	}
	return p
}

// validate checks what WriteLayout cannot recover from later.
func (img *Image) validate() error {
	if img.Name == "" {
		return errors.New("image has no name")
	}
	if strings.Contains(img.Name, "@") {
		return fmt.Errorf("image name %q: digest references are not supported", img.Name)
	}
	if img.Tag() == "" {
		return fmt.Errorf("image name %q: empty tag", img.Name)
	}
	if len(img.Layers) == 0 {
		return errors.New("image has no layers")
	}
	return nil
}

// configBlob returns the image config for the measured layers.
func (img *Image) configBlob(layers []*layerBlob) ocispec.Image {
	created := epoch
	p := img.platform()
	cfg := ocispec.Image{
		Created:  &created,
		Platform: p,
		Config:   img.Config,
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	for i, lb := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, lb.diffID)
		cfg.History = append(cfg.History, ocispec.History{
			Created:   &created,
			CreatedBy: fmt.Sprintf("imagebuild layer %d (%d entries)", i, len(lb.layer.Entries)),
		})
	}
	return cfg
}
