package snapshotter_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
)

// sn is the snapshotter's name in containerd.
const sn = containerdtest.SnapshotterName

// imageDir holds the image tars, built once for the package.
var imageDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("/var/tmp", "zfslxc-images-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	imageDir = dir
	return containerdtest.Main(m)
}

// testImage is an image written as an OCI layout tar.
type testImage struct {
	Ref    string
	Tar    string
	Layers int
}

var images sync.Map // name → *imageOnce

type imageOnce struct {
	once sync.Once
	img  testImage
	err  error
}

// buildImage writes img (once per package run) and returns its tar.
func buildImage(t *testing.T, key string, build func() (*imagebuild.Image, error)) testImage {
	t.Helper()
	v, _ := images.LoadOrStore(key, &imageOnce{})
	o := v.(*imageOnce)
	o.once.Do(func() {
		img, err := build()
		if err != nil {
			o.err = err
			return
		}
		tar := filepath.Join(imageDir, key+".tar")
		if _, err := img.WriteLayoutFile(tar); err != nil {
			o.err = err
			return
		}
		o.img = testImage{Ref: img.Ref(), Tar: tar, Layers: len(img.Layers)}
	})
	if o.err != nil {
		t.Fatalf("build image %s: %v", key, o.err)
	}
	return o.img
}

// multiLayerImage is imagebuild.MultiLayerTestImage: 3 layers with
// whiteouts, an opaque directory, links, modes and an xattr.
func multiLayerImage(t *testing.T) testImage {
	t.Helper()
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	return buildImage(t, "multi", func() (*imagebuild.Image, error) {
		return imagebuild.MultiLayerTestImage("", imagebuild.DefaultBusyboxPath)
	})
}

// largeImageSize is the size of the large file of largeImage: big enough
// that applying it takes a while on zfs-fuse, so the daemon can be killed
// in the middle.
const largeImageSize = 256 << 20

// largeImage is busybox and a layer holding /big/blob.bin of size bytes.
func largeImage(t *testing.T, name string, size int64) testImage {
	t.Helper()
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	return buildImage(t, fmt.Sprintf("%s-%d", name, size), func() (*imagebuild.Image, error) {
		base, err := imagebuild.BusyboxLayer(imagebuild.DefaultBusyboxPath)
		if err != nil {
			return nil, err
		}
		img := &imagebuild.Image{
			Name:   "docker.io/zfslxc/" + name + ":latest",
			Layers: []imagebuild.Layer{base, imagebuild.LargeFileLayer("/big/blob.bin", size)},
		}
		img.Config.Cmd = []string{"/bin/sh", "-c", "stat -c %s /big/blob.bin"}
		return img, nil
	})
}

// env is one test's world: a pool, the daemon on <pool>/zfslxc, and a
// containerd that has it as proxy snapshotter "zfslxc".
type env struct {
	Pool   *testpool.Pool
	Parent string
	Sn     *containerdtest.Snapshotter
	D      *containerdtest.Daemon
}

// setup starts everything for flavor f (nil D when f is nil); all of it
// is torn down when t ends.
func setup(t *testing.T, f *containerdtest.Flavor, args ...string) *env {
	t.Helper()
	return setupOn(t, f, testpool.Options{}, args...)
}

// setupOn is setup on a pool made with popts.
func setupOn(t *testing.T, f *containerdtest.Flavor, popts testpool.Options, args ...string) *env {
	t.Helper()
	if f != nil {
		// Before making a pool: a missing containerd skips fast.
		containerdtest.RequireHost(t, *f)
	}
	p := testpool.New(t, popts)
	e := &env{Pool: p, Parent: p.Name + "/zfslxc"}
	e.Sn = containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: e.Parent, Args: args, Driver: p.Driver})
	if f != nil {
		e.D = containerdtest.Start(t, *f, containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: f.ConfigVersion, SnapshotterName: sn, SnapshotterAddress: e.Sn.Address}))
	}
	return e
}

// forEachFlavor runs fn as a sub-test per containerd flavor.
func forEachFlavor(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			fn(t, setup(t, &f))
		})
	}
}

// dataset is a snapshot dataset under the parent, as zfs shows it.
type dataset struct {
	Name      string // full name
	ID        string // last component: the MetaStore id
	Key       string // io.zfslxc:key, unescaped
	Origin    string // snapshot it is a clone of, "" if none
	Committed string // io.zfslxc:key of <name>@committed, unescaped; "" if no such snapshot
}

// datasets lists the snapshot datasets under the parent, from one zfs
// call, sorted by id.
func (e *env) datasets(t *testing.T) []dataset {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "zfs", "get", "-H", "-r", "-o", "name,property,value",
		"type,origin,"+ondisk.PropKey, e.Parent).Output()
	if err != nil {
		t.Fatalf("zfs get -r %s: %v", e.Parent, stderrOf(err))
	}
	byName := map[string]*dataset{}
	snaps := map[string]string{}
	types := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == e.Parent {
			continue
		}
		name, prop, value := f[0], f[1], f[2]
		if ds, snap, ok := strings.Cut(name, "@"); ok {
			if snap == "committed" && prop == ondisk.PropKey {
				snaps[ds] = unescape(t, value)
			}
			continue
		}
		d := byName[name]
		if d == nil {
			d = &dataset{Name: name, ID: strings.TrimPrefix(name, e.Parent+"/")}
			byName[name] = d
		}
		switch prop {
		case "type":
			types[name] = value
		case "origin":
			if value != "-" {
				d.Origin = value
			}
		case ondisk.PropKey:
			d.Key = unescape(t, value)
		}
	}
	var list []dataset
	for name, d := range byName {
		if types[name] != "filesystem" {
			continue
		}
		d.Committed = snaps[name]
		list = append(list, *d)
	}
	sort.Slice(list, func(i, j int) bool {
		return len(list[i].ID) < len(list[j].ID) || len(list[i].ID) == len(list[j].ID) && list[i].ID < list[j].ID
	})
	return list
}

func unescape(t *testing.T, v string) string {
	t.Helper()
	if v == "-" {
		return ""
	}
	// A key longer than the property limit is cut (maybe inside an
	// escape) and ends in "...".
	if cut, ok := strings.CutSuffix(v, "..."); ok {
		v = cut
		if i := strings.LastIndex(v, "%"); i >= 0 && i > len(v)-3 {
			v = v[:i]
		}
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		t.Errorf("%s %q is not URL-escaped: %v", ondisk.PropKey, v, err)
		return v
	}
	return u
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err.Error()
}

// gc makes containerd collect garbage now and wait for it: deleting a
// lease with --sync runs a collection, which removes from the snapshotter
// the snapshots containerd no longer references and then calls its
// Cleanup. (containerd's scheduled collections can miss a removal made
// while one runs, until the next removal triggers another.)
func (e *env) gc(t *testing.T) {
	t.Helper()
	id := fmt.Sprintf("gc-%d", time.Now().UnixNano())
	e.D.MustCtr(t, "leases", "create", "--id", id)
	e.D.MustCtr(t, "leases", "rm", "--sync", id)
}

// waitDatasets polls (up to 30 s) until the parent holds n snapshot
// datasets and returns them; it fails the test otherwise. With containerd
// running, a garbage collection is forced first.
func (e *env) waitDatasets(t *testing.T, n int) []dataset {
	t.Helper()
	if e.D != nil && e.D.Running() {
		e.gc(t)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := e.datasets(t)
		if len(list) == n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d datasets under %s, have %d after 30s:\n%s", n, e.Parent, len(list), fmtDatasets(list))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func fmtDatasets(list []dataset) string {
	var b strings.Builder
	for _, d := range list {
		fmt.Fprintf(&b, "  %s key=%q origin=%q committed=%q\n", d.Name, d.Key, d.Origin, d.Committed)
	}
	return b.String()
}

// client is a snapshots.Snapshotter over the daemon's socket: the
// daemon's own view (its MetaStore), below containerd's metadata.
func (e *env) client(t *testing.T) snapshots.Snapshotter {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+e.Sn.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", e.Sn.Address, err)
	}
	t.Cleanup(func() { conn.Close() })
	return proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), sn)
}

// backend returns the daemon's snapshots by key.
func (e *env) backend(t *testing.T) map[string]snapshots.Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	infos := map[string]snapshots.Info{}
	err := e.client(t).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		infos[info.Name] = info
		return nil
	})
	if err != nil {
		t.Fatalf("walk the daemon's snapshots: %v", err)
	}
	return infos
}

// assertAgree checks that the pool and the daemon's MetaStore agree: every
// dataset is a snapshot of the MetaStore under the key it records, and
// every snapshot has its dataset, committed ones with @committed under
// their name. With containerd running, it first forces a garbage
// collection: a Remove from a running one destroys its dataset only after
// the metadata commit, so the two sides differ for a moment. It returns
// the daemon's snapshots.
func (e *env) assertAgree(t *testing.T) map[string]snapshots.Info {
	t.Helper()
	if e.D != nil && e.D.Running() {
		e.gc(t)
	}
	infos := e.backend(t)
	list := e.datasets(t)
	byKey := map[string]dataset{}
	for _, d := range list {
		byKey[d.Key] = d
		if _, ok := infos[d.Key]; ok {
			continue
		}
		if info, ok := infos[d.Committed]; !ok || info.Kind != snapshots.KindCommitted {
			t.Errorf("dataset %s (key %q, committed %q) has no snapshot in the MetaStore", d.Name, d.Key, d.Committed)
		}
	}
	for key, info := range infos {
		if info.Kind == snapshots.KindCommitted {
			if !slices.ContainsFunc(list, func(d dataset) bool { return d.Committed == key }) {
				t.Errorf("committed snapshot %q has no dataset with @committed", key)
			}
			continue
		}
		if _, ok := byKey[key]; !ok {
			t.Errorf("%v snapshot %q has no dataset", info.Kind, key)
		}
	}
	if t.Failed() {
		t.Logf("datasets:\n%s", fmtDatasets(list))
		t.Logf("snapshots: %v", sortedKeys(infos))
	}
	return infos
}

// assertContainerdAgrees checks that `ctr snapshots ls` lists exactly
// the daemon's snapshots (whose keys containerd prefixes with
// "<namespace>/<n>/"), with the same kinds. Snapshots the daemon holds and
// containerd forgot (its removal failed while the daemon was down) go
// only in a collection after containerd has changed a reference to one of
// the snapshotter's snapshots: call it after such a change.
func (e *env) assertContainerdAgrees(t *testing.T) {
	t.Helper()
	backend := map[string]string{}
	for key, info := range e.backend(t) {
		backend[strings.TrimPrefix(key, nsPrefix.FindString(key))] = info.Kind.String()
	}
	listed := map[string]string{}
	for _, r := range e.ctrSnapshots(t) {
		listed[r.Key] = r.Kind
	}
	if fmt.Sprint(listed) != fmt.Sprint(backend) {
		t.Errorf("containerd lists %v, the daemon has %v", listed, backend)
	}
}

// nsPrefix is what containerd's metadata puts before a key it passes to
// a snapshotter.
var nsPrefix = regexp.MustCompile(`^[a-zA-Z0-9._-]+/[0-9]+/`)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ctrSnapshot is one row of `ctr snapshots ls`.
type ctrSnapshot struct{ Key, Parent, Kind string }

// ctrSnapshots lists containerd's view of the snapshotter (keys without
// spaces only).
func (e *env) ctrSnapshots(t *testing.T) []ctrSnapshot {
	t.Helper()
	out := e.D.MustCtr(t, "snapshots", "--snapshotter", sn, "ls")
	var rows []ctrSnapshot
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 2 {
			continue // header
		}
		r := ctrSnapshot{Key: f[0], Kind: f[len(f)-1]}
		if len(f) == 3 {
			r.Parent = f[1]
		}
		rows = append(rows, r)
	}
	return rows
}

// waitReconnect polls until containerd reaches the snapshotter again
// after a restart (gRPC reconnects with a backoff) and returns the
// snapshots it lists.
func (e *env) waitReconnect(t *testing.T) []ctrSnapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, err := e.D.Ctr(t, "snapshots", "--snapshotter", sn, "ls")
		if err == nil {
			return e.ctrSnapshots(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not reach the restarted snapshotter within 30s: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// importImage imports img into the snapshotter (unpacked at import).
func (e *env) importImage(t *testing.T, img testImage) {
	t.Helper()
	e.D.MustCtr(t, "images", "import", "--snapshotter", sn, img.Tar)
}

// runScript runs sh -c script in a new container of ref on the
// snapshotter (runc) and returns its standard output.
func (e *env) runScript(t *testing.T, ref, id, script string, extra ...string) string {
	t.Helper()
	args := append([]string{"run", "--rm", "--snapshotter", sn}, extra...)
	args = append(args, ref, id, "/bin/sh", "-c", script)
	return e.D.MustCtr(t, args...)
}

// removeAllImages deletes every image synchronously, so containerd's
// garbage collection removes their snapshots before it returns (and calls
// the snapshotter's Cleanup).
func (e *env) removeAllImages(t *testing.T) {
	t.Helper()
	out := e.D.MustCtr(t, "images", "ls", "--quiet")
	if refs := strings.Fields(out); len(refs) > 0 {
		e.D.MustCtr(t, append([]string{"images", "rm", "--sync"}, refs...)...)
	}
}

// waitEmpty polls (up to 30 s) until the parent holds no dataset, and
// checks that neither containerd nor the daemon lists a snapshot.
func (e *env) waitEmpty(t *testing.T) {
	t.Helper()
	e.waitDatasets(t, 0)
	if rows := e.ctrSnapshots(t); len(rows) != 0 {
		t.Errorf("ctr snapshots ls lists %v after garbage collection", rows)
	}
	if infos := e.backend(t); len(infos) != 0 {
		t.Errorf("the daemon still has snapshots %v", sortedKeys(infos))
	}
}
