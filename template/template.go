// Package template makes ZFS templates of OCI images for plain LXC
// containers: the image's layers unpacked, in order, onto one dataset
// <parent>/<name>, frozen as <parent>/<name>@template (readonly=on), with
// the image config and digest kept in user properties of the dataset.
// Containers are `zfs clone`s of that snapshot (package standalone), so a
// container costs no copy whatever the image size.
//
// Properties of a template dataset (docs/templates.md):
//
//	io.zfslxc:template      the template name (marks the dataset as one)
//	io.zfslxc:image-digest  digest of the image manifest (the cache key)
//	io.zfslxc:source        where it was made from
//	io.zfslxc:config        the image config (ocispec.ImageConfig) as
//	                        base64 JSON, split over io.zfslxc:config.0, .1,
//	                        … when longer than one property value may be;
//	                        io.zfslxc:config holds the number of parts
//
// A dataset without its @template snapshot is an interrupted create: the
// next create of that name destroys it and starts over.
package template

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zfslxc/zfslxc/zfsdriver"
)

// User properties of a template dataset.
const (
	PropTemplate = "io.zfslxc:template"
	PropDigest   = "io.zfslxc:image-digest"
	PropSource   = "io.zfslxc:source"
	PropConfig   = "io.zfslxc:config"
)

// SnapshotName is the snapshot every container is cloned from.
const SnapshotName = "template"

// DefaultParentName is the parent dataset under a pool: <pool>/zfslxc-templates.
const DefaultParentName = "zfslxc-templates"

// ContainerPrefix starts the names of container clones under the parent
// (package standalone); template names may not start with it.
const ContainerPrefix = "ct-"

// configChunk is the size of one part of io.zfslxc:config: zfs-fuse and
// old pools cap a property value at 1024 bytes.
const configChunk = 1000

// Template is a template as found on ZFS.
type Template struct {
	Name     string        `json:"name"`
	Dataset  string        `json:"dataset"`
	Snapshot string        `json:"snapshot"`
	Digest   digest.Digest `json:"image_digest"`
	// Source is where the template was made from: an OCI layout path,
	// or containerd:NAMESPACE:REF.
	Source string `json:"source,omitempty"`
	// ReusedLayer is the snapshotter's committed layer snapshot the
	// template is a clone of (no copy); "" when the layers were unpacked.
	// That layer's dataset cannot be destroyed while the template exists.
	ReusedLayer string              `json:"reused_layer,omitempty"`
	Config      ocispec.ImageConfig `json:"config"`
	// Size is what the template's files take (referenced).
	Size uint64 `json:"size"`
	// Clones are the datasets cloned from Snapshot.
	Clones []string `json:"clones"`
}

// Store manages the templates under one parent dataset.
type Store struct {
	zfs    *zfsdriver.Driver
	parent string
}

// NewStore returns the store of templates under parent (created on the
// first Create).
func NewStore(zfs *zfsdriver.Driver, parent string) (*Store, error) {
	if err := zfsdriver.ValidateDataset(parent); err != nil {
		return nil, fmt.Errorf("template dataset %q: %w", parent, err)
	}
	return &Store{zfs: zfs, parent: parent}, nil
}

// Parent returns the parent dataset.
func (s *Store) Parent() string { return s.parent }

// Driver returns the zfs driver.
func (s *Store) Driver() *zfsdriver.Driver { return s.zfs }

// Dataset returns the dataset of template name.
func (s *Store) Dataset(name string) string { return s.parent + "/" + name }

// ValidateName checks a template (or container) name: one dataset name
// component, not starting with ContainerPrefix.
func ValidateName(name string) error {
	if name == "" || strings.ContainsAny(name, "/@# ") {
		return fmt.Errorf("name %q: must be one dataset name component: %w", name, errdefs.ErrInvalidArgument)
	}
	if err := zfsdriver.ValidateDataset("p/" + name); err != nil {
		return fmt.Errorf("name %q: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// validateTemplateName checks a new template's name: ValidateName, not a
// container's prefix, and short enough that <parent>/NAME@template is a
// zfs name, so a create is refused before it makes a dataset.
func (s *Store) validateTemplateName(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, ContainerPrefix) {
		return fmt.Errorf("template name %q: %q starts container datasets: %w", name, ContainerPrefix, errdefs.ErrInvalidArgument)
	}
	if err := zfsdriver.ValidateSnapshot(s.Dataset(name) + "@" + SnapshotName); err != nil {
		return fmt.Errorf("template name %q is too long for its snapshot under %s: %v: %w", name, s.parent, err, errdefs.ErrInvalidArgument)
	}
	return nil
}

// CreateResult says what Create did.
type CreateResult struct {
	Template *Template
	// Cached is set when the template already held this image: nothing
	// was done.
	Cached bool
	// Reused is the snapshotter's committed layer snapshot the template
	// was cloned from (no unpack, no copy); "" when the layers were
	// unpacked.
	Reused string
	// Elapsed is the time the unpack (or clone) took.
	Elapsed time.Duration
}

// source is an image to make a template from, already resolved to one
// manifest.
type source struct {
	img *image
	// desc is the io.zfslxc:source value: a path, or containerd:NS:REF.
	desc string
	// open opens a layer blob.
	open func(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
	// findReuse returns a committed snapshot of the snapshotter that holds
	// the image's whole layer chain, or "" (may be nil).
	findReuse func(ctx context.Context) (string, error)
}

// Create makes template name from the OCI image layout (tar or directory)
// at from. Progress lines go to progress (may be nil). A template of that
// name with the same image digest is a cache hit; with another image it is
// an AlreadyExists error.
func (s *Store) Create(ctx context.Context, name, from string, progress io.Writer) (*CreateResult, error) {
	if err := s.validateTemplateName(name); err != nil {
		return nil, err
	}
	l, err := openLayout(from)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	img, err := readImage(l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return s.create(ctx, name, layoutSource(l, img, from), progress)
}

// layoutSource reads the blobs of img from an OCI layout.
func layoutSource(l layout, img *image, desc string) *source {
	return &source{img: img, desc: desc, open: func(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
		p, err := blobPath(d.Digest)
		if err != nil {
			return nil, err
		}
		return l.open(p)
	}}
}

// create makes template name from src: a cache hit when the template
// holds the image already; a clone of the snapshotter's layer snapshot
// when src finds one; else the layers unpacked onto a new dataset.
func (s *Store) create(ctx context.Context, name string, src *source, progress io.Writer) (_ *CreateResult, retErr error) {
	if progress == nil {
		progress = io.Discard
	}
	img := src.img
	for i, ld := range img.layers {
		if !layerSupported(ld.MediaType) {
			return nil, fmt.Errorf("layer %d (%s): media type %q: %w", i, ld.Digest, ld.MediaType, errdefs.ErrNotImplemented)
		}
	}
	ds := s.Dataset(name)
	existing, err := s.Get(ctx, name)
	switch {
	case err == nil && existing.Digest == img.digest:
		return &CreateResult{Template: existing, Cached: true}, nil
	case err == nil:
		return nil, fmt.Errorf("template %s exists with image %s (not %s): remove it first: %w",
			name, existing.Digest, img.digest, errdefs.ErrAlreadyExists)
	case !errdefs.IsNotFound(err):
		return nil, err
	}
	// A dataset without @template is an interrupted create (or not ours).
	if ok, err := s.zfs.Exists(ctx, ds); err != nil {
		return nil, err
	} else if ok {
		props, err := s.zfs.Get(ctx, ds, PropTemplate)
		if err != nil {
			return nil, err
		}
		if v := props[PropTemplate]; !v.IsSet() || v.Value != name {
			return nil, fmt.Errorf("dataset %s exists and is not a zfslxc template: %w", ds, errdefs.ErrAlreadyExists)
		}
		fmt.Fprintf(progress, "destroying %s left by an interrupted create\n", ds)
		if err := s.zfs.Destroy(ctx, ds, zfsdriver.DestroyOptions{Recursive: true}); err != nil {
			return nil, err
		}
	}
	var reuse string
	if src.findReuse != nil {
		if reuse, err = src.findReuse(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	cfgProps, err := configProps(img.config.Config)
	if err != nil {
		return nil, err
	}
	props := map[string]string{
		PropTemplate:            name,
		PropSource:              src.desc,
		"com.sun:auto-snapshot": "false",
	}
	if reuse != "" {
		// The snapshotter's committed top layer already holds the image's
		// whole filesystem: clone it (O(1), no copy). Its dataset cannot be
		// destroyed while this template exists (docs/templates.md).
		fmt.Fprintf(progress, "reusing the snapshotter's layer %s (chain %s): zfs clone, nothing to unpack\n", reuse, img.chainID)
		if err := s.ensureParent(ctx); err != nil {
			return nil, err
		}
		if err := s.zfs.Clone(ctx, reuse, ds, zfsdriver.CloneOptions{Properties: props}); err != nil {
			return nil, fmt.Errorf("template %s: clone %s: %w", name, reuse, err)
		}
	} else if err := s.zfs.Create(ctx, ds, zfsdriver.CreateOptions{Parents: true, Properties: props}); err != nil {
		return nil, err
	}
	// A failed create leaves nothing: a half-unpacked dataset is never a
	// template, and would hold the pool's space until the next create.
	defer func() {
		if retErr == nil {
			return
		}
		if err := s.zfs.Destroy(context.WithoutCancel(ctx), ds, zfsdriver.DestroyOptions{Recursive: true}); err != nil && !zfsdriver.IsNotFound(err) {
			retErr = fmt.Errorf("%w (and destroying %s: %v)", retErr, ds, err)
		}
	}()
	if reuse == "" {
		if err := s.unpack(ctx, ds, src, progress); err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
	}
	// The digest goes last before the snapshot: it is the cache key.
	cfgProps[PropDigest] = img.digest.String()
	if err := s.zfs.Set(ctx, ds, cfgProps); err != nil {
		return nil, err
	}
	if err := s.zfs.Snapshot(ctx, []string{ds + "@" + SnapshotName}, zfsdriver.SnapshotOptions{}); err != nil {
		return nil, err
	}
	if err := s.zfs.Set(ctx, ds, map[string]string{"readonly": "on"}); err != nil {
		return nil, err
	}
	t, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return &CreateResult{Template: t, Reused: reuse, Elapsed: time.Since(start)}, nil
}

// ensureParent creates the parent dataset (and its parents) when missing.
func (s *Store) ensureParent(ctx context.Context) error {
	ok, err := s.zfs.Exists(ctx, s.parent)
	if err != nil || ok {
		return err
	}
	err = s.zfs.Create(ctx, s.parent, zfsdriver.CreateOptions{Parents: true})
	if errors.Is(err, zfsdriver.ErrExists) {
		return nil
	}
	return err
}

// unpack applies the layers in order on the dataset's mountpoint.
func (s *Store) unpack(ctx context.Context, ds string, src *source, progress io.Writer) error {
	root, err := s.zfs.GetProperty(ctx, ds, "mountpoint")
	if err != nil {
		return err
	}
	if mounted, err := s.zfs.GetProperty(ctx, ds, "mounted"); err == nil && mounted != "yes" {
		if err := s.zfs.Mount(ctx, ds); err != nil {
			return err
		}
	}
	img := src.img
	for i, ld := range img.layers {
		fmt.Fprintf(progress, "layer %d/%d %s (%s)\n", i+1, len(img.layers), ld.Digest, humanSize(ld.Size))
		var diffID digest.Digest
		if ids := img.config.RootFS.DiffIDs; len(ids) == len(img.layers) {
			diffID = ids[i]
		}
		applied, err := applyLayer(ctx, root, src, ld, diffID, progress)
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i, ld.Digest, err)
		}
		fmt.Fprintf(progress, "layer %d/%d applied: %d bytes (%s) of files from %d bytes of blob\n",
			i+1, len(img.layers), applied, humanSize(applied), ld.Size)
	}
	return nil
}

// progressEvery is how often a long layer reports how far it got.
const progressEvery = 5 * time.Second

// progressReader prints how much of a blob was read, at most every
// progressEvery.
type progressReader struct {
	r     io.Reader
	w     io.Writer
	total int64
	n     int64
	last  time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		pct := 0
		if p.total > 0 {
			pct = int(p.n * 100 / p.total)
		}
		fmt.Fprintf(p.w, "  %s of %s (%d%%)\n", humanSize(p.n), humanSize(p.total), pct)
	}
	return n, err
}

// applyLayer applies one layer blob on root and returns the number of
// bytes of the uncompressed tar it applied. The blob must match ld's
// digest and, when diffID is set, the uncompressed tar the config's
// diff_id (containerd refuses an image whose diff_ids lie).
func applyLayer(ctx context.Context, root string, src *source, ld ocispec.Descriptor, diffID digest.Digest, progress io.Writer) (int64, error) {
	rc, err := src.open(ctx, ld)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	verifier := ld.Digest.Verifier()
	pr := &progressReader{r: io.TeeReader(rc, verifier), w: progress, total: ld.Size, last: time.Now()}
	dr, err := compression.DecompressStream(pr)
	if err != nil {
		return 0, err
	}
	var diffDigester digest.Digester
	var untarred io.Reader = dr
	if diffID != "" {
		if err := diffID.Validate(); err != nil {
			dr.Close()
			return 0, fmt.Errorf("config diff_id %q: %v: %w", diffID, err, errdefs.ErrInvalidArgument)
		}
		diffDigester = diffID.Algorithm().Digester()
		untarred = io.TeeReader(dr, diffDigester.Hash())
	}
	tr := &countReader{r: untarred}
	// Apply removes whiteouts' targets and empties opaque directories, as
	// the layers of an image mean on a plain directory.
	if _, err := archive.Apply(ctx, root, tr); err != nil {
		dr.Close()
		return 0, err
	}
	// Read what the tar reader left (padding), then close the decompressor
	// (with unpigz/igzip a goroutine reads the blob until then), then the
	// rest of the blob, so the digest covers all of it.
	if _, err := io.Copy(io.Discard, tr); err != nil {
		dr.Close()
		return 0, err
	}
	if err := dr.Close(); err != nil {
		return 0, err
	}
	if _, err := io.Copy(io.Discard, pr); err != nil {
		return 0, err
	}
	if !verifier.Verified() {
		return 0, fmt.Errorf("blob content does not match its digest: %w", errdefs.ErrDataLoss)
	}
	if diffDigester != nil && diffDigester.Digest() != diffID {
		return 0, fmt.Errorf("uncompressed layer is %s, the image config's diff_id says %s: %w", diffDigester.Digest(), diffID, errdefs.ErrDataLoss)
	}
	return tr.n, nil
}

// configProps encodes an image config as the io.zfslxc:config properties.
func configProps(cfg ocispec.ImageConfig) (map[string]string, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(data)
	props := map[string]string{}
	n := 0
	for len(enc) > 0 {
		k := min(configChunk, len(enc))
		props[PropConfig+"."+strconv.Itoa(n)] = enc[:k]
		enc = enc[k:]
		n++
	}
	props[PropConfig] = strconv.Itoa(n)
	return props, nil
}

// decodeConfig reverses configProps.
func decodeConfig(props map[string]zfsdriver.Property) (ocispec.ImageConfig, error) {
	var cfg ocispec.ImageConfig
	n, err := strconv.Atoi(props[PropConfig].Value)
	if err != nil {
		return cfg, fmt.Errorf("%s=%q: %w", PropConfig, props[PropConfig].Value, errdefs.ErrDataLoss)
	}
	var b strings.Builder
	for i := range n {
		p, ok := props[PropConfig+"."+strconv.Itoa(i)]
		if !ok || !p.IsSet() {
			return cfg, fmt.Errorf("%s.%d missing: %w", PropConfig, i, errdefs.ErrDataLoss)
		}
		b.WriteString(p.Value)
	}
	data, err := base64.StdEncoding.DecodeString(b.String())
	if err != nil {
		return cfg, fmt.Errorf("%s: %v: %w", PropConfig, err, errdefs.ErrDataLoss)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %v: %w", PropConfig, err, errdefs.ErrDataLoss)
	}
	return cfg, nil
}

// Get returns template name; NotFound unless its dataset has its
// @template snapshot.
func (s *Store) Get(ctx context.Context, name string) (*Template, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	all, err := s.list(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("template %s: %w", name, errdefs.ErrNotFound)
	}
	return &all[0], nil
}

// List returns every template, by name.
func (s *Store) List(ctx context.Context) ([]Template, error) { return s.list(ctx, "") }

// list returns the templates (only name when not empty), with their clones.
func (s *Store) list(ctx context.Context, only string) ([]Template, error) {
	all, err := s.zfs.List(ctx, s.parent, zfsdriver.ListOptions{Depth: 1})
	if zfsdriver.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, d := range all {
		name, ok := strings.CutPrefix(d.Name, s.parent+"/")
		if !ok || strings.Contains(name, "/") || (only != "" && name != only) {
			continue
		}
		snap := d.Name + "@" + SnapshotName
		if ok, err := s.zfs.Exists(ctx, snap); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		props, err := s.zfs.Get(ctx, d.Name, PropTemplate, PropDigest, PropSource, PropConfig)
		if err != nil {
			return nil, err
		}
		if props[PropTemplate].Value != name || !props[PropDigest].IsSet() {
			continue
		}
		n, _ := strconv.Atoi(props[PropConfig].Value)
		if n > 0 {
			parts := make([]string, n)
			for i := range n {
				parts[i] = PropConfig + "." + strconv.Itoa(i)
			}
			more, err := s.zfs.Get(ctx, d.Name, parts...)
			if err != nil {
				return nil, err
			}
			for k, v := range more {
				props[k] = v
			}
		}
		cfg, err := decodeConfig(props)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		t := Template{
			Name: name, Dataset: d.Name, Snapshot: snap,
			Digest: digest.Digest(props[PropDigest].Value), Config: cfg,
			Size: d.Referenced, Clones: []string{}, ReusedLayer: d.Origin,
		}
		if v := props[PropSource]; v.IsSet() {
			t.Source = v.Value
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return out, nil
	}
	// Clones: every filesystem of the pool whose origin is a template.
	pool, _, _ := strings.Cut(s.parent, "/")
	every, err := s.zfs.List(ctx, pool, zfsdriver.ListOptions{Depth: -1})
	if err != nil {
		return nil, err
	}
	for i := range out {
		for _, d := range every {
			if d.Origin == out[i].Snapshot {
				out[i].Clones = append(out[i].Clones, d.Name)
			}
		}
		sort.Strings(out[i].Clones)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove destroys template name. With clones it is refused
// (FailedPrecondition naming them) unless force, which destroys the clones
// first. It returns what it destroyed.
func (s *Store) Remove(ctx context.Context, name string, force bool) ([]string, error) {
	t, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(t.Clones) > 0 && !force {
		return nil, fmt.Errorf("template %s has clones %s (remove those containers, or --force destroys them): %w",
			name, strings.Join(t.Clones, ", "), errdefs.ErrFailedPrecondition)
	}
	var destroyed []string
	for _, c := range t.Clones {
		if err := s.zfs.Destroy(ctx, c, zfsdriver.DestroyOptions{Recursive: true, Force: true}); err != nil && !zfsdriver.IsNotFound(err) {
			return destroyed, err
		}
		destroyed = append(destroyed, c)
	}
	if err := s.zfs.Destroy(ctx, t.Dataset, zfsdriver.DestroyOptions{Recursive: true, Force: true}); err != nil && !zfsdriver.IsNotFound(err) {
		return destroyed, err
	}
	return append(destroyed, t.Dataset), nil
}

// Prune destroys every template without clones and returns their names.
func (s *Store) Prune(ctx context.Context) ([]string, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var pruned []string
	for _, t := range all {
		if len(t.Clones) > 0 {
			continue
		}
		if _, err := s.Remove(ctx, t.Name, false); err != nil {
			if errors.Is(err, errdefs.ErrFailedPrecondition) {
				continue // cloned meanwhile
			}
			return pruned, err
		}
		pruned = append(pruned, t.Name)
	}
	return slices.Clip(pruned), nil
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
