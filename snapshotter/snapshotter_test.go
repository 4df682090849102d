package snapshotter_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/snapshotter"
	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// fixture is a snapshotter on its own parent dataset of a shared pool.
type fixture struct {
	sn     *snapshotter.Snapshotter
	zfs    *zfsdriver.Driver
	parent string
	root   string
	ctx    context.Context
}

// newFixture gives the test its own pool, so tests share nothing.
func newFixture(t testing.TB, opts ...snapshotter.Opt) *fixture {
	t.Helper()
	return newFixtureOnPool(t, testpool.Options{}, opts...)
}

// newFixtureOnPool is newFixture with pool options.
func newFixtureOnPool(t testing.TB, popts testpool.Options, opts ...snapshotter.Opt) *fixture {
	t.Helper()
	// The state dir is removed after the pool is gone (cleanups run last
	// first), since the datasets are mounted below it.
	root, err := os.MkdirTemp("", "zfslxc-snapshotter-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	p := testpool.New(t, popts)
	parent := p.Name + "/zfslxc"
	ctx := namespaces.WithNamespace(context.Background(), "test")
	sn, err := snapshotter.New(ctx, root, append([]snapshotter.Opt{snapshotter.WithDataset(parent), snapshotter.WithDriver(p.Driver)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return &fixture{sn: sn, zfs: p.Driver, parent: parent, root: root, ctx: ctx}
}

// datasets lists the snapshot datasets under the parent.
func (f *fixture) datasets(t testing.TB) []string {
	t.Helper()
	list, err := f.zfs.List(f.ctx, f.parent, zfsdriver.ListOptions{Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ds := range list {
		if ds.Name != f.parent {
			names = append(names, strings.TrimPrefix(ds.Name, f.parent+"/"))
		}
	}
	return names
}

func (f *fixture) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	if err := f.sn.Walk(f.ctx, func(_ context.Context, info snapshots.Info) error {
		keys = append(keys, info.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func source(t testing.TB, m []mount.Mount) string {
	t.Helper()
	if len(m) != 1 || m[0].Type != "bind" {
		t.Fatalf("mounts = %+v, want one bind mount", m)
	}
	return m[0].Source
}

// commitLayer prepares key on parent, writes files, commits as name.
func (f *fixture) commitLayer(t testing.TB, name, parent string, files map[string]string) {
	t.Helper()
	m, err := f.sn.Prepare(f.ctx, name+"-active", parent)
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(source(t, m), p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.sn.Commit(f.ctx, name, name+"-active"); err != nil {
		t.Fatal(err)
	}
}

func TestLayersAreClonesAndCommitsAreSnapshots(t *testing.T) {
	f := newFixture(t)
	f.commitLayer(t, "base", "", map[string]string{"a": "1"})
	m, err := f.sn.Prepare(f.ctx, "top", "base")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(source(t, m), "a"))
	if err != nil || string(got) != "1" {
		t.Fatalf("clone content = %q, %v", got, err)
	}
	list, err := f.zfs.List(f.ctx, f.parent, zfsdriver.ListOptions{Depth: -1, Types: []zfsdriver.DatasetType{zfsdriver.Filesystem, zfsdriver.Snapshot}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]zfsdriver.Dataset{}
	for _, ds := range list {
		byName[strings.TrimPrefix(ds.Name, f.parent)] = ds
	}
	if _, ok := byName["/1@committed"]; !ok {
		t.Errorf("no committed snapshot of the base layer: %v", byName)
	}
	if top := byName["/2"]; top.Origin != f.parent+"/1@committed" {
		t.Errorf("active snapshot is not a clone of the committed layer: origin %q", top.Origin)
	}
	// The committed dataset is made read-only after Commit; Cleanup
	// finishes what is pending. zfs-fuse reads readonly=on back as "off
	// temporary" but enforces it.
	if err := f.sn.Cleanup(f.ctx); err != nil {
		t.Fatal(err)
	}
	mp, err := f.zfs.GetProperty(f.ctx, f.parent+"/1", "mountpoint")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mp, "new"), []byte("x"), 0o644); err == nil {
		t.Error("committed dataset is writable")
	}
	// A committed layer, mounted on the host, runs no setuid file and
	// opens no device node, whether an unpack (its dataset made so) or
	// another Commit made it; the clone a container runs on keeps both.
	f.commitLayer(t, "extract-9 sha256:up", "base", nil)
	if _, err := f.sn.Prepare(f.ctx, "top2", "extract-9 sha256:up"); err != nil {
		t.Fatal(err)
	}
	for ds, want := range map[string]string{"/1": "off", "/2": "on", "/3": "off", "/4": "on"} {
		for _, prop := range []string{"setuid", "devices"} {
			if v, err := f.zfs.GetProperty(f.ctx, f.parent+ds, prop); err != nil || v != want {
				t.Errorf("%s%s %s = %q (%v), want %s", f.parent, ds, prop, v, err, want)
			}
		}
	}
	if v, _ := f.zfs.GetProperty(f.ctx, f.parent+"/2", ondisk.PropKey); v != "top" {
		t.Errorf("key property = %q, want top", v)
	}
	// Only root reaches the layers; a restart makes a mountpoint opened
	// since root-only again.
	mnt, err := f.zfs.GetProperty(f.ctx, f.parent, "mountpoint")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(mnt); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("parent mountpoint %s: %v, %v; want 0700", mnt, fi.Mode(), err)
	}
	if err := os.Chmod(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := snapshotter.New(f.ctx, t.TempDir(), snapshotter.WithDataset(f.parent), snapshotter.WithDriver(f.zfs))
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	if fi, err := os.Stat(mnt); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("parent mountpoint %s after a restart: %v, %v; want 0700", mnt, fi.Mode(), err)
	}
	if v, _ := f.zfs.GetProperty(f.ctx, f.parent, "com.sun:auto-snapshot"); v != "false" {
		t.Errorf("parent com.sun:auto-snapshot = %q, want false", v)
	}
}

// recorder is a zfsdriver.Runner that runs the real command and records
// its arguments.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) run(ctx context.Context, path string, args []string) ([]byte, []byte, int, error) {
	r.mu.Lock()
	r.calls = append(r.calls, filepath.Base(path)+" "+strings.Join(args, " "))
	r.mu.Unlock()
	return zfsdriver.ExecRunner(ctx, path, args)
}

// since returns the calls after the first n.
func (r *recorder) since(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[n:])
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// newRecordedFixture is newFixture whose snapshotter runs zfs through a
// recorder.
func newRecordedFixture(t *testing.T) (*fixture, *recorder) {
	t.Helper()
	rec := &recorder{}
	return newFixtureWithRunner(t, rec.run), rec
}

// newFixtureWithRunner is newFixture whose snapshotter runs zfs through
// run (seals run only when the test asks).
func newFixtureWithRunner(t *testing.T, run zfsdriver.Runner) *fixture {
	t.Helper()
	// As in newFixtureOnPool: the state dir goes after the pool.
	root, err := os.MkdirTemp("", "zfslxc-snapshotter-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	p := testpool.New(t)
	drv, err := zfsdriver.New(context.Background(), zfsdriver.WithRunner(run), zfsdriver.WithCapabilities(p.Driver.Capabilities()))
	if err != nil {
		t.Fatal(err)
	}
	parent := p.Name + "/zfslxc"
	ctx := namespaces.WithNamespace(context.Background(), "test")
	// Seals run only when the test asks (SealNow).
	sn, err := snapshotter.New(ctx, root, snapshotter.WithDataset(parent), snapshotter.WithDriver(drv), snapshotter.WithSealIdle(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sn.Close() })
	return &fixture{sn: sn, zfs: drv, parent: parent, root: root, ctx: ctx}
}

// subcommands turns recorded calls into "zfs <subcommand>" words.
func subcommands(calls []string) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		f := strings.Fields(c)
		out[i] = strings.Join(f[:min(2, len(f))], " ")
	}
	return out
}

// TestZFSCommandsPerOperation pins which zfs processes each operation
// spawns: an image unpack is a Prepare and a Commit per layer, two zfs
// processes (containerd/zfs spawns 3–4 per operation). The read-only
// seal of a committed dataset runs after Commit, for several commits in
// one `zfs set`.
func TestZFSCommandsPerOperation(t *testing.T) {
	f, rec := newRecordedFixture(t)
	removeCost := []string{"zfs destroy"}
	if f.zfs.Capabilities().ExplicitUnmount {
		removeCost = []string{"zfs unmount", "zfs destroy"}
	}
	cases := []struct {
		name string
		op   func() error
		want []string
	}{
		// As containerd's unpacker names them (snapshots.UnpackKeyFormat),
		// and as a proxy snapshotter receives them behind containerd's
		// metadata store ("<namespace>/<n>/<key>").
		{"prepare without parent", func() error { _, err := f.sn.Prepare(f.ctx, "extract-1 sha256:a", ""); return err }, []string{"zfs create"}},
		{"prepare without parent, proxied", func() error {
			_, err := f.sn.Prepare(f.ctx, "default/7/extract-2 sha256:b", "")
			return err
		}, []string{"zfs create"}},
		{"commit", func() error { return f.sn.Commit(f.ctx, "c", "extract-1 sha256:a") }, []string{"zfs snapshot"}},
		{"commit, proxied", func() error { return f.sn.Commit(f.ctx, "c2", "default/7/extract-2 sha256:b") }, []string{"zfs snapshot"}},
		{"the seals, in one command", func() error { return f.sn.SealNow(f.ctx) }, []string{"zfs set"}},
		// Another commit (ctr snapshot commit, a build) makes the layer
		// read-only and inert on the host at Commit (one zfs set per
		// property where zfs set takes one: zfs-fuse).
		{"prepare other", func() error { _, err := f.sn.Prepare(f.ctx, "other", ""); return err }, []string{"zfs create"}},
		{"commit other", func() error { return f.sn.Commit(f.ctx, "c3", "other") }, []string{"zfs snapshot", "zfs set"}},
		{"remove other", func() error { return f.sn.Remove(f.ctx, "c3") }, removeCost},
		{"prepare on parent", func() error { _, err := f.sn.Prepare(f.ctx, "b", "c"); return err }, []string{"zfs clone"}},
		{"view", func() error { _, err := f.sn.View(f.ctx, "v", "c"); return err }, []string{"zfs clone"}},
		{"mounts", func() error { _, err := f.sn.Mounts(f.ctx, "b"); return err }, nil},
		{"stat", func() error { _, err := f.sn.Stat(f.ctx, "b"); return err }, nil},
		{"remove active", func() error { return f.sn.Remove(f.ctx, "b") }, removeCost},
		{"remove view", func() error { return f.sn.Remove(f.ctx, "v") }, removeCost},
		{"remove committed", func() error { return f.sn.Remove(f.ctx, "c") }, removeCost},
		{"remove committed 2", func() error { return f.sn.Remove(f.ctx, "c2") }, removeCost},
	}
	for _, tc := range cases {
		n := rec.len()
		if err := tc.op(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// zfs-fuse sometimes answers busy; a command run again is not
		// the operation's own cost.
		got := slices.Compact(subcommands(rec.since(n)))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s ran %q, want %q", tc.name, rec.since(n), tc.want)
		}
		if tc.name == "the seals, in one command" {
			want := fmt.Sprintf("zfs set readonly=on %s/1 %s/2", f.parent, f.parent)
			if calls := rec.since(n); len(calls) != 1 || !strings.HasSuffix(calls[0], want) {
				t.Errorf("seal ran %q, want %q", calls, want)
			}
		}
	}
	if left := f.datasets(t); len(left) != 0 {
		t.Errorf("datasets left: %v", left)
	}
}

func TestLabels(t *testing.T) {
	f := newFixture(t, snapshotter.WithDefaultQuota(64<<20))
	withLabel := func(k, v string) snapshots.Opt { return snapshots.WithLabels(map[string]string{k: v}) }
	cases := []struct {
		name   string
		kind   snapshots.Kind
		labels map[string]string
		props  map[string]string // expected exact values
		errMsg string            // expected InvalidArgument naming this
	}{
		{"default quota", snapshots.KindActive, nil, map[string]string{"refquota": "67108864"}, ""},
		{"quota label bytes", snapshots.KindActive, map[string]string{snapshotter.LabelQuota: "10485760"}, map[string]string{"refquota": "10485760"}, ""},
		{"quota label size", snapshots.KindActive, map[string]string{snapshotter.LabelQuota: "1G"}, map[string]string{"refquota": "1073741824"}, ""},
		{"max-size hint", snapshots.KindActive, map[string]string{snapshots.LabelSnapshotMaxSize: "20M"}, map[string]string{"refquota": "20971520"}, ""},
		{"views get no quota", snapshots.KindView, nil, map[string]string{"refquota": "0"}, ""},
		{"compression", snapshots.KindActive, map[string]string{snapshotter.LabelCompression: "gzip-3"}, map[string]string{"compression": "gzip-3"}, ""},
		{"recordsize", snapshots.KindActive, map[string]string{snapshotter.LabelRecordsize: "16K"}, map[string]string{"recordsize": "16384"}, ""},
		{"bad quota", snapshots.KindActive, map[string]string{snapshotter.LabelQuota: "lots"}, nil, snapshotter.LabelQuota},
		{"negative quota", snapshots.KindActive, map[string]string{snapshotter.LabelQuota: "-1G"}, nil, snapshotter.LabelQuota},
		{"bad compression", snapshots.KindActive, map[string]string{snapshotter.LabelCompression: "brotli"}, nil, snapshotter.LabelCompression},
		{"bad recordsize", snapshots.KindActive, map[string]string{snapshotter.LabelRecordsize: "3000"}, nil, snapshotter.LabelRecordsize},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("label-%d", i)
			var opts []snapshots.Opt
			for k, v := range tc.labels {
				opts = append(opts, withLabel(k, v))
			}
			before := f.datasets(t)
			var err error
			if tc.kind == snapshots.KindView {
				f.commitLayer(t, key+"-base", "", nil)
				_, err = f.sn.View(f.ctx, key, key+"-base", opts...)
			} else {
				_, err = f.sn.Prepare(f.ctx, key, "", opts...)
			}
			if tc.errMsg != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("err = %v, want InvalidArgument naming %s", err, tc.errMsg)
				}
				if after := f.datasets(t); !slices.Equal(before, after) {
					t.Errorf("refused snapshot left datasets: %v → %v", before, after)
				}
				if _, err := f.sn.Stat(f.ctx, key); !errdefs.IsNotFound(err) {
					t.Errorf("refused snapshot left metadata: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := f.sn.Stat(f.ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.labels {
				if info.Labels[k] != v {
					t.Errorf("label %s not kept: %v", k, info.Labels)
				}
			}
			ds := f.parent + "/" + lastID(t, f)
			for prop, want := range tc.props {
				if got, err := f.zfs.GetProperty(f.ctx, ds, prop); err != nil || got != want {
					t.Errorf("%s = %q (%v), want %q", prop, got, err, want)
				}
			}
		})
	}
}

// lastID returns the highest snapshot id among the datasets.
func lastID(t *testing.T, f *fixture) string {
	t.Helper()
	best := -1
	for _, name := range f.datasets(t) {
		if n, err := strconv.Atoi(name); err == nil && n > best {
			best = n
		}
	}
	if best < 0 {
		t.Fatal("no snapshot dataset")
	}
	return strconv.Itoa(best)
}

func TestQuotaIsEnforced(t *testing.T) {
	f := newFixture(t)
	m, err := f.sn.Prepare(f.ctx, "q", "", snapshots.WithLabels(map[string]string{snapshotter.LabelQuota: "2M"}))
	if err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(filepath.Join(source(t, m), "big"), make([]byte, 8<<20), 0o644)
	if err == nil {
		t.Fatal("8 MiB written into a 2 MiB quota")
	}
	t.Logf("write past quota: %v", err)
}

func TestViewIsReadOnly(t *testing.T) {
	f := newFixture(t)
	f.commitLayer(t, "base", "", map[string]string{"a": "1"})
	m, err := f.sn.View(f.ctx, "v", "base")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m[0].Options, "ro") {
		t.Errorf("view mount options %v lack ro", m[0].Options)
	}
	target := t.TempDir()
	if err := mount.All(m, target); err != nil {
		t.Fatal(err)
	}
	defer mount.UnmountAll(target, 0)
	if err := os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644); err == nil {
		t.Fatal("wrote into a view")
	}
	if got, _ := os.ReadFile(filepath.Join(target, "a")); string(got) != "1" {
		t.Errorf("view content %q", got)
	}
}

func TestRemove(t *testing.T) {
	f := newFixture(t)
	f.commitLayer(t, "base", "", nil)
	if _, err := f.sn.Prepare(f.ctx, "child", "base"); err != nil {
		t.Fatal(err)
	}
	before := f.datasets(t)
	if err := f.sn.Remove(f.ctx, "base"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("remove with a child: err = %v, want FailedPrecondition", err)
	}
	if after := f.datasets(t); !slices.Equal(before, after) {
		t.Fatalf("refused remove destroyed datasets: %v → %v", before, after)
	}
	if err := f.sn.Remove(f.ctx, "missing"); !errdefs.IsNotFound(err) {
		t.Errorf("remove of unknown key: err = %v, want NotFound", err)
	}
	// A dataset already gone (destroyed by hand) does not block Remove.
	if err := f.zfs.Destroy(f.ctx, f.parent+"/2", zfsdriver.DestroyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.sn.Remove(f.ctx, "child"); err != nil {
		t.Fatalf("remove whose dataset is gone: %v", err)
	}
	if err := f.sn.Remove(f.ctx, "base"); err != nil {
		t.Fatal(err)
	}
	if left := f.datasets(t); len(left) != 0 {
		t.Errorf("datasets left: %v", left)
	}
}

// TestRemoveOfBusyDatasetIsFinishedByCleanup: a dataset zfs will not destroy
// yet is left for Cleanup, and Remove still succeeds (containerd's GC must
// not stall on it).
func TestRemoveOfBusyDatasetIsFinishedByCleanup(t *testing.T) {
	f := newFixture(t)
	m, err := f.sn.Prepare(f.ctx, "busy", "")
	if err != nil {
		t.Fatal(err)
	}
	held, err := os.Create(filepath.Join(source(t, m), "held"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sn.Remove(f.ctx, "busy"); err != nil {
		held.Close()
		t.Fatalf("remove of a busy snapshot: %v", err)
	}
	held.Close()
	if _, err := f.sn.Stat(f.ctx, "busy"); !errdefs.IsNotFound(err) {
		t.Errorf("metadata kept after Remove: %v", err)
	}
	if f.zfs.Capabilities().ExplicitUnmount {
		// zfs-fuse refuses to unmount a dataset with an open file.
		if left := f.datasets(t); len(left) != 1 {
			t.Fatalf("busy dataset was destroyed anyway or vanished: %v", left)
		}
	}
	if err := f.sn.Cleanup(f.ctx); err != nil {
		t.Fatal(err)
	}
	if left := f.datasets(t); len(left) != 0 {
		t.Errorf("cleanup left datasets: %v", left)
	}
}

// TestCrashLeftovers simulates what a kill -9 between two steps leaves and
// checks that the next operations and Cleanup put it right.
func TestCrashLeftovers(t *testing.T) {
	f := newFixture(t)
	f.commitLayer(t, "base", "", map[string]string{"a": "1"}) // id 1

	// Crash after `zfs clone` of a Prepare, before the metadata commit:
	// a dataset with the id the MetaStore hands out next.
	if err := f.zfs.Clone(f.ctx, f.parent+"/1@committed", f.parent+"/2", zfsdriver.CloneOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := f.sn.Prepare(f.ctx, "after-crash", "base")
	if err != nil {
		t.Fatalf("prepare over an orphan of the same id: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(source(t, m), "a")); string(got) != "1" {
		t.Errorf("prepared content %q", got)
	}

	// Crash after the commit's `zfs snapshot`, before the metadata commit:
	// a stale @committed on an active dataset.
	if err := os.WriteFile(filepath.Join(source(t, m), "b"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.zfs.Snapshot(f.ctx, []string{f.parent + "/2@committed"}, zfsdriver.SnapshotOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(source(t, m), "b"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.sn.Commit(f.ctx, "layer2", "after-crash"); err != nil {
		t.Fatalf("commit over a stale committed snapshot: %v", err)
	}
	m, err = f.sn.Prepare(f.ctx, "reader", "layer2")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(source(t, m), "b")); string(got) != "new" {
		t.Errorf("committed content %q, want the content at Commit time", got)
	}

	// Metadata whose dataset is gone (destroyed by hand).
	if _, err := f.sn.Prepare(f.ctx, "lost", ""); err != nil {
		t.Fatal(err)
	}
	lost := f.parent + "/" + lastID(t, f)
	if err := f.zfs.Destroy(f.ctx, lost, zfsdriver.DestroyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Crash after a Remove's metadata commit, before its destroy: an
	// orphan dataset with a far id.
	if err := f.zfs.Create(f.ctx, f.parent+"/999", zfsdriver.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A dataset that is not a snapshot's stays.
	if err := f.zfs.Create(f.ctx, f.parent+"/notours", zfsdriver.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	rep, err := f.sn.Reconcile(f.ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Orphans, []string{f.parent + "/999"}) || !slices.Equal(rep.Missing, []string{"lost"}) {
		t.Errorf("dry run report = %+v", rep)
	}
	if ds := f.datasets(t); !slices.Contains(ds, "999") {
		t.Errorf("dry run destroyed something: %v", ds)
	}
	if err := f.sn.Cleanup(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := f.keys(t), []string{"base", "layer2", "reader"}; !slices.Equal(got, want) {
		t.Errorf("keys after cleanup = %v, want %v", got, want)
	}
	ds := f.datasets(t)
	slices.Sort(ds)
	if want := []string{"1", "2", "3", "notours"}; !slices.Equal(ds, want) {
		t.Errorf("datasets after cleanup = %v, want %v", ds, want)
	}
}

// TestCommittedDatasetIsSealedAfterACrash: Commit returns once the
// @committed snapshot exists; the dataset is made read-only after. A kill
// -9 in between (Crash: the pending seal is lost, the stop not marked
// clean) leaves a committed dataset that is still writable, which clones
// never see; the next start makes every committed dataset read-only, and
// the pool and the metadata agree. A start after a clean Close seals
// nothing again.
func TestCommittedDatasetIsSealedAfterACrash(t *testing.T) {
	f := newFixture(t, snapshotter.WithSealIdle(time.Hour))
	// An unpack's layer, as containerd's unpacker names it: its seal
	// runs after Commit.
	m, err := f.sn.Prepare(f.ctx, "extract-1 sha256:base", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(source(t, m), "a"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.sn.Commit(f.ctx, "base", "extract-1 sha256:base"); err != nil {
		t.Fatal(err)
	}
	mp, err := f.zfs.GetProperty(f.ctx, f.parent+"/1", "mountpoint")
	if err != nil {
		t.Fatal(err)
	}
	// The window: written after Commit, before the seal.
	if err := os.WriteFile(filepath.Join(mp, "late"), []byte("x"), 0o644); err != nil {
		t.Fatalf("committed dataset read-only before its seal ran: %v", err)
	}
	if err := f.sn.Crash(); err != nil {
		t.Fatal(err)
	}

	start := func() (*snapshotter.Snapshotter, int64) {
		t.Helper()
		before := f.zfs.Commands()
		sn, err := snapshotter.New(f.ctx, f.root, snapshotter.WithDataset(f.parent), snapshotter.WithDriver(f.zfs))
		if err != nil {
			t.Fatal(err)
		}
		return sn, f.zfs.Commands() - before
	}
	sn, afterCrash := start()
	if err := os.WriteFile(filepath.Join(mp, "later"), []byte("x"), 0o644); err == nil {
		t.Error("committed dataset still writable after the restart")
	}
	m, err = sn.Prepare(f.ctx, "child", "base")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(source(t, m), "late")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a clone of the layer sees a file written after its Commit (%v)", err)
	}
	rep, err := sn.Reconcile(f.ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Orphans) != 0 || len(rep.Missing) != 0 {
		t.Errorf("pool and metadata disagree after the restart: %+v", rep)
	}
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	sn, afterClean := start()
	defer sn.Close()
	if afterClean != afterCrash-1 {
		t.Errorf("start after a clean stop ran %d zfs commands, after a crash %d: want exactly the seal less", afterClean, afterCrash)
	}
	if err := os.WriteFile(filepath.Join(mp, "later"), []byte("x"), 0o644); err == nil {
		t.Error("committed dataset writable after a clean restart")
	}
}

func TestOddKeys(t *testing.T) {
	f := newFixture(t)
	keys := []string{
		"with space", "new\nline", `quote"s'`, "ünïcødé/键", "100%", "-leading-dash", "a@b#c",
		strings.Repeat("long", 3000),
	}
	for _, k := range keys {
		if _, err := f.sn.Prepare(f.ctx, k, ""); err != nil {
			t.Fatalf("prepare %q: %v", k, err)
		}
		if err := f.sn.Commit(f.ctx, k+"/c", k); err != nil {
			t.Fatalf("commit %q: %v", k, err)
		}
		if info, err := f.sn.Stat(f.ctx, k+"/c"); err != nil || info.Kind != snapshots.KindCommitted {
			t.Fatalf("stat %q: %+v, %v", k, info, err)
		}
		if err := f.sn.Remove(f.ctx, k+"/c"); err != nil {
			t.Fatalf("remove %q: %v", k, err)
		}
	}
	if left := f.datasets(t); len(left) != 0 {
		t.Errorf("datasets left: %v", left)
	}
}

func TestUsage(t *testing.T) {
	f := newFixture(t)
	m, err := f.sn.Prepare(f.ctx, "u-active", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := source(t, m)
	data := make([]byte, 100<<10)
	for i := range 10 {
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "0"), filepath.Join(dir, "hardlink")); err != nil {
		t.Fatal(err)
	}
	// ZFS accounts space when a transaction group syncs (5 s on kernel
	// ZFS, ~30 s on zfs-fuse); taking a snapshot syncs one, so the size of
	// a committed snapshot is exact at once.
	if err := f.sn.Commit(f.ctx, "u", "u-active"); err != nil {
		t.Fatal(err)
	}
	u, err := f.sn.Usage(f.ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	// 10 files and the root directory; the hard link is the same inode.
	if u.Inodes != 11 {
		t.Errorf("inodes = %d, want 11", u.Inodes)
	}
	if u.Size < 1000<<10 || u.Size > 2<<20 {
		t.Errorf("size = %d, want about 1 MiB of incompressible data", u.Size)
	}
	if _, err := f.sn.Usage(f.ctx, "missing"); !errdefs.IsNotFound(err) {
		t.Errorf("usage of unknown key: %v", err)
	}
}

func TestStartupErrors(t *testing.T) {
	sharedPool := testpool.New(t)
	ctx := context.Background()
	_, err := snapshotter.New(ctx, t.TempDir(), snapshotter.WithDataset("zfslxcnopool/x"), snapshotter.WithDriver(sharedPool.Driver))
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "zfslxcnopool") || !strings.Contains(err.Error(), "zpool create") {
		t.Errorf("missing pool: err = %v", err)
	}
	_, err = snapshotter.New(ctx, t.TempDir(), snapshotter.WithDataset("bad name"))
	if !errors.Is(err, zfsdriver.ErrInvalidName) {
		t.Errorf("bad dataset name: err = %v", err)
	}
	legacy := sharedPool.Name + "/legacy"
	if err := sharedPool.Driver.Create(ctx, legacy, zfsdriver.CreateOptions{Properties: map[string]string{"mountpoint": "none"}}); err != nil {
		t.Fatal(err)
	}
	_, err = snapshotter.New(ctx, t.TempDir(), snapshotter.WithDataset(legacy), snapshotter.WithDriver(sharedPool.Driver))
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "mountpoint") {
		t.Errorf("parent without mountpoint: err = %v", err)
	}
}

// TestStartMountsUnmountedDatasets: after a reboot or a zfs-fuse restart
// datasets may be unmounted; a new snapshotter mounts its own again and
// leaves other children alone.
func TestStartMountsUnmountedDatasets(t *testing.T) {
	f := newFixture(t)
	f.commitLayer(t, "base", "", map[string]string{"a": "1"})
	m, err := f.sn.Prepare(f.ctx, "active", "base")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.zfs.Create(f.ctx, f.parent+"/notours", zfsdriver.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.sn.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"2", "notours"} {
		if err := f.zfs.Unmount(f.ctx, f.parent+"/"+ds, false); err != nil {
			t.Fatal(err)
		}
	}
	sn, err := snapshotter.New(f.ctx, f.root, snapshotter.WithDataset(f.parent), snapshotter.WithDriver(f.zfs))
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	if got, err := os.ReadFile(filepath.Join(source(t, m), "a")); err != nil || string(got) != "1" {
		t.Errorf("active snapshot not mounted again: %q, %v", got, err)
	}
	list, err := f.zfs.List(f.ctx, f.parent+"/notours", zfsdriver.ListOptions{})
	if err != nil || len(list) != 1 || list[0].Mounted {
		t.Errorf("a dataset that is not the snapshotter's was mounted: %+v, %v", list, err)
	}
}

// TestRemoveOfLayersClonedOutside: a zfslxc template (package template)
// may be a zfs clone of a committed layer. Removing the chain must still
// succeed (containerd's GC never stalls), the datasets stay while the
// clone exists, and once it is gone one Cleanup destroys the whole chain,
// children before parents.
func TestRemoveOfLayersClonedOutside(t *testing.T) {
	f := newFixture(t)
	f.commitLayer(t, "l1", "", map[string]string{"a": "1"})
	f.commitLayer(t, "l2", "l1", map[string]string{"b": "2"})
	f.commitLayer(t, "l3", "l2", map[string]string{"c": "3"})
	ids := f.datasets(t)
	if len(ids) != 3 {
		t.Fatalf("datasets %v, want 3", ids)
	}
	pool, _, _ := strings.Cut(f.parent, "/")
	outside := pool + "/template"
	if err := f.zfs.Clone(f.ctx, f.parent+"/"+ids[2]+"@committed", outside, zfsdriver.CloneOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"l3", "l2", "l1"} {
		if err := f.sn.Remove(f.ctx, k); err != nil {
			t.Fatalf("remove %s of a chain cloned outside: %v", k, err)
		}
	}
	if keys := f.keys(t); len(keys) != 0 {
		t.Errorf("metadata left: %v", keys)
	}
	if err := f.sn.Cleanup(f.ctx); err != nil {
		t.Fatalf("cleanup with a dependent clone: %v", err)
	}
	if left := f.datasets(t); !slices.Equal(left, ids) {
		t.Fatalf("datasets %v, want %v kept while the outside clone exists", left, ids)
	}
	rep, err := f.sn.Reconcile(f.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Kept) != 3 {
		t.Errorf("kept %v, want the 3 layers", rep.Kept)
	}
	for ds, why := range rep.Kept {
		t.Logf("kept %s: %s", ds, why)
	}
	if err := f.zfs.Destroy(f.ctx, outside, zfsdriver.DestroyOptions{Recursive: true, Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.sn.Cleanup(f.ctx); err != nil {
		t.Fatal(err)
	}
	if left := f.datasets(t); len(left) != 0 {
		t.Errorf("one cleanup after the clone went left %v", left)
	}
}

func TestIsUnpackKey(t *testing.T) {
	cases := []struct {
		key  string
		want bool
	}{
		{"extract-1 sha256:a", true},
		{"default/72/extract-319952875-9DcC sha256:4efa", true}, // as containerd 1.6 and 2.x proxy it
		{"k8s.io/3/extract-1 sha256:a", true},
		{"default/72/index", false},
		{"default/extract-1 sha256:a", false}, // no metadata id
		{"default/7x/extract-1 sha256:a", false},
		{"/7/extract-1 sha256:a", false},
		{"extractor", false},
		{"tree-zfslxc-1", false},
	}
	for _, c := range cases {
		if got := snapshotter.IsUnpackKey(c.key); got != c.want {
			t.Errorf("isUnpackKey(%q) = %v, want %v", c.key, got, c.want)
		}
	}
}
