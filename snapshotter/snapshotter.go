// Package snapshotter is a containerd snapshotter that keeps each snapshot
// in its own ZFS dataset.
//
// Layout: one dataset per snapshot under a parent dataset (pool/zfslxc),
// named by the snapshot's MetaStore id. A snapshot without a parent is a new
// dataset; a snapshot on a parent is a `zfs clone` of the parent's
// `<id>@committed` snapshot, so Prepare costs the same whatever the size of
// the image. Commit takes that snapshot; the dataset is made read-only
// after Commit returns (seal.go), so an unpack costs two zfs processes per
// layer: the clone and the snapshot.
// Mounts are bind mounts of the dataset's mountpoint, which works on kernel
// OpenZFS and on zfs-fuse alike.
//
// Metadata lives in containerd's MetaStore (bbolt). Creating datasets happens
// inside the metadata transaction, so a failure undoes both; destroying
// happens only after the metadata commit. A crash between the two leaves at
// worst a dataset without metadata (or, for a Remove, a dataset whose
// metadata is gone), which Cleanup destroys; see docs/snapshotter.md.
package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// Labels the snapshotter reads from Prepare and View.
const (
	// LabelQuota caps the space an active snapshot may reference
	// (ZFS refquota): bytes, or a size like "10G".
	LabelQuota = "containerd.io/snapshot/zfslxc.quota"
	// LabelCompression sets the ZFS compression of a new snapshot.
	LabelCompression = "containerd.io/snapshot/zfslxc.compression"
	// LabelRecordsize sets the ZFS recordsize of a new snapshot.
	LabelRecordsize = "containerd.io/snapshot/zfslxc.recordsize"
)

// Config configures the snapshotter.
type Config struct {
	// Dataset is the parent dataset, e.g. "tank/zfslxc". Created (with its
	// parents) when absent.
	Dataset string
	// Mountpoint of the parent dataset when the snapshotter creates it;
	// default <root>/datasets. An existing dataset keeps its own.
	Mountpoint string
	// DefaultQuota in bytes for active snapshots (0 = none); LabelQuota
	// overrides it.
	DefaultQuota uint64
	// Driver runs zfs; default: zfsdriver.New with detection.
	Driver *zfsdriver.Driver

	sealIdle time.Duration // tests: see seal.go
}

// Opt configures the snapshotter.
type Opt func(*Config) error

// WithDataset sets the parent dataset.
func WithDataset(name string) Opt {
	return func(c *Config) error {
		if err := zfsdriver.ValidateDataset(name); err != nil {
			return fmt.Errorf("parent dataset: %w", err)
		}
		c.Dataset = name
		return nil
	}
}

// WithMountpoint sets where a newly created parent dataset is mounted.
func WithMountpoint(path string) Opt {
	return func(c *Config) error {
		if !filepath.IsAbs(path) {
			return fmt.Errorf("mountpoint %q must be an absolute path: %w", path, errdefs.ErrInvalidArgument)
		}
		c.Mountpoint = path
		return nil
	}
}

// WithDefaultQuota sets the refquota of active snapshots without LabelQuota.
func WithDefaultQuota(bytes uint64) Opt {
	return func(c *Config) error { c.DefaultQuota = bytes; return nil }
}

// WithDriver sets the zfs driver (tests share one; the daemon configures it).
func WithDriver(d *zfsdriver.Driver) Opt {
	return func(c *Config) error { c.Driver = d; return nil }
}

// Snapshotter is the ZFS snapshotter. It also implements snapshots.Cleaner.
type Snapshotter struct {
	root    string
	dataset string // parent dataset
	mnt     string // mountpoint of the parent; each dataset at mnt/<id>
	quota   uint64
	zfs     *zfsdriver.Driver
	ms      *storage.MetaStore
	seal    *sealer

	closeOnce sync.Once
	closeErr  error // guarded by closeOnce
}

var (
	_ snapshots.Snapshotter = (*Snapshotter)(nil)
	_ snapshots.Cleaner     = (*Snapshotter)(nil)
)

// New opens (or creates) the snapshotter state in root and the parent
// dataset, and mounts any snapshot dataset that is not mounted (after a
// reboot or a zfs-fuse restart). Errors say what to do.
func New(ctx context.Context, root string, opts ...Opt) (*Snapshotter, error) {
	var cfg Config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Dataset == "" {
		return nil, fmt.Errorf("no parent dataset configured (for example tank/zfslxc): %w", errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("snapshotter root: %w", err)
	}
	if cfg.Driver == nil {
		d, err := zfsdriver.New(ctx)
		if err != nil {
			return nil, err
		}
		cfg.Driver = d
	}
	if cfg.Mountpoint == "" {
		cfg.Mountpoint = ondisk.ParentMountpoint(root)
	}
	mnt, err := ensureParent(ctx, cfg.Driver, cfg.Dataset, cfg.Mountpoint)
	if err != nil {
		return nil, err
	}
	ms, err := storage.NewMetaStore(filepath.Join(root, "metadata.db"))
	if err != nil {
		return nil, fmt.Errorf("metadata store in %s: %w", root, err)
	}
	s := &Snapshotter{root: root, dataset: cfg.Dataset, mnt: mnt, quota: cfg.DefaultQuota, zfs: cfg.Driver, ms: ms}
	s.seal = newSealer(s, cfg.sealIdle)
	if err := s.mountAll(ctx); err != nil {
		ms.Close()
		return nil, err
	}
	if err := s.sealAfterUncleanStop(ctx); err != nil {
		ms.Close()
		return nil, err
	}
	go s.seal.run(context.WithoutCancel(ctx))
	return s, nil
}

// ensureParent checks or creates the parent dataset and returns its
// mountpoint.
func ensureParent(ctx context.Context, zfs *zfsdriver.Driver, dataset, mountpoint string) (string, error) {
	pool, _, _ := strings.Cut(dataset, "/")
	if ok, err := zfs.PoolExists(ctx, pool); err != nil {
		return "", fmt.Errorf("check pool %s: %w", pool, err)
	} else if !ok {
		return "", fmt.Errorf("pool %q of dataset %q does not exist: create it (zpool create %s DEVICE), or for a test pool on a file run `zfslxc devpool up --name %s`: %w",
			pool, dataset, pool, pool, errdefs.ErrNotFound)
	}
	props, err := zfs.Get(ctx, dataset, "type", "mountpoint", "mounted")
	if zfsdriver.IsNotFound(err) {
		err = zfs.Create(ctx, dataset, zfsdriver.CreateOptions{Parents: true, Properties: map[string]string{
			"mountpoint":            mountpoint,
			"com.sun:auto-snapshot": "false",
			ondisk.PropManaged:      "true",
		}})
		if err != nil && !errors.Is(err, zfsdriver.ErrExists) {
			return "", fmt.Errorf("create parent dataset %s: %w", dataset, err)
		}
		log.G(ctx).WithFields(log.Fields{"dataset": dataset, "mountpoint": mountpoint}).Info("created parent dataset")
		props, err = zfs.Get(ctx, dataset, "type", "mountpoint", "mounted")
	}
	if err != nil {
		return "", fmt.Errorf("parent dataset %s: %w", dataset, err)
	}
	if t := props["type"].Value; t != string(zfsdriver.Filesystem) {
		return "", fmt.Errorf("parent dataset %s is a %s, not a filesystem: %w", dataset, t, errdefs.ErrInvalidArgument)
	}
	mp := props["mountpoint"].Value
	if !filepath.IsAbs(mp) {
		return "", fmt.Errorf("parent dataset %s has mountpoint=%s; snapshots need a mounted path: zfs set mountpoint=/var/lib/zfslxc %s: %w",
			dataset, mp, dataset, errdefs.ErrFailedPrecondition)
	}
	if props["mounted"].Value != "yes" {
		if err := zfs.Mount(ctx, dataset); err != nil && !errors.Is(err, zfsdriver.ErrAlreadyMounted) {
			return "", fmt.Errorf("mount parent dataset %s: %w", dataset, err)
		}
	}
	// Layers stay mounted below: only root may reach them (an image's
	// setuid-root file, a secret in a layer). zfs-fuse does not turn
	// setuid=off into a nosuid mount, so this is the barrier there.
	if fi, err := os.Stat(mp); err != nil {
		return "", fmt.Errorf("parent dataset %s mountpoint: %w", dataset, err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(mp, fi.Mode().Perm()&0o700); err != nil {
			return "", fmt.Errorf("parent dataset %s: making its mountpoint %s root-only: %w", dataset, mp, err)
		}
		log.G(ctx).WithFields(log.Fields{"mountpoint": mp, "was": fi.Mode().Perm()}).Info("made the parent dataset's mountpoint root-only (0700)")
	}
	return mp, nil
}

// mountAll mounts the snapshot datasets that are not mounted.
func (s *Snapshotter) mountAll(ctx context.Context) error {
	list, err := s.zfs.List(ctx, s.dataset, zfsdriver.ListOptions{Depth: 1})
	if err != nil {
		return fmt.Errorf("list snapshot datasets: %w", err)
	}
	for _, ds := range list {
		if ds.Name == s.dataset || ds.Mounted || !ondisk.IsID(ds.Name[len(s.dataset)+1:]) {
			continue
		}
		if err := s.zfs.Mount(ctx, ds.Name); err != nil && !errors.Is(err, zfsdriver.ErrAlreadyMounted) {
			return fmt.Errorf("mount %s: %w", ds.Name, err)
		}
		log.G(ctx).WithField("dataset", ds.Name).Info("mounted snapshot dataset")
	}
	return nil
}

// Stat returns the info of a snapshot. It does not touch ZFS.
func (s *Snapshotter) Stat(ctx context.Context, key string) (info snapshots.Info, err error) {
	err = s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		_, info, _, err = storage.GetInfo(ctx, key)
		if err != nil {
			return fmt.Errorf("stat of snapshot %q: %w", key, err)
		}
		return nil
	})
	return info, err
}

// Update updates the labels of a snapshot. It does not touch ZFS.
func (s *Snapshotter) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (newInfo snapshots.Info, err error) {
	if err := validateLabels(info.Labels); err != nil {
		return snapshots.Info{}, fmt.Errorf("update of snapshot %q: %w", info.Name, err)
	}
	err = s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		newInfo, err = storage.UpdateInfo(ctx, info, fieldpaths...)
		if err != nil {
			return fmt.Errorf("update of snapshot %q: %w", info.Name, err)
		}
		return nil
	})
	return newInfo, err
}

// Usage returns the space unique to the snapshot's dataset (ZFS `used`)
// and the number of inodes its filesystem holds.
func (s *Snapshotter) Usage(ctx context.Context, key string) (snapshots.Usage, error) {
	var id string
	err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) (err error) {
		id, _, _, err = storage.GetInfo(ctx, key)
		return err
	})
	if err != nil {
		return snapshots.Usage{}, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	u, err := s.zfs.Usage(ctx, s.datasetName(id))
	if err != nil {
		return snapshots.Usage{}, fmt.Errorf("usage of snapshot %q: %w", key, err)
	}
	inodes, err := countInodes(ctx, s.mountpoint(id), s.zfs.Capabilities().KernelMount)
	if err != nil {
		return snapshots.Usage{}, fmt.Errorf("inodes of snapshot %q: %w", key, err)
	}
	return snapshots.Usage{Size: int64(u.Used), Inodes: inodes}, nil
}

// Prepare creates an active snapshot on parent: a clone of the parent's
// committed snapshot, or an empty dataset.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshots.KindActive, key, parent, opts)
}

// View creates a read-only snapshot on parent.
func (s *Snapshotter) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	return s.create(ctx, snapshots.KindView, key, parent, opts)
}

// Mounts returns the mounts of an active or view snapshot. It does not touch
// ZFS.
func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	var snap storage.Snapshot
	err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) (err error) {
		snap, err = storage.GetSnapshot(ctx, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mounts of snapshot %q: %w", key, err)
	}
	return s.mounts(snap), nil
}

// hostOnlyProps keep an image's setuid files and device nodes inert on the
// host, where layers stay mounted: set when an unpack's dataset is made
// (one zfs command either way) or, for other commits, at Commit. Clones a
// container runs on do not inherit them from their origin.
var hostOnlyProps = map[string]string{"setuid": "off", "devices": "off"}

// isUnpackKey reports whether key is one containerd's unpacker (pull,
// import, transfer service) prepares a layer under: "extract-ID CHAINID",
// which a proxy snapshotter receives behind containerd's metadata store as
// "<namespace>/<n>/extract-ID CHAINID".
func isUnpackKey(key string) bool {
	return strings.HasPrefix(clientKey(key), snapshots.UnpackKeyPrefix+"-")
}

// clientKey strips the "<namespace>/<n>/" containerd's metadata store puts
// before the key its client chose (a namespace holds no "/").
func clientKey(key string) string {
	ns, rest, ok := strings.Cut(key, "/")
	if !ok || ns == "" {
		return key
	}
	n, k, ok := strings.Cut(rest, "/")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return key
	}
	return k
}

// Commit turns the active snapshot key into the committed snapshot name:
// `zfs snapshot <ds>@committed` inside the metadata transaction. The
// dataset of an unpacked layer (which has hostOnlyProps from its Prepare)
// is made read-only after Commit returns, so an unpack costs one zfs
// process per Commit (seal.go); other commits set readonly=on and
// hostOnlyProps in the transaction, as they always did.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	var base snapshots.Info
	for _, o := range opts {
		if err := o(&base); err != nil {
			return err
		}
	}
	if err := validateKey("committed name", name); err != nil {
		return fmt.Errorf("commit of snapshot %q: %w", key, err)
	}
	if err := validateLabels(base.Labels); err != nil {
		return fmt.Errorf("commit of snapshot %q: %w", key, err)
	}
	var (
		ds    string
		taken bool // the @committed snapshot was taken
	)
	err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		id, info, _, err := storage.GetInfo(ctx, key)
		if err != nil {
			return fmt.Errorf("commit of snapshot %q: %w", key, err)
		}
		if info.Kind != snapshots.KindActive {
			return fmt.Errorf("commit of snapshot %q: it is %v, not active: %w", key, info.Kind, errdefs.ErrFailedPrecondition)
		}
		// containerd 2.x's rebase (a parent given at Commit) would record
		// a parent the dataset is not a clone of; zfslxc does not
		// advertise snapshots.RebaseCap, so containerd never asks.
		if base.Parent != "" && base.Parent != info.Parent {
			return fmt.Errorf("commit of snapshot %q onto parent %q (it was prepared on %q): rebasing at commit is not supported, prepare the snapshot on its parent: %w",
				key, base.Parent, info.Parent, errdefs.ErrNotImplemented)
		}
		if _, err := storage.CommitActive(ctx, key, name, snapshots.Usage{}, opts...); err != nil {
			return fmt.Errorf("commit snapshot %q as %q: %w", key, name, err)
		}
		ds = s.datasetName(id)
		snap := ondisk.Committed(ds)
		err = s.zfs.Snapshot(ctx, []string{snap}, zfsdriver.SnapshotOptions{Properties: map[string]string{ondisk.PropKey: ondisk.KeyProp(name)}})
		if errors.Is(err, zfsdriver.ErrExists) {
			// Left by a Commit whose metadata transaction failed or crashed
			// after the snapshot; the metadata still says active, so nothing
			// is cloned from it. Take it again: the content may have changed.
			log.G(ctx).WithField("snapshot", snap).Warn("replacing stale committed snapshot")
			if err = s.zfs.Destroy(ctx, snap, zfsdriver.DestroyOptions{}); err == nil {
				err = s.zfs.Snapshot(ctx, []string{snap}, zfsdriver.SnapshotOptions{Properties: map[string]string{ondisk.PropKey: ondisk.KeyProp(name)}})
			}
		}
		if err != nil {
			return fmt.Errorf("commit snapshot %q: %w", key, err)
		}
		taken = true
		if isUnpackKey(key) {
			return nil // sealed later
		}
		props := map[string]string{"readonly": "on"}
		maps.Copy(props, hostOnlyProps)
		if err := s.zfs.Set(ctx, ds, props); err != nil {
			return fmt.Errorf("commit snapshot %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		if taken {
			s.undoCommit(ctx, key, ds)
		}
		return err
	}
	if isUnpackKey(key) {
		s.seal.add(ds)
	}
	return nil
}

// undoCommit takes back what a failed Commit did to the dataset after its
// `zfs snapshot` (a `zfs set` that failed, or the metadata commit): the
// metadata is active again, so the dataset must be too: no @committed,
// and readonly, setuid and devices as Prepare left them (inherited, or
// hostOnlyProps for an unpack). What cannot be taken back is logged; the
// next Commit replaces a stale @committed.
func (s *Snapshotter) undoCommit(ctx context.Context, key, ds string) {
	ctx = context.WithoutCancel(ctx)
	logger := log.G(ctx).WithFields(log.Fields{"key": key, "dataset": ds})
	if err := s.zfs.Destroy(ctx, ondisk.Committed(ds), zfsdriver.DestroyOptions{}); err != nil && !zfsdriver.IsNotFound(err) {
		logger.WithError(err).Warn("failed commit: @committed left; the next Commit replaces it")
	}
	props := []string{"readonly"}
	if !isUnpackKey(key) {
		props = append(props, slices.Sorted(maps.Keys(hostOnlyProps))...)
	}
	for _, p := range props {
		if err := s.zfs.Inherit(ctx, ds, p); err != nil {
			logger.WithError(err).WithField("property", p).Warn("failed commit: property of the active snapshot not restored")
		}
	}
}

// Remove removes a snapshot. The metadata goes first; the dataset is
// destroyed after the metadata commit. A snapshot with children is
// FailedPrecondition (from the MetaStore); a dataset that is already gone is
// success; a dataset zfs will not destroy yet (busy, or cloned outside
// containerd) is left for Cleanup, logged, and the Remove still succeeds, so
// containerd's garbage collection never stalls on it.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var (
		id   string
		kind snapshots.Kind
	)
	err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		id, kind, err = storage.Remove(ctx, key)
		if err != nil {
			return fmt.Errorf("remove snapshot %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.seal.forget(s.datasetName(id))
	if err := s.destroy(ctx, id, kind == snapshots.KindCommitted); err != nil {
		log.G(ctx).WithError(err).WithFields(log.Fields{"key": key, "dataset": s.datasetName(id)}).
			Warn("dataset not destroyed; Cleanup will retry")
	}
	return nil
}

// Walk calls fn for each snapshot matching the filters. It does not touch
// ZFS.
func (s *Snapshotter) Walk(ctx context.Context, fn snapshots.WalkFunc, filters ...string) error {
	var fnErr error
	err := s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		return storage.WalkInfo(ctx, func(ctx context.Context, info snapshots.Info) error {
			fnErr = fn(ctx, info)
			return fnErr
		}, filters...)
	})
	if err != nil && fnErr == nil && errdefs.IsNotFound(err) {
		// A MetaStore that never held a snapshot has no bucket yet
		// ("bucket does not exist"): there is nothing to walk. containerd's
		// garbage collection walks every snapshotter and would fail.
		return nil
	}
	return err
}

// Close makes the committed datasets still pending read-only, marks the
// stop as clean (so the next start need not seal them all again) and
// closes the metadata store. Closing twice is fine.
func (s *Snapshotter) Close() error {
	s.closeOnce.Do(func() {
		close(s.seal.stop)
		<-s.seal.done
		ctx := context.Background()
		if err := s.seal.flush(ctx); err != nil {
			log.G(ctx).WithError(err).Warn("committed datasets left writable; the next start makes them read-only")
		} else if err := s.markClean(); err != nil {
			log.G(ctx).WithError(err).Warn("could not mark the stop as clean; the next start makes every committed dataset read-only")
		}
		s.closeErr = s.ms.Close()
	})
	return s.closeErr
}

// create runs Prepare and View: metadata and dataset in one transaction.
func (s *Snapshotter) create(ctx context.Context, kind snapshots.Kind, key, parent string, opts []snapshots.Opt) ([]mount.Mount, error) {
	var base snapshots.Info
	for _, o := range opts {
		if err := o(&base); err != nil {
			return nil, err
		}
	}
	if err := validateKey("snapshot key", key); err != nil {
		return nil, err
	}
	if err := validateLabels(base.Labels); err != nil {
		return nil, fmt.Errorf("create snapshot %q: %w", key, err)
	}
	props, err := s.datasetProps(kind, key, base.Labels)
	if err != nil {
		return nil, err
	}
	var snap storage.Snapshot
	err = s.ms.WithTransaction(ctx, true, func(ctx context.Context) (err error) {
		snap, err = storage.CreateSnapshot(ctx, kind, key, parent, opts...)
		if err != nil {
			return fmt.Errorf("create snapshot %q: %w", key, err)
		}
		return s.createDataset(ctx, snap, props)
	})
	if err != nil {
		return nil, err
	}
	return s.mounts(snap), nil
}

// createDataset makes the dataset of a new snapshot. A dataset of the same
// id that already exists is an orphan: the MetaStore only hands out an id
// that no snapshot holds, which happens again after a transaction that
// created the dataset failed or crashed before its commit. It is destroyed
// and the create tried once more.
func (s *Snapshotter) createDataset(ctx context.Context, snap storage.Snapshot, props map[string]string) error {
	ds := s.datasetName(snap.ID)
	run := func() error {
		if len(snap.ParentIDs) == 0 {
			return s.zfs.Create(ctx, ds, zfsdriver.CreateOptions{Properties: props})
		}
		origin := ondisk.Committed(s.datasetName(snap.ParentIDs[0]))
		return s.zfs.Clone(ctx, origin, ds, zfsdriver.CloneOptions{Properties: props})
	}
	err := run()
	if errors.Is(err, zfsdriver.ErrExists) {
		log.G(ctx).WithField("dataset", ds).Warn("destroying orphan dataset that holds a new snapshot's id")
		if err = s.destroy(ctx, snap.ID, true); err == nil {
			err = run()
		}
	}
	if err != nil {
		return fmt.Errorf("dataset for snapshot %s: %w%s", snap.ID, err, s.spaceHint(ctx))
	}
	return nil
}

// spaceHint says, for a failed create, that the parent has no space left
// (zfs-fuse's clone then only says it "cannot mount", failing to create
// the mountpoint); "" when it has space or cannot be read.
func (s *Snapshotter) spaceHint(ctx context.Context) string {
	u, err := s.zfs.Usage(ctx, s.dataset)
	if err != nil || u.Available >= 1<<20 {
		return ""
	}
	return fmt.Sprintf(" (%s has %d bytes available, used %d of quota %d: free space or raise its quota)", s.dataset, u.Available, u.Used, u.Quota)
}

// destroy destroys the dataset of id (with its committed snapshot when
// snapshots is set); a missing dataset is success.
func (s *Snapshotter) destroy(ctx context.Context, id string, snapshots bool) error {
	err := s.zfs.Destroy(ctx, s.datasetName(id), zfsdriver.DestroyOptions{Recursive: snapshots, NoChildFilesystems: true})
	if err != nil && !zfsdriver.IsNotFound(err) {
		return err
	}
	return nil
}

// mounts returns the bind mount of a snapshot's dataset.
func (s *Snapshotter) mounts(snap storage.Snapshot) []mount.Mount {
	opts := []string{"rbind", "rw"}
	if snap.Kind == snapshots.KindView {
		opts = []string{"rbind", "ro"}
	}
	return []mount.Mount{{Type: "bind", Source: s.mountpoint(snap.ID), Options: opts}}
}

// datasetProps validates the labels and returns the dataset properties of
// a new snapshot.
func (s *Snapshotter) datasetProps(kind snapshots.Kind, key string, labels map[string]string) (map[string]string, error) {
	props := map[string]string{ondisk.PropKey: ondisk.KeyProp(key)}
	// A view is mounted read-only (see mounts); the dataset is made
	// read-only too where zfs does not then break xattr listing.
	if kind == snapshots.KindView && !s.zfs.Capabilities().ReadonlyHidesXattrs {
		props["readonly"] = "on"
	}
	if kind == snapshots.KindActive && isUnpackKey(key) {
		maps.Copy(props, hostOnlyProps)
	}
	quota := s.quota
	if v, ok := labels[LabelQuota]; ok {
		q, err := parseQuota(v)
		if err != nil {
			return nil, fmt.Errorf("label %s=%q: %v: %w", LabelQuota, v, err, errdefs.ErrInvalidArgument)
		}
		quota = q
	} else if v, ok := labels[snapshots.LabelSnapshotMaxSize]; ok {
		q, err := parseQuota(v)
		if err != nil {
			return nil, fmt.Errorf("label %s=%q: %v: %w", snapshots.LabelSnapshotMaxSize, v, err, errdefs.ErrInvalidArgument)
		}
		quota = q
	}
	if quota > 0 && kind == snapshots.KindActive {
		props["refquota"] = fmt.Sprint(quota)
	}
	if v, ok := labels[LabelCompression]; ok {
		if err := validateCompression(v); err != nil {
			return nil, fmt.Errorf("label %s=%q: %v: %w", LabelCompression, v, err, errdefs.ErrInvalidArgument)
		}
		props["compression"] = v
	}
	if v, ok := labels[LabelRecordsize]; ok {
		rs, err := validateRecordsize(v)
		if err != nil {
			return nil, fmt.Errorf("label %s=%q: %v: %w", LabelRecordsize, v, err, errdefs.ErrInvalidArgument)
		}
		props["recordsize"] = fmt.Sprint(rs)
	}
	return props, nil
}

func (s *Snapshotter) datasetName(id string) string { return ondisk.Dataset(s.dataset, id) }

func (s *Snapshotter) mountpoint(id string) string { return filepath.Join(s.mnt, id) }
