package main

// Integration tests of `zfslxc template create --from REF`: images in a
// real containerd (Debian's 1.6 and v2.4.2) with the zfslxc snapshotter on
// a real zfs-fuse pool, and containers run by real LXC.

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
	"github.com/zfslxc/zfslxc/template"
)

// TestTemplateFromContainerd, per containerd version: an image imported
// with --snapshotter zfslxc gives a template that is a clone of the
// snapshotter's top layer (no unpack, ~0 bytes); the same image imported
// with overlayfs only (another namespace) is unpacked from the content
// store; both run their ENTRYPOINT+CMD under lxc-start; a second create is
// a cache hit; a missing ref is NotFound. Then the image goes: containerd's
// GC succeeds though the layer datasets are held by the template, and
// after `template rm` one snapshotter Cleanup destroys them all.
func TestTemplateFromContainerd(t *testing.T) {
	requireBusybox(t)
	requireLXC(t)
	img, err := imagebuild.MultiLayerTestImage("", imagebuild.DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	desc, err := img.WriteLayoutFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	ref := img.Ref()
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			containerdtest.RequireHost(t, f)
			p := testpool.New(t)
			snParent := p.Name + "/zfslxc"
			if f.ConfigVersion >= 3 {
				// A parent made by the admin: no io.zfslxc:managed on it.
				testpool.ZFS(t, "create", snParent)
			}
			ds := p.Name + "/" + template.DefaultParentName
			sn := containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: snParent, Driver: p.Driver})
			d := containerdtest.Start(t, f, containerdconfig.Snippet(containerdconfig.Options{
				ConfigVersion: f.ConfigVersion, SnapshotterName: containerdtest.SnapshotterName, SnapshotterAddress: sn.Address}))
			bin := initBinDir(t)
			lxcpath := t.TempDir()
			t.Cleanup(func() {
				for _, ct := range []string{"reused", "unpacked"} {
					_ = exec.Command("lxc-stop", "-k", "-n", ct, "-P", lxcpath).Run()
				}
			})
			d.MustCtr(t, "images", "import", "--snapshotter", containerdtest.SnapshotterName, tarPath)
			d.MustCtr(t, "-n", "ovl", "images", "import", tarPath) // overlayfs only
			from := func(args ...string) []string {
				return append([]string{"template", "create"}, append(args, "--address", d.Address, "--dataset", ds)...)
			}

			// The top layer's dataset: its @committed key names the chain id.
			chainID := topSnapshot(t, d.MustCtr(t, "snapshots", "--snapshotter", containerdtest.SnapshotterName, "ls"))
			top := committedOf(t, snParent, "default", chainID)

			out := mustRun(t, from("reused", "--from", ref)...)
			t.Logf("template create --from %s:\n%s", ref, out)
			if !strings.Contains(out, "clone of the snapshotter's layer "+top) || strings.Contains(out, "layer 1/") {
				t.Errorf("create from an image unpacked by zfslxc did not reuse %s:\n%s", top, out)
			}
			if got := zfsProp(t, ds+"/reused", "origin"); got != top {
				t.Errorf("template origin %q, want %s", got, top)
			}
			// A snapshot forces a txg sync, so `used` is current on zfs-fuse.
			testpool.ZFS(t, "snapshot", ds+"/reused@sync")
			used, refd := usedOf(t, ds+"/reused"), zfsProp(t, ds+"/reused", "referenced")
			t.Logf("reused template: used %d bytes, referenced %s", used, refd)
			if used > 64<<10 {
				t.Errorf("reused template uses %d bytes, want ~0 (a clone)", used)
			}
			testpool.ZFS(t, "destroy", ds+"/reused@sync")
			checkTree(t, zfsProp(t, ds+"/reused", "mountpoint"))
			if out := mustRun(t, from("reused", "--from", ref)...); !strings.Contains(out, "cache hit") {
				t.Errorf("second create is not a cache hit:\n%s", out)
			}

			var progress strings.Builder
			app := newApp()
			var stdout strings.Builder
			app.Writer, app.ErrWriter = &stdout, &progress
			if err := app.Run(append([]string{"zfslxc"}, from("unpacked", "--from", ref, "--namespace", "ovl")...)); err != nil {
				t.Fatalf("create from the overlayfs-only image: %v\n%s%s", err, stdout.String(), progress.String())
			}
			t.Logf("template create --namespace ovl:\nstdout: %sstderr: %s", stdout.String(), progress.String())
			if !strings.Contains(stdout.String(), "unpacked") || !strings.Contains(progress.String(), "layer 3/3 applied: ") {
				t.Errorf("create from an image not in zfslxc did not unpack (or no progress on stderr)")
			}
			if got := zfsProp(t, ds+"/unpacked", "origin"); got != "-" {
				t.Errorf("unpacked template is a clone of %s", got)
			}
			checkTree(t, zfsProp(t, ds+"/unpacked", "mountpoint"))

			var ls []template.Template
			if err := json.Unmarshal([]byte(mustRun(t, "template", "ls", "--json", "--dataset", ds)), &ls); err != nil {
				t.Fatal(err)
			}
			if len(ls) != 2 || ls[0].Name != "reused" || ls[0].ReusedLayer != top || ls[0].Source != "containerd:default:"+ref ||
				ls[0].Digest != desc.Digest || ls[1].ReusedLayer != "" || ls[1].Source != "containerd:ovl:"+ref || ls[1].Digest != desc.Digest {
				t.Errorf("template ls --json: %+v", ls)
			}
			if out := mustRun(t, "template", "ls", "--dataset", ds); !strings.Contains(out, top) || !strings.Contains(out, "containerd:ovl:"+ref) {
				t.Errorf("template ls:\n%s", out)
			}

			// --no-pull: without it, an image not in the store is pulled
			// (TestTemplatePullsFromRegistry).
			_, err := runApp(t, from("nope", "--from", "docker.io/zfslxc/missing:latest", "--no-pull")...)
			if err == nil || !strings.Contains(err.Error(), `"docker.io/zfslxc/missing:latest"`) || !strings.Contains(err.Error(), "not found") {
				t.Errorf("missing ref: %v", err)
			}

			common := []string{"--dataset", ds, "--lxcpath", lxcpath, "--bin-dir", bin}
			for _, tmpl := range []string{"reused", "unpacked"} {
				mustRun(t, append([]string{"lxc", "create", tmpl, "--template", tmpl}, common...)...)
				cmd := exec.Command("lxc-start", "-n", tmpl, "-P", lxcpath, "-F")
				got, err := cmd.Output()
				if err != nil || string(got) != "kept" {
					t.Errorf("lxc-start of a container of template %s: %q, %v (want ENTRYPOINT+CMD output %q)", tmpl, got, err, "kept")
				}
				mustRun(t, append([]string{"lxc", "rm", tmpl}, common...)...)
			}

			// The image goes; containerd's GC removes its snapshots although
			// their datasets cannot be destroyed yet.
			d.MustCtr(t, "images", "rm", "--sync", ref)
			waitFor(t, "containerd removes the zfslxc snapshots", func() bool {
				out := d.MustCtr(t, "snapshots", "--snapshotter", containerdtest.SnapshotterName, "ls")
				return len(strings.Split(strings.TrimSpace(out), "\n")) == 1 // the header
			})
			if got := zfsProp(t, ds+"/reused", "origin"); got != top {
				t.Errorf("template origin after the image went: %q", got)
			}
			if n := len(listUnder(t, snParent)); n != len(img.Layers) {
				t.Errorf("%d layer datasets under %s, want %d held by the template", n, snParent, len(img.Layers))
			}
			out = mustRun(t, "template", "rm", "reused", "--dataset", ds)
			if !strings.Contains(out, "released the snapshotter's layer "+top) {
				t.Errorf("template rm of a reused template:\n%s", out)
			}
			noConfig := filepath.Join(t.TempDir(), "none.toml")
			if err := os.WriteFile(noConfig, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			out = mustRun(t, "gc", "--address", sn.Address, "--snapshotter-config", noConfig)
			t.Logf("zfslxc gc:\n%s", out)
			if left := listUnder(t, snParent); len(left) != 0 {
				t.Errorf("after template rm and one Cleanup, left: %v\n%s", left, sn.LogTail(20))
			}
			mustRun(t, "template", "rm", "unpacked", "--dataset", ds)
		})
	}
}

// committedOf returns <parent>/<id>@committed whose io.zfslxc:key is
// <namespace>/<n>/<name>: what containerd (1.6 and 2.x) makes of a
// committed name.
func committedOf(t *testing.T, parent, namespace, name string) string {
	t.Helper()
	out, err := exec.Command("zfs", "get", "-H", "-r", "-o", "name,value", ondisk.PropKey, parent).Output()
	if err != nil {
		t.Fatalf("zfs get: %v", err)
	}
	var found []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 2 || !strings.HasSuffix(f[0], "@committed") {
			continue
		}
		key, err := url.PathUnescape(f[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: key %q", f[0], key)
		ns, rest, _ := strings.Cut(key, "/")
		_, n, _ := strings.Cut(rest, "/")
		if ns == namespace && n == name {
			found = append(found, f[0])
		}
	}
	if len(found) != 1 {
		t.Fatalf("committed snapshots named %s in %s: %v, want 1", name, namespace, found)
	}
	return found[0]
}

// topSnapshot returns the committed snapshot of `ctr snapshots ls` that
// is no other's parent: the image's top layer, named by its chain id.
func topSnapshot(t *testing.T, ls string) string {
	t.Helper()
	keys, parents := []string{}, map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(ls), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		keys = append(keys, f[0])
		if len(f) == 3 {
			parents[f[1]] = true
		}
	}
	var top []string
	for _, k := range keys {
		if !parents[k] {
			top = append(top, k)
		}
	}
	if len(keys) != 3 || len(top) != 1 || !strings.HasPrefix(top[0], "sha256:") {
		t.Fatalf("ctr snapshots ls: want a chain of 3, got top %v of:\n%s", top, ls)
	}
	return top[0]
}

// listUnder lists the filesystems below parent.
func listUnder(t *testing.T, parent string) []string {
	t.Helper()
	out, err := exec.Command("zfs", "list", "-H", "-r", "-o", "name", parent).Output()
	if err != nil {
		t.Fatalf("zfs list %s: %v", parent, err)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if n != parent {
			names = append(names, n)
		}
	}
	return names
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTemplateCreateSourceErrors: a missing path is reported as a missing
// file (not looked up in containerd), a containerd that does not answer
// is named with its socket.
func TestTemplateCreateSourceErrors(t *testing.T) {
	testpool.Require(t)
	cases := []struct {
		name, from, want string
	}{
		{"missing-relative-path", "./missing.tar", "stat ./missing.tar: no such file"},
		{"missing-absolute-path", "/nonexistent/img.tar", "stat /nonexistent/img.tar: no such file"},
		{"no-containerd", "docker.io/zfslxc/test:latest", "containerd does not answer on " + filepath.Join(os.TempDir(), "zfslxc-no-such.sock")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runApp(t, "template", "create", "x", "--from", tc.from, "--dataset", "zfslxc-no-pool/t",
				"--address", filepath.Join(os.TempDir(), "zfslxc-no-such.sock"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("--from %s: %v, want %q", tc.from, err, tc.want)
			}
		})
	}
}
