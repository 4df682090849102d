package snapshotter_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// state is what a refused call must leave as it was: the snapshot
// datasets (with their keys) and the daemon's MetaStore (keys, kinds,
// parents).
func (e *env) state(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(fmtDatasets(e.datasets(t)))
	infos := e.backend(t)
	for _, k := range sortedKeys(infos) {
		fmt.Fprintf(&b, "  snapshot %q %v parent=%q labels=%d\n", k, infos[k].Kind, infos[k].Parent, len(infos[k].Labels))
	}
	return b.String()
}

// errClass is an errdefs class a refusal must carry across the socket.
type errClass struct {
	name string
	is   func(error) bool
}

var (
	invalidArgument    = errClass{"InvalidArgument", errdefs.IsInvalidArgument}
	notFound           = errClass{"NotFound", errdefs.IsNotFound}
	alreadyExists      = errClass{"AlreadyExists", errdefs.IsAlreadyExists}
	failedPrecondition = errClass{"FailedPrecondition", errdefs.IsFailedPrecondition}
	notImplemented     = errClass{"NotImplemented", errdefs.IsNotImplemented}
	resourceExhausted  = errClass{"ResourceExhausted", errdefs.IsResourceExhausted}
)

// TestMisuseAPI is a client that skips containerd's own checks and talks
// to the daemon's socket directly (containerd's snapshots proxy client):
// every call that makes no sense is refused with an errdefs class that
// survives gRPC and a message naming what is wrong, and leaves the pool's
// datasets and the MetaStore exactly as they were; odd bytes that
// containerd passes through are carried; concurrent calls on one key
// have one winner and leak nothing. Found: an empty key, committed name or
// label key reached containerd as Unknown ("bucket name required", "key
// required"); labels containerd refuses (key and value over 4096 bytes)
// were stored; a Commit with a parent (containerd 2.x's rebase, which
// zfslxc does not advertise) recorded a parent the dataset is not a clone
// of; NotFound errors did not name the key.
func TestMisuseAPI(t *testing.T) {
	e := setup(t, nil)
	c := e.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The snapshots the cases lean on: base (committed), child (active on
	// base), active (active, no parent), view (a view of base).
	if _, err := c.Prepare(ctx, "base-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ key, parent string }{{"child", "base"}, {"active", ""}} {
		if _, err := c.Prepare(ctx, s.key, s.parent); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.View(ctx, "view", "base"); err != nil {
		t.Fatal(err)
	}
	label := func(k, v string) snapshots.Opt { return snapshots.WithLabels(map[string]string{k: v}) }
	// containerd's limit (pkg/labels): key and value together 4096 bytes.
	tooBig := strings.Repeat("v", 4097-len("big"))
	manyBig := map[string]string{}
	for i := range 1100 { // 1100 x 4 KiB: over gRPC's 4 MiB message limit
		manyBig[fmt.Sprintf("l%04d", i)] = strings.Repeat("v", 4000)
	}

	refused := []struct {
		name  string
		call  func() error
		class errClass
		want  string // in the message
	}{
		{"prepare-empty-key", func() error { _, err := c.Prepare(ctx, "", ""); return err }, invalidArgument, "key"},
		{"view-empty-key", func() error { _, err := c.View(ctx, "", "base"); return err }, invalidArgument, "key"},
		{"commit-empty-name", func() error { return c.Commit(ctx, "", "active") }, invalidArgument, "name"},
		{"prepare-existing-active", func() error { _, err := c.Prepare(ctx, "active", ""); return err }, alreadyExists, "active"},
		{"prepare-existing-committed", func() error { _, err := c.Prepare(ctx, "base", ""); return err }, alreadyExists, "base"},
		{"view-existing-view", func() error { _, err := c.View(ctx, "view", "base"); return err }, alreadyExists, "view"},
		{"prepare-parent-missing", func() error { _, err := c.Prepare(ctx, "x", "missing"); return err }, notFound, "missing"},
		{"prepare-parent-active", func() error { _, err := c.Prepare(ctx, "x", "active"); return err }, invalidArgument, "active"},
		{"prepare-parent-view", func() error { _, err := c.Prepare(ctx, "x", "view"); return err }, invalidArgument, "view"},
		{"view-parent-active", func() error { _, err := c.View(ctx, "x", "child"); return err }, invalidArgument, "child"},
		{"prepare-parent-itself", func() error { _, err := c.Prepare(ctx, "self", "self"); return err }, notFound, "self"},
		{"commit-unknown-key", func() error { return c.Commit(ctx, "n", "missing") }, notFound, "missing"},
		{"commit-committed", func() error { return c.Commit(ctx, "n", "base") }, failedPrecondition, "base"},
		{"commit-view", func() error { return c.Commit(ctx, "n", "view") }, failedPrecondition, "view"},
		{"commit-onto-existing-name", func() error { return c.Commit(ctx, "base", "active") }, alreadyExists, "base"},
		{"commit-onto-own-key", func() error { return c.Commit(ctx, "active", "active") }, alreadyExists, "active"},
		{"commit-rebase", func() error { return c.Commit(ctx, "n", "active", snapshots.WithParent("base")) }, notImplemented, "base"},
		{"commit-rebase-missing-parent", func() error { return c.Commit(ctx, "n", "active", snapshots.WithParent("missing")) }, notImplemented, "missing"},
		{"commit-other-parent", func() error { return c.Commit(ctx, "n", "child", snapshots.WithParent("view")) }, notImplemented, "view"},
		{"prepare-label-over-4096", func() error { _, err := c.Prepare(ctx, "x", "", label("big", tooBig)); return err }, invalidArgument, "4097"},
		{"prepare-label-key-40KiB", func() error { _, err := c.Prepare(ctx, "x", "", label(strings.Repeat("k", 40<<10), "v")); return err }, invalidArgument, "label"},
		{"view-label-over-4096", func() error { _, err := c.View(ctx, "x", "base", label("big", tooBig)); return err }, invalidArgument, "4097"},
		{"commit-label-over-4096", func() error { return c.Commit(ctx, "n", "active", label("big", tooBig)) }, invalidArgument, "4097"},
		{"update-label-over-4096", func() error {
			_, err := c.Update(ctx, snapshots.Info{Name: "base", Labels: map[string]string{"big": tooBig}}, "labels.big")
			return err
		}, invalidArgument, "4097"},
		{"prepare-empty-label-key", func() error { _, err := c.Prepare(ctx, "x", "", label("", "v")); return err }, invalidArgument, "label"},
		{"update-empty-label-key", func() error {
			_, err := c.Update(ctx, snapshots.Info{Name: "base", Labels: map[string]string{"": "v"}}, "labels")
			return err
		}, invalidArgument, "label"},
		{"labels-over-4MiB", func() error { _, err := c.Prepare(ctx, "x", "", snapshots.WithLabels(manyBig)); return err }, resourceExhausted, "larger than max"},
		{"update-kind", func() error {
			_, err := c.Update(ctx, snapshots.Info{Name: "active", Kind: snapshots.KindCommitted}, "kind")
			return err
		}, invalidArgument, "kind"},
		{"update-unknown", func() error { _, err := c.Update(ctx, snapshots.Info{Name: "missing"}); return err }, notFound, "missing"},
		{"stat-unknown", func() error { _, err := c.Stat(ctx, "missing"); return err }, notFound, "missing"},
		{"usage-unknown", func() error { _, err := c.Usage(ctx, "missing"); return err }, notFound, "missing"},
		{"mounts-unknown", func() error { _, err := c.Mounts(ctx, "missing"); return err }, notFound, "missing"},
		{"mounts-committed", func() error { _, err := c.Mounts(ctx, "base"); return err }, failedPrecondition, "base"},
		{"remove-unknown", func() error { return c.Remove(ctx, "missing") }, notFound, "missing"},
		{"remove-empty-key", func() error { return c.Remove(ctx, "") }, notFound, "snapshot"},
		{"remove-parent-with-children", func() error { return c.Remove(ctx, "base") }, failedPrecondition, "base"},
	}
	t.Run("refused", func(t *testing.T) {
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				before := e.state(t)
				err := tc.call()
				t.Logf("%v", shorten(err))
				if !tc.class.is(err) || !strings.Contains(fmt.Sprint(err), tc.want) {
					t.Errorf("got %v, want %s naming %q", shorten(err), tc.class.name, tc.want)
				}
				if after := e.state(t); after != before {
					t.Errorf("the refused call changed the pool or the MetaStore:\n%s\nwas:\n%s", after, before)
				}
			})
		}
	})

	// Odd bytes containerd passes through: carried, and nothing left
	// after the Remove.
	t.Run("odd-bytes-carried", func(t *testing.T) {
		for _, tc := range []struct {
			name, key string
			labels    map[string]string
		}{
			{"nul-key", "a\x00b", nil},
			{"newline-key", "a\nb\r\n", nil},
			{"slash-key", "/a//b/", nil},
			{"at-key", "@a@b@", nil},
			{"dotdot-key", "../../..", nil},
			{"dash-key", "-rf", nil},
			{"4KiB-key", strings.Repeat("k", 4096), nil},
			{"64KiB-key", strings.Repeat("k", 64<<10), nil}, // the dataset's io.zfslxc:key is cut at 4 KiB
			{"odd-labels", "odd-labels", map[string]string{"a\x00b": "c\x00d", "new\nline": "x\ny", "/@..": "-o readonly=on"}},
			{"label-at-4096", "label-4096", map[string]string{"big": strings.Repeat("v", 4096-len("big"))}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := e.state(t)
				if _, err := c.Prepare(ctx, tc.key, "base", snapshots.WithLabels(tc.labels)); err != nil {
					t.Fatalf("prepare: %v", err)
				}
				name := tc.key + "\x00committed"
				if err := c.Commit(ctx, name, tc.key, snapshots.WithLabels(tc.labels)); err != nil {
					t.Fatalf("commit: %v", err)
				}
				info, err := c.Stat(ctx, name)
				if err != nil || info.Name != name || info.Parent != "base" || info.Kind != snapshots.KindCommitted {
					t.Errorf("stat: %+v, %v", info, err)
				}
				if len(info.Labels) != len(tc.labels) {
					t.Errorf("labels %q, want %q", info.Labels, tc.labels)
				}
				for k, v := range tc.labels {
					if info.Labels[k] != v {
						t.Errorf("label %q = %q, want %q", k, info.Labels[k], v)
					}
				}
				if err := c.Remove(ctx, name); err != nil {
					t.Fatalf("remove: %v", err)
				}
				if after := e.state(t); after != before {
					t.Errorf("left after the remove:\n%s\nwas:\n%s", after, before)
				}
			})
		}
	})

	t.Run("10k-labels", func(t *testing.T) {
		before := e.state(t)
		many := map[string]string{}
		for i := range 10000 {
			many[fmt.Sprintf("containerd.io/gc.ref.content.l%05d", i)] = fmt.Sprintf("sha256:%064d", i)
		}
		if _, err := c.Prepare(ctx, "many", "base", snapshots.WithLabels(many)); err != nil {
			t.Fatalf("prepare with 10000 labels: %v", err)
		}
		info, err := c.Stat(ctx, "many")
		if err != nil || len(info.Labels) != len(many) {
			t.Fatalf("stat: %d labels, %v", len(info.Labels), err)
		}
		for k, v := range many {
			if info.Labels[k] != v {
				t.Fatalf("label %s = %q, want %q", k, info.Labels[k], v)
			}
		}
		// Update replaces them with 10000 others in one call.
		other := map[string]string{}
		for i := range 10000 {
			other[fmt.Sprintf("other.%05d", i)] = "x"
		}
		if _, err := c.Update(ctx, snapshots.Info{Name: "many", Labels: other}, "labels"); err != nil {
			t.Fatalf("update with 10000 labels: %v", err)
		}
		walked := 0
		err = c.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			if i.Name == "many" {
				walked = len(i.Labels)
			}
			return nil
		})
		if err != nil || walked != len(other) {
			t.Errorf("walk: %d labels on many, %v", walked, err)
		}
		if err := c.Remove(ctx, "many"); err != nil {
			t.Fatal(err)
		}
		if after := e.state(t); after != before {
			t.Errorf("left after the remove:\n%s\nwas:\n%s", after, before)
		}
	})

	// Concurrent calls on one key: bbolt runs one write transaction at a
	// time, and each holds its zfs command, so exactly one wins.
	const n = 8
	race := func(t *testing.T, call func(i int) error) (won int, errs []error) {
		t.Helper()
		var wg sync.WaitGroup
		results := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = call(i)
			}()
		}
		close(start)
		wg.Wait()
		won = -1
		for i, err := range results {
			if err == nil {
				if won >= 0 {
					t.Errorf("calls %d and %d both succeeded", won, i)
				}
				won = i
				continue
			}
			errs = append(errs, err)
		}
		if won < 0 {
			t.Fatalf("no call succeeded: %v", results)
		}
		return won, errs
	}
	classedAs := func(t *testing.T, errs []error, classes ...errClass) {
		t.Helper()
		for _, err := range errs {
			if !slices.ContainsFunc(classes, func(c errClass) bool { return c.is(err) }) {
				t.Errorf("loser's error %v is none of %v", shorten(err), classes)
			}
		}
		if len(errs) > 0 {
			t.Logf("a loser: %v", shorten(errs[0]))
		}
	}

	t.Run("concurrent-commit-same-name", func(t *testing.T) {
		before := e.datasets(t)
		if _, err := c.Prepare(ctx, "cc-active", "base"); err != nil {
			t.Fatal(err)
		}
		_, errs := race(t, func(int) error { return c.Commit(ctx, "cc", "cc-active") })
		classedAs(t, errs, notFound, alreadyExists)
		after := e.datasets(t)
		if len(after) != len(before)+1 || !hasDataset(after, "cc-active", "cc") {
			t.Errorf("want one dataset more, committed as cc:\n%s", fmtDatasets(after))
		}
		e.assertAgree(t)
		if err := c.Remove(ctx, "cc"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("concurrent-commit-other-names", func(t *testing.T) {
		before := e.datasets(t)
		if _, err := c.Prepare(ctx, "cn-active", "base"); err != nil {
			t.Fatal(err)
		}
		won, errs := race(t, func(i int) error { return c.Commit(ctx, fmt.Sprintf("cn-%d", i), "cn-active") })
		classedAs(t, errs, notFound)
		after := e.datasets(t)
		if len(after) != len(before)+1 || !hasDataset(after, "cn-active", fmt.Sprintf("cn-%d", won)) {
			t.Errorf("want one dataset more, committed as cn-%d:\n%s", won, fmtDatasets(after))
		}
		infos := e.assertAgree(t)
		for i := range n {
			if _, ok := infos[fmt.Sprintf("cn-%d", i)]; ok != (i == won) {
				t.Errorf("cn-%d in the MetaStore: %v (winner cn-%d)", i, ok, won)
			}
		}
		if err := c.Remove(ctx, fmt.Sprintf("cn-%d", won)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("concurrent-prepare", func(t *testing.T) {
		before := e.datasets(t)
		_, errs := race(t, func(int) error { _, err := c.Prepare(ctx, "cp", "base"); return err })
		classedAs(t, errs, alreadyExists)
		if after := e.datasets(t); len(after) != len(before)+1 {
			t.Errorf("want one dataset more:\n%s", fmtDatasets(after))
		}
		e.assertAgree(t)
		if err := c.Remove(ctx, "cp"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("concurrent-commit-and-remove", func(t *testing.T) {
		before := e.state(t)
		if _, err := c.Prepare(ctx, "cr-active", "base"); err != nil {
			t.Fatal(err)
		}
		won, errs := race(t, func(i int) error {
			if i%2 == 0 {
				return c.Commit(ctx, "cr", "cr-active")
			}
			return c.Remove(ctx, "cr-active")
		})
		classedAs(t, errs, notFound, alreadyExists)
		infos := e.assertAgree(t)
		if _, ok := infos["cr"]; ok != (won%2 == 0) {
			t.Errorf("winner %d (commit: %v), cr in the MetaStore: %v", won, won%2 == 0, ok)
		}
		if won%2 == 0 {
			if err := c.Remove(ctx, "cr"); err != nil {
				t.Fatal(err)
			}
		}
		if after := e.state(t); after != before {
			t.Errorf("left:\n%s\nwas:\n%s", after, before)
		}
	})

	// A Remove while the snapshot is bind-mounted elsewhere (a container
	// still running on it): the metadata goes; the dataset goes now or,
	// if zfs will not destroy it yet, at the Cleanup after the mount is
	// gone. The daemon keeps serving.
	t.Run("remove-while-mounted", func(t *testing.T) {
		before := e.state(t)
		mounts, err := c.Prepare(ctx, "mounted", "base")
		if err != nil {
			t.Fatal(err)
		}
		target := t.TempDir()
		if err := mount.All(mounts, target); err != nil {
			t.Fatal(err)
		}
		mounted := true
		defer func() {
			if mounted {
				_ = mount.UnmountAll(target, 0)
			}
		}()
		if err := os.WriteFile(filepath.Join(target, "in-use"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.Remove(ctx, "mounted"); err != nil {
			t.Fatalf("remove of a mounted snapshot: %v", err)
		}
		if _, err := c.Stat(ctx, "mounted"); !errdefs.IsNotFound(err) {
			t.Errorf("stat after the remove: %v, want NotFound", err)
		}
		// What zfs did to the bind mount is zfs's: zfs-fuse destroyed the
		// dataset at once and unmounted the bind with it (libzfs unmounts
		// every mount of the dataset); a zfs that answers busy leaves the
		// dataset to the Cleanup below.
		_, rerr := os.ReadFile(filepath.Join(target, "in-use"))
		t.Logf("after the remove: %d datasets (%d before the prepare), the bind mounted: %v, reading through it: %v",
			len(e.datasets(t)), strings.Count(before, "key="), mountedAt(t, target), rerr)
		if err := mount.UnmountAll(target, 0); err != nil {
			t.Fatalf("unmount %s: %v", target, err)
		}
		mounted = false
		if err := c.(snapshots.Cleaner).Cleanup(ctx); err != nil {
			t.Fatalf("cleanup: %v", err)
		}
		if after := e.state(t); after != before {
			t.Errorf("left after unmount and Cleanup:\n%s\nwas:\n%s", after, before)
		}
		// zfs still answers: the next Prepare works.
		if _, err := c.Prepare(ctx, "after", "base"); err != nil {
			t.Fatalf("prepare after: %v", err)
		}
		if err := c.Remove(ctx, "after"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRemoveHeldInAnotherNamespace: a Remove of an active snapshot whose
// mount is held in another mount namespace, as a running container holds
// its rootfs: zfs cannot unmount it there. The Remove succeeds (the
// metadata goes, containerd's GC never stalls on it), the holder keeps
// reading its files, and once the holder is gone the next Cleanup destroys
// the dataset.
func TestRemoveHeldInAnotherNamespace(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		containerdtest.SkipOrFail(t, "needs unshare (util-linux, essential on Debian): %v", err)
	}
	e := setup(t, nil)
	c := e.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := e.state(t)
	mounts, err := c.Prepare(ctx, "held", "")
	if err != nil {
		t.Fatal(err)
	}
	src := mounts[0].Source
	if err := os.WriteFile(filepath.Join(src, "in-use"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" "$2" && echo ready && exec sleep 300`, "sh", src, target)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = holder.Process.Kill()
			_ = holder.Wait()
		}
	}
	defer stop()
	line := make([]byte, 6)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "ready\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	// The holder's view of its bind mount, through its root.
	held := filepath.Join(fmt.Sprintf("/proc/%d/root", holder.Process.Pid), target, "in-use")

	if err := c.Remove(ctx, "held"); err != nil {
		t.Fatalf("remove of a snapshot held in another namespace: %v", err)
	}
	if _, err := c.Stat(ctx, "held"); !errdefs.IsNotFound(err) {
		t.Errorf("stat after the remove: %v, want NotFound", err)
	}
	data, rerr := os.ReadFile(held)
	t.Logf("after the remove: %d datasets (%d before the prepare); the holder reads %q, %v",
		len(e.datasets(t)), strings.Count(before, "key="), data, rerr)
	for _, l := range strings.Split(e.Sn.Log(), "\n") {
		if strings.Contains(l, "Cleanup will retry") {
			t.Logf("daemon: %.400s", l)
		}
	}
	stop()
	if err := c.(snapshots.Cleaner).Cleanup(ctx); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if after := e.state(t); after != before {
		t.Errorf("left after the holder went and Cleanup:\n%s\nwas:\n%s", after, before)
	}
}

// mountedAt reports whether something is mounted at dir.
func mountedAt(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// shorten cuts an error's text for the log (some name a 32 KiB key).
func shorten(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// rawCodec sends and receives bytes as they are, so a test can put on
// the wire what containerd's client would refuse to marshal.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error { *v.(*[]byte) = data; return nil }
func (rawCodec) Name() string                       { return "proto" }

// TestNotUTF8OverTheWire: keys and labels that are not valid UTF-8, which
// containerd's gRPC client refuses to send ("string field contains
// invalid UTF-8"), written on the wire by hand: the daemon's gRPC server
// refuses the request before the snapshotter sees it, and nothing is made.
func TestNotUTF8OverTheWire(t *testing.T) {
	e := setup(t, nil)
	conn, err := grpc.NewClient("unix://"+e.Sn.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	label := func(k, v string) []byte {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendString(entry, v)
		return protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), entry)
	}
	prepare := func(key string, labels []byte) error {
		var req []byte
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendString(req, sn)
		req = protowire.AppendTag(req, 2, protowire.BytesType)
		req = protowire.AppendString(req, key)
		req = append(req, labels...)
		var resp []byte
		return conn.Invoke(ctx, "/containerd.services.snapshots.v1.Snapshots/Prepare", &req, &resp, grpc.ForceCodec(rawCodec{}))
	}
	before := e.state(t)
	// The same bytes in UTF-8 make a snapshot: the request is well formed.
	if err := prepare("raw-ok", label("k", "v")); err != nil {
		t.Fatalf("raw prepare in UTF-8: %v", err)
	}
	if info, err := e.client(t).Stat(ctx, "raw-ok"); err != nil || info.Labels["k"] != "v" {
		t.Fatalf("stat of the raw prepare: %+v, %v", info, err)
	}
	if err := e.client(t).Remove(ctx, "raw-ok"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		key    string
		labels []byte
	}{
		{"key", "bad-\xff\xfe", nil},
		{"label-key", "ok-key", label("bad-\xff", "v")},
		{"label-value", "ok-key", label("k", "bad-\xc3\x28")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := prepare(tc.key, tc.labels)
			t.Logf("%v", err)
			if status.Code(err) != codes.Internal || !strings.Contains(fmt.Sprint(err), "UTF-8") {
				t.Errorf("prepare with a %s that is not UTF-8: %v, want the server's Internal naming UTF-8", tc.name, err)
			}
			if after := e.state(t); after != before {
				t.Errorf("the refused call changed the pool or the MetaStore:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}
