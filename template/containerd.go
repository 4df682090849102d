package template

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/core/content"
	contentproxy "github.com/containerd/containerd/v2/core/content/proxy"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	snapshotproxy "github.com/containerd/containerd/v2/core/snapshots/proxy"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// ErrImageNotInStore is CreateFromContainerd's error for an image that is
// not in containerd's image store (Pull it first); it is NotFound.
var ErrImageNotInStore = fmt.Errorf("image not in containerd's store: %w", errdefs.ErrNotFound)

// ContainerdSource names an image in containerd's image store.
type ContainerdSource struct {
	// Ref is the image name, as `ctr images ls` shows it
	// ("docker.io/library/busybox:latest"); it is not normalized.
	Ref string
	// Address of containerd's gRPC socket (default
	// containerdconfig.DefaultContainerdAddress).
	Address string
	// Namespace of the image (default "default").
	Namespace string
	// Snapshotter is the name the zfslxc snapshotter has in containerd
	// (default "zfslxc"): its committed layers are reused.
	Snapshotter string
	// Platform to pick from a multi-platform image (default: this
	// machine's).
	Platform string
}

func (c *ContainerdSource) defaults() {
	if c.Address == "" {
		c.Address = containerdconfig.DefaultContainerdAddress
	}
	if c.Namespace == "" {
		c.Namespace = containerdconfig.DefaultNamespace
	}
	if c.Snapshotter == "" {
		c.Snapshotter = containerdconfig.DefaultSnapshotterName
	}
}

// SourceString is the io.zfslxc:source value of a template made from an
// image in containerd: containerd:NAMESPACE:REF.
func (c ContainerdSource) SourceString() string {
	c.defaults()
	return "containerd:" + c.Namespace + ":" + c.Ref
}

// CreateFromContainerd makes template name from an image in containerd's
// store, read through containerd's gRPC API (images, content, snapshots;
// containerd 1.6 and 2.x serve the same API). When the zfslxc snapshotter
// has the image's layer chain committed in that namespace, the template is
// a zfs clone of the top layer's @committed snapshot (no unpack, no copy);
// else the layers are read from the content store and unpacked as Create
// does. An image that is not there is NotFound, naming it.
func (s *Store) CreateFromContainerd(ctx context.Context, name string, cs ContainerdSource, progress io.Writer) (*CreateResult, error) {
	if err := s.validateTemplateName(name); err != nil {
		return nil, err
	}
	cs.defaults()
	if cs.Ref == "" {
		return nil, fmt.Errorf("image reference: empty: %w", errdefs.ErrInvalidArgument)
	}
	conn, err := grpc.NewClient("unix://"+cs.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("containerd at %s: %w", cs.Address, err)
	}
	defer conn.Close()
	ctx = namespaces.WithNamespace(ctx, cs.Namespace)
	img, err := resolveContainerdImage(ctx, conn, cs)
	if err != nil {
		return nil, err
	}
	store := contentproxy.NewContentStore(conn)
	src := &source{
		img:  img,
		desc: cs.SourceString(),
		open: func(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
			ra, err := store.ReaderAt(ctx, d)
			if err != nil {
				return nil, fmt.Errorf("blob %s in containerd's content store: %w", d.Digest, errgrpc.ToNative(err))
			}
			return readerAtCloser{Reader: content.NewReader(ra), c: ra}, nil
		},
		findReuse: func(ctx context.Context) (string, error) {
			return s.findCommittedChain(ctx, conn, cs, img)
		},
	}
	return s.create(ctx, name, src, progress)
}

type readerAtCloser struct {
	io.Reader
	c io.Closer
}

func (r readerAtCloser) Close() error { return r.c.Close() }

// resolveContainerdImage reads the image's manifest for the platform and
// its config from containerd.
func resolveContainerdImage(ctx context.Context, conn *grpc.ClientConn, cs ContainerdSource) (*image, error) {
	resp, err := imagesapi.NewImagesClient(conn).Get(ctx, &imagesapi.GetImageRequest{Name: cs.Ref})
	if err != nil {
		err = errgrpc.ToNative(err)
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %q is not in containerd's namespace %q (%s; see ctr -n %s images ls): %w",
				cs.Ref, cs.Namespace, cs.Address, cs.Namespace, ErrImageNotInStore)
		}
		if errdefs.IsUnavailable(err) {
			return nil, fmt.Errorf("image %q: containerd does not answer on %s (is it running? --address names its socket): %w", cs.Ref, cs.Address, err)
		}
		return nil, fmt.Errorf("image %q from containerd at %s: %w", cs.Ref, cs.Address, err)
	}
	t := resp.Image.GetTarget()
	target := ocispec.Descriptor{MediaType: t.GetMediaType(), Digest: digest.Digest(t.GetDigest()), Size: t.GetSize(), Annotations: t.GetAnnotations()}
	matcher := platforms.Default()
	if cs.Platform != "" {
		p, err := platforms.Parse(cs.Platform)
		if err != nil {
			return nil, fmt.Errorf("platform %q: %v: %w", cs.Platform, err, errdefs.ErrInvalidArgument)
		}
		matcher = platforms.Only(p)
	}
	store := contentproxy.NewContentStore(conn)
	mdesc, m, err := resolveManifest(ctx, store, target, matcher)
	if err != nil {
		return nil, fmt.Errorf("image %q (%s): %w", cs.Ref, platformName(cs.Platform), err)
	}
	img := &image{digest: mdesc.Digest, layers: m.Layers}
	data, err := content.ReadBlob(ctx, store, m.Config)
	if err != nil {
		return nil, fmt.Errorf("image %q: config %s: %w", cs.Ref, m.Config.Digest, errgrpc.ToNative(err))
	}
	if err := json.Unmarshal(data, &img.config); err != nil {
		return nil, fmt.Errorf("image %q: config %s: %v: %w", cs.Ref, m.Config.Digest, err, errdefs.ErrDataLoss)
	}
	if err := img.checkImage(); err != nil {
		return nil, err
	}
	return img, nil
}

func platformName(p string) string {
	if p == "" {
		return platforms.DefaultString()
	}
	return p
}

// resolveManifest follows indexes from target to the manifest for the
// platform (the best match, as containerd orders them) and returns it with
// its descriptor: the manifest's digest is the cache key, as for an OCI
// layout.
func resolveManifest(ctx context.Context, store content.Provider, target ocispec.Descriptor, matcher platforms.MatchComparer) (ocispec.Descriptor, ocispec.Manifest, error) {
	desc := target
	for depth := 0; depth < 8; depth++ {
		data, err := content.ReadBlob(ctx, store, desc)
		if err != nil {
			return desc, ocispec.Manifest{}, fmt.Errorf("blob %s: %w", desc.Digest, errgrpc.ToNative(err))
		}
		switch desc.MediaType {
		case ocispec.MediaTypeImageManifest, images.MediaTypeDockerSchema2Manifest:
			var m ocispec.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				return desc, m, fmt.Errorf("manifest %s: %v: %w", desc.Digest, err, errdefs.ErrDataLoss)
			}
			return desc, m, nil
		case ocispec.MediaTypeImageIndex, images.MediaTypeDockerSchema2ManifestList:
			var idx ocispec.Index
			if err := json.Unmarshal(data, &idx); err != nil {
				return desc, ocispec.Manifest{}, fmt.Errorf("index %s: %v: %w", desc.Digest, err, errdefs.ErrDataLoss)
			}
			var match []ocispec.Descriptor
			for _, d := range idx.Manifests {
				if d.Platform == nil || matcher.Match(*d.Platform) {
					match = append(match, d)
				}
			}
			if len(match) == 0 {
				return desc, ocispec.Manifest{}, fmt.Errorf("index %s lists no manifest for this platform: %w", desc.Digest, errdefs.ErrNotFound)
			}
			sort.SliceStable(match, func(i, j int) bool {
				if match[i].Platform == nil || match[j].Platform == nil {
					return match[j].Platform == nil && match[i].Platform != nil
				}
				return matcher.Less(*match[i].Platform, *match[j].Platform)
			})
			desc = match[0]
		default:
			return desc, ocispec.Manifest{}, fmt.Errorf("%s: media type %q: %w", desc.Digest, desc.MediaType, errdefs.ErrNotImplemented)
		}
	}
	return desc, ocispec.Manifest{}, fmt.Errorf("indexes nested too deep below %s", target.Digest)
}

// findCommittedChain returns <layer dataset>@committed of the zfslxc
// snapshotter holding the image's top chain id in the namespace, or ""
// when containerd has no such committed snapshot in that snapshotter (the
// image is not unpacked there) or its dataset is not on this template's
// pool.
//
// containerd names a committed layer by its chain id; its metadata layer
// prefixes the key the snapshotter sees with "<namespace>/<n>/" (1.6 and
// 2.x alike), and the snapshotter's Commit records that key in
// io.zfslxc:key on <dataset>/<id>@committed.
func (s *Store) findCommittedChain(ctx context.Context, conn *grpc.ClientConn, cs ContainerdSource, img *image) (string, error) {
	if img.chainID == "" {
		return "", nil
	}
	sn := snapshotproxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), cs.Snapshotter)
	info, err := sn.Stat(ctx, img.chainID.String())
	if err != nil {
		err = errgrpc.ToNative(err)
		if errdefs.IsNotFound(err) {
			return "", nil
		}
		// A containerd without that snapshotter: unpack instead.
		log.G(ctx).WithError(err).WithField("snapshotter", cs.Snapshotter).Info("cannot ask the snapshotter for the image's layers; unpacking")
		return "", nil
	}
	if info.Kind != snapshots.KindCommitted {
		return "", nil
	}
	return s.findCommittedDataset(ctx, cs.Namespace, img.chainID.String())
}

// keyPattern matches the backend key containerd's metadata layer gives a
// snapshot: <namespace>/<number>/<name>.
var keyPattern = regexp.MustCompile(`^([^/]+)/[0-9]+/(.+)$`)

// findCommittedDataset looks in the template's pool for a committed
// snapshot of a zfslxc snapshotter (<parent>/<number>@committed) whose
// io.zfslxc:key is name in namespace. With several
// (stale ones kept because a template is cloned from them), the newest id
// wins; their content is the same chain.
func (s *Store) findCommittedDataset(ctx context.Context, namespace, name string) (string, error) {
	pool, _, _ := strings.Cut(s.parent, "/")
	snaps, err := s.zfs.List(ctx, pool, zfsdriver.ListOptions{Depth: -1, Types: []zfsdriver.DatasetType{zfsdriver.Snapshot}})
	if err != nil {
		return "", err
	}
	type candidate struct {
		snap string
		id   uint64
	}
	var cands []candidate
	for _, d := range snaps {
		_, id, ok := ondisk.ParseCommitted(d.Name)
		if !ok {
			continue
		}
		// The parent is not required to carry io.zfslxc:managed: the
		// snapshotter sets it only on a parent it creates itself.
		cands = append(cands, candidate{snap: d.Name, id: id})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].id > cands[j].id })
	for _, c := range cands {
		v, err := s.zfs.GetProperty(ctx, c.snap, ondisk.PropKey)
		if zfsdriver.IsNotFound(err) {
			continue // destroyed meanwhile
		}
		if err != nil {
			return "", err
		}
		key, err := ondisk.ParseKeyProp(v)
		if err != nil {
			continue
		}
		if k := keyPattern.FindStringSubmatch(key); k != nil && k[1] == namespace && k[2] == name {
			return c.snap, nil
		}
	}
	return "", nil
}

// UnpackedIn reports whether image cs.Ref of cs.Namespace is unpacked in
// snapshotter cs.Snapshotter: its top layer's chain id is a committed
// snapshot there (what containerd's Image.IsUnpacked checks). An image
// that is not there is NotFound. `zfslxc doctor` asks it of the CRI's
// sandbox image.
func UnpackedIn(ctx context.Context, cs ContainerdSource) (bool, error) {
	cs.defaults()
	conn, err := grpc.NewClient("unix://"+cs.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false, fmt.Errorf("containerd at %s: %w", cs.Address, err)
	}
	defer conn.Close()
	ctx = namespaces.WithNamespace(ctx, cs.Namespace)
	img, err := resolveContainerdImage(ctx, conn, cs)
	if err != nil {
		return false, err
	}
	if img.chainID == "" {
		return false, nil
	}
	sn := snapshotproxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), cs.Snapshotter)
	info, err := sn.Stat(ctx, img.chainID.String())
	if err != nil {
		if err = errgrpc.ToNative(err); errdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("snapshotter %s: %w", cs.Snapshotter, err)
	}
	return info.Kind == snapshots.KindCommitted, nil
}
