package pull_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/opencontainers/go-digest"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/fstree"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
)

const (
	sn          = containerdtest.SnapshotterName
	runtimeType = containerdconfig.RuntimeType
)

func TestMain(m *testing.M) { os.Exit(containerdtest.Main(m)) }

// env is one containerd flavor with the zfslxc snapshotter on a fresh
// pool and the LXC shim first on its PATH.
type env struct {
	d      *containerdtest.Daemon
	snap   *containerdtest.Snapshotter
	parent string // the snapshotter's parent dataset
}

func setup(t testing.TB, f containerdtest.Flavor) *env {
	t.Helper()
	bin := containerdtest.ZfslxcBinDir(t)
	containerdtest.RequireHost(t, f)
	f = f.PathFirst(bin)
	p := testpool.New(t)
	e := &env{parent: p.Name + "/zfslxc"}
	e.snap = containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: e.parent, Driver: p.Driver})
	e.d = containerdtest.Start(t, f, containerdconfig.Snippet(containerdconfig.Options{
		ConfigVersion: f.ConfigVersion, SnapshotterName: sn, SnapshotterAddress: e.snap.Address,
	}))
	return e
}

// ctr runs ctr with a longer bound than Ctr's for pulls.
func (e *env) ctr(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, _, err := e.d.CtrContext(ctx, args...)
	return out, err
}

func (e *env) mustCtr(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.ctr(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, e.d.LogTail(30))
	}
	return out
}

// layerDatasets maps each committed layer's chain ID to the datasets
// holding it, read from the io.zfslxc:key of every <dataset>@committed
// (containerd names a committed layer "<namespace>/<n>/<chainID>").
func (e *env) layerDatasets(t testing.TB) map[digest.Digest][]string {
	t.Helper()
	out, err := exec.Command("zfs", "get", "-H", "-r", "-o", "name,value", ondisk.PropKey, e.parent).Output()
	if err != nil {
		t.Fatalf("zfs get -r %s: %v", e.parent, err)
	}
	m := map[digest.Digest][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, value, ok := strings.Cut(line, "\t")
		ds, snap, isSnap := strings.Cut(name, "@")
		if !ok || !isSnap || snap != "committed" {
			continue
		}
		i := strings.Index(value, "sha256")
		if i < 0 {
			continue
		}
		d, err := digest.Parse(strings.Replace(value[i:], "%3A", ":", 1))
		if err != nil {
			t.Fatalf("%s: key %q: %v", name, value, err)
		}
		m[d] = append(m[d], ds)
	}
	return m
}

// allDatasets lists every filesystem dataset below the parent.
func (e *env) allDatasets(t testing.TB) []string {
	t.Helper()
	return containerdtest.ChildDatasets(t, e.parent)
}

// tree mounts a read-only view of the committed snapshot chainID of
// snapshotter snap and describes its tree.
//
// The view is made through containerd's client with the gc.root label:
// `ctr snapshots view` takes no lease, so a garbage collection that ran
// while the tree was walked (one follows every pull, image removal and
// `ctr run --rm`) removed the unreferenced view, and the snapshotter's
// `zfs destroy` unmounted it under the walk — the "ENOENT for an entry
// readdir had just listed", then an empty tree, seen on zfs-fuse in about
// one run in four (an overlayfs view is a bind of its parent's directory
// and survives its own removal, so only zfslxc showed it).
func (e *env) tree(t *testing.T, snap string, chainID digest.Digest) fstree.Tree {
	t.Helper()
	key := fmt.Sprintf("tree-%s-%d", snap, time.Now().UnixNano())
	c, err := client.New(e.d.Address, client.WithDefaultNamespace("default"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ss := c.SnapshotService(snap)
	mounts, err := ss.View(ctx, key, chainID.String(), snapshots.WithLabels(map[string]string{
		"containerd.io/gc.root": time.Now().UTC().Format(time.RFC3339),
	}))
	if err != nil {
		t.Fatalf("view of %s in %s: %v", chainID, snap, err)
	}
	defer func() {
		if err := ss.Remove(context.Background(), key); err != nil {
			t.Errorf("remove view %s: %v", key, err)
		}
	}()
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatalf("mount %s view %+v: %v", snap, mounts, err)
	}
	defer mount.UnmountAll(target, 0)
	tree, err := fstree.Walk(target, fstree.Options{SkipXattrPrefixes: []string{"trusted.overlay."}})
	if err != nil {
		t.Fatalf("walk %s view: %v", snap, err)
	}
	return tree
}

// sameTree checks that chainID unpacked to the same tree in zfslxc as in
// overlayfs.
func (e *env) sameTree(t *testing.T, chainID digest.Digest) {
	t.Helper()
	want := e.tree(t, "overlayfs", chainID)
	got := e.tree(t, sn, chainID)
	if diff := fstree.Diff(want, got); len(diff) > 0 {
		t.Errorf("zfslxc tree of %s differs from overlayfs (%d entries):\n  %s", chainID, len(want), strings.Join(diff, "\n  "))
	}
	if len(want) < 10 {
		t.Errorf("overlayfs tree of %s has only %d entries: %v", chainID, len(want), want)
	}
}

// images lists the image names in the daemon's default namespace.
func (e *env) images(t *testing.T) []string {
	t.Helper()
	return strings.Fields(e.mustCtr(t, "images", "list", "--quiet"))
}

// gc makes containerd collect garbage now: deleting a lease with --sync
// runs a collection, which removes from the snapshotter what containerd
// no longer references (containerd removes backend snapshots only then).
func (e *env) gc(t testing.TB) {
	t.Helper()
	id := fmt.Sprintf("gc-%d", time.Now().UnixNano())
	e.mustCtr(t, "leases", "create", "--id", id)
	e.mustCtr(t, "leases", "rm", "--sync", id)
}

// settled collects garbage and waits (30 s at most) until every dataset
// under the parent is a committed layer, and returns the layers; it fails
// the test when an uncommitted dataset stays.
func (e *env) settled(t testing.TB) map[digest.Digest][]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.gc(t)
		layers := e.layerDatasets(t)
		n := 0
		for _, ds := range layers {
			n += len(ds)
		}
		all := e.allDatasets(t)
		if len(all) == n {
			return layers
		}
		if time.Now().After(deadline) {
			t.Fatalf("uncommitted datasets stay 30 s after a garbage collection: %d datasets, %d committed layers: %v", len(all), n, all)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
