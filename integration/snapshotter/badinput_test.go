package snapshotter_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/snapshotter"
	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
)

// oddKeys are snapshot keys a snapshotter must carry through untouched.
var oddKeys = map[string]string{
	"spaces":    "key with spaces",
	"newline":   "new\nline",
	"quotes":    `quotes "double" and 'single'`,
	"unicode":   "ünïcödé ☃ 日本語",
	"percent":   "100% %41 %zz",
	"slashes":   `slash/and\backslash @at #hash`,
	"very-long": strings.Repeat("long-ä-", 700), // 5.6 kB; escaped over the property limit
}

// TestBadInputCtr sends bad and odd input through ctr and containerd.
func TestBadInputCtr(t *testing.T) {
	img := multiLayerImage(t)
	forEachFlavor(t, func(t *testing.T, e *env) {
		e.importImage(t, img)
		layers := e.datasets(t)

		t.Run("bad-quota-label", func(t *testing.T) {
			_, _, err := e.D.Ctr(t, "run", "--rm", "--snapshotter", sn,
				"--snapshotter-label", snapshotter.LabelQuota+"=lots", img.Ref, "bad-quota")
			if err == nil {
				t.Fatal("run with quota label lots succeeded")
			}
			t.Logf("refused: %v", err)
			if msg := err.Error(); !strings.Contains(msg, snapshotter.LabelQuota) || !strings.Contains(msg, "invalid argument") {
				t.Errorf("error does not name the label as an invalid argument: %v", err)
			}
			if n := len(e.datasets(t)); n != len(layers) {
				t.Errorf("%d datasets after the refused prepare, want %d", n, len(layers))
			}
		})

		t.Run("quota-label", func(t *testing.T) {
			out := e.runScript(t, img.Ref, "quota",
				"dd if=/dev/zero of=/fill bs=1M count=64 2>&1; echo rc=$?; rm -f /fill",
				"--snapshotter-label", snapshotter.LabelQuota+"=16M")
			t.Logf("dd under a 16M quota: %q", out)
			if !strings.Contains(out, "quota") || strings.Contains(out, "rc=0") {
				t.Errorf("writing 64 MiB under a 16M quota label: %q, want a disk quota error", out)
			}
		})

		t.Run("remove-with-children", func(t *testing.T) {
			// The containers' snapshots go at containerd's next collection.
			e.waitDatasets(t, len(layers))
			rows := e.ctrSnapshots(t)
			var bottom string
			for _, r := range rows {
				if r.Parent == "" {
					bottom = r.Key
				}
			}
			_, _, err := e.D.Ctr(t, "snapshots", "--snapshotter", sn, "rm", bottom)
			if err == nil {
				t.Fatalf("removing %s, which has children, succeeded", bottom)
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), "failed precondition") {
				t.Errorf("error is not a failed precondition: %v", err)
			}
			if got := e.datasets(t); len(got) != len(layers) {
				t.Errorf("datasets changed:\n%s", fmtDatasets(got))
			}
			if after := e.ctrSnapshots(t); fmt.Sprint(after) != fmt.Sprint(rows) {
				t.Errorf("snapshots changed: %v, was %v", after, rows)
			}
		})

		t.Run("odd-keys", func(t *testing.T) {
			top := e.ctrSnapshots(t)
			var parent string
			for _, r := range top {
				parent = r.Key // the rows are sorted by key; any layer will do
			}
			for name, key := range oddKeys {
				e.D.MustCtr(t, "snapshots", "--snapshotter", sn, "prepare", key, parent)
				e.D.MustCtr(t, "snapshots", "--snapshotter", sn, "commit", key+" committed", key)
				info := e.D.MustCtr(t, "snapshots", "--snapshotter", sn, "info", key+" committed")
				if !strings.Contains(info, "Committed") {
					t.Errorf("%s: info of the committed snapshot: %s", name, info)
				}
			}
			list := e.datasets(t)
			if len(list) != len(layers)+len(oddKeys) {
				t.Fatalf("want %d datasets, have:\n%s", len(layers)+len(oddKeys), fmtDatasets(list))
			}
			for name, key := range oddKeys {
				if !hasDataset(list, key, key+" committed") {
					t.Errorf("%s: no dataset with key …/%q and @committed …/%q:\n%s", name, key, key+" committed", fmtDatasets(list))
				}
			}
			for _, key := range oddKeys {
				e.D.MustCtr(t, "snapshots", "--snapshotter", sn, "rm", key+" committed")
			}
			// containerd removes the backend snapshots in its next
			// garbage collection.
			e.waitDatasets(t, len(layers))
			e.assertAgree(t)
			e.assertContainerdAgrees(t)
		})
	})
}

// hasDataset reports whether a dataset's key is key and its @committed
// key committed, after containerd's "<namespace>/<n>/" prefix if any; a
// key cut to the property limit matches as a prefix.
func hasDataset(list []dataset, key, committed string) bool {
	match := func(got, want string) bool {
		if m := nsPrefix.FindString(got); m != "" && got != want {
			got = got[len(m):]
		}
		return got == want || len(got) > 1000 && strings.HasPrefix(want, got)
	}
	for _, d := range list {
		if match(d.Key, key) && match(d.Committed, committed) {
			return true
		}
	}
	return false
}

// TestBadInputAPI sends bad and odd input straight to the daemon's gRPC
// socket (what containerd forwards), so the error classes are checked
// across the proxy without containerd's own checks in front.
func TestBadInputAPI(t *testing.T) {
	e := setup(t, nil)
	c := e.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("bad-labels", func(t *testing.T) {
		for label, value := range map[string]string{
			snapshotter.LabelQuota:               "lots",
			snapshots.LabelSnapshotMaxSize:       "-1",
			snapshotter.LabelCompression:         "brotli",
			snapshotter.LabelRecordsize:          "3000",
			"containerd.io/snapshot/other.quota": "lots", // not ours: ignored
		} {
			_, err := c.Prepare(ctx, "bad-"+label, "", snapshots.WithLabels(map[string]string{label: value}))
			if strings.Contains(label, "other") {
				if err != nil {
					t.Errorf("unknown label %q: %v", label, err)
				}
				if err := c.Remove(ctx, "bad-"+label); err != nil {
					t.Error(err)
				}
				continue
			}
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(fmt.Sprint(err), label) {
				t.Errorf("label %s=%q: got %v, want InvalidArgument naming the label", label, value, err)
			}
		}
		if list := e.datasets(t); len(list) != 0 {
			t.Errorf("refused prepares left datasets:\n%s", fmtDatasets(list))
		}
		if infos := e.backend(t); len(infos) != 0 {
			t.Errorf("refused prepares left snapshots %v", sortedKeys(infos))
		}
	})

	t.Run("remove-with-children", func(t *testing.T) {
		if _, err := c.Prepare(ctx, "base-active", ""); err != nil {
			t.Fatal(err)
		}
		if err := c.Commit(ctx, "base", "base-active"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Prepare(ctx, "child", "base"); err != nil {
			t.Fatal(err)
		}
		before := e.datasets(t)
		if err := c.Remove(ctx, "base"); !errdefs.IsFailedPrecondition(err) {
			t.Errorf("remove of a parent: got %v, want FailedPrecondition", err)
		}
		if after := e.datasets(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("datasets changed:\n%s\nwas:\n%s", fmtDatasets(after), fmtDatasets(before))
		}
		if _, err := c.Stat(ctx, "base"); err != nil {
			t.Errorf("stat base after the refused remove: %v", err)
		}
		for _, k := range []string{"child", "base"} {
			if err := c.Remove(ctx, k); err != nil {
				t.Fatalf("remove %s: %v", k, err)
			}
		}
		if err := c.Remove(ctx, "base"); !errdefs.IsNotFound(err) {
			t.Errorf("second remove: got %v, want NotFound", err)
		}
		if list := e.datasets(t); len(list) != 0 {
			t.Errorf("datasets left:\n%s", fmtDatasets(list))
		}
	})

	t.Run("odd-keys", func(t *testing.T) {
		for name, key := range oddKeys {
			t.Run(name, func(t *testing.T) {
				mounts, err := c.Prepare(ctx, key, "")
				if err != nil {
					t.Fatalf("prepare: %v", err)
				}
				if len(mounts) != 1 || mounts[0].Type != "bind" {
					t.Errorf("mounts %+v, want one bind mount", mounts)
				}
				name := key + " committed"
				if err := c.Commit(ctx, name, key); err != nil {
					t.Fatalf("commit: %v", err)
				}
				info, err := c.Stat(ctx, name)
				if err != nil || info.Name != name || info.Kind != snapshots.KindCommitted {
					t.Errorf("stat: %+v, %v", info, err)
				}
				if _, err := c.Prepare(ctx, key+" child", name); err != nil {
					t.Fatalf("prepare child: %v", err)
				}
				list := e.datasets(t)
				if len(list) != 2 || !hasDataset(list, key, name) {
					t.Errorf("datasets:\n%s", fmtDatasets(list))
				}
				for _, k := range []string{key + " child", name} {
					if err := c.Remove(ctx, k); err != nil {
						t.Fatalf("remove %q: %v", k, err)
					}
				}
				// The daemon destroys the dataset right after the
				// metadata commit.
				if list := e.datasets(t); len(list) != 0 {
					t.Errorf("datasets left:\n%s", fmtDatasets(list))
				}
			})
		}
	})
}

// TestStartupErrors starts the daemon on parents it cannot use: it must
// exit non-zero with a message that names the problem and what to do.
func TestStartupErrors(t *testing.T) {
	bin := containerdtest.SnapshotterBinary(t)
	start := func(t *testing.T, dataset string) (string, error) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "none.toml"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "--config", filepath.Join(dir, "none.toml"),
			"--address", filepath.Join(dir, "s.sock"), "--root", filepath.Join(dir, "root"),
			"--dataset", dataset).CombinedOutput()
		return string(out), err
	}
	testpool.Require(t)

	t.Run("missing-pool", func(t *testing.T) {
		pool := testpool.UniqueName() + "missing"
		out, err := start(t, pool+"/zfslxc")
		if err == nil {
			t.Fatalf("daemon served on a missing pool:\n%s", out)
		}
		for _, want := range []string{pool, "does not exist", "zpool create"} {
			if !strings.Contains(out, want) {
				t.Errorf("message lacks %q:\n%s", want, out)
			}
		}
	})

	p := testpool.New(t)
	t.Run("unmounted-parent", func(t *testing.T) {
		parent := p.Name + "/nomount"
		if out, err := exec.Command("zfs", "create", "-o", "mountpoint=none", parent).CombinedOutput(); err != nil {
			t.Fatalf("zfs create: %v: %s", err, out)
		}
		out, err := start(t, parent)
		if err == nil {
			t.Fatalf("daemon served on a parent without mountpoint:\n%s", out)
		}
		for _, want := range []string{parent, "zfs set mountpoint="} {
			if !strings.Contains(out, want) {
				t.Errorf("message lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("not-a-filesystem", func(t *testing.T) {
		out, err := start(t, p.Name+"/a@b")
		if err == nil {
			t.Fatalf("daemon served on a snapshot name:\n%s", out)
		}
		if !strings.Contains(out, "a@b") {
			t.Errorf("message does not name the dataset:\n%s", out)
		}
	})

	t.Run("missing-parent-created", func(t *testing.T) {
		e := &env{Pool: p, Parent: p.Name + "/new/zfslxc"}
		e.Sn = containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: e.Parent, Driver: p.Driver})
		if list := e.datasets(t); len(list) != 0 {
			t.Errorf("new parent has datasets:\n%s", fmtDatasets(list))
		}
		managed, err := p.Driver.GetProperty(context.Background(), e.Parent, ondisk.PropManaged)
		if err != nil || managed != "true" {
			t.Errorf("%s of the created parent: %q, %v", ondisk.PropManaged, managed, err)
		}
	})
}

// TestPoolFull fills the parent's quota with an import: the import fails
// with the write error, and afterwards (after the daemon's Cleanup) no
// partial dataset is left; with the quota lifted the import works.
func TestPoolFull(t *testing.T) {
	img := largeImage(t, "full", 64<<20)
	forEachFlavor(t, func(t *testing.T, e *env) {
		if out, err := exec.Command("zfs", "set", "quota=20M", e.Parent).CombinedOutput(); err != nil {
			t.Fatalf("zfs set quota: %v: %s", err, out)
		}
		_, _, err := e.D.Ctr(t, "images", "import", "--snapshotter", sn, img.Tar)
		if err == nil {
			t.Fatal("importing a 64 MiB layer under a 20M quota succeeded")
		}
		t.Logf("import under quota: %v", errLines(err.Error()))
		if msg := err.Error(); !strings.Contains(msg, "quota") && !strings.Contains(msg, "no space") {
			t.Errorf("error does not say the space ran out: %v", err)
		}
		// containerd removes the failed layer's snapshot; its dataset goes
		// at the next garbage collection.
		e.gc(t)
		deadline := time.Now().Add(30 * time.Second)
		for {
			active := 0
			for _, info := range e.backend(t) {
				if info.Kind != snapshots.KindCommitted {
					active++
				}
			}
			if active == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d active snapshots still there 30s after the failed import", active)
			}
			time.Sleep(250 * time.Millisecond)
		}
		e.Sn.Restart(t) // runs Cleanup
		e.waitReconnect(t)
		e.assertAgree(t)
		for _, d := range e.datasets(t) {
			if d.Committed == "" {
				t.Errorf("partial dataset %s (key %q) left", d.Name, d.Key)
			}
		}

		if out, err := exec.Command("zfs", "set", "quota=none", e.Parent).CombinedOutput(); err != nil {
			t.Fatalf("zfs set quota: %v: %s", err, out)
		}
		e.importImage(t, img)
		if out := e.D.MustCtr(t, "run", "--rm", "--snapshotter", sn, img.Ref, "full"); strings.TrimSpace(out) != fmt.Sprint(64<<20) {
			t.Errorf("size of /big/blob.bin: %q", out)
		}
		e.assertAgree(t)
		e.removeAllImages(t)
		e.waitEmpty(t)
	})
}
