package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/template"
)

// TestHostileTemplates: templates made from images an attacker wrote, and
// names LXC cannot take. Each `lxc create` fails with an error naming what
// is wrong, promptly, and leaves no clone dataset and no <lxcpath>/CT; a
// failed `template create` leaves no dataset. Found: a FIFO as
// /etc/passwd hung `lxc create`, a character device ate all memory, both
// left the clone; a 70-byte name was accepted (lxc.uts.name takes 64); a
// failed template create left its dataset.
func TestHostileTemplates(t *testing.T) {
	requireBusybox(t)
	p := testpool.New(t)
	ds := p.Name + "/" + template.DefaultParentName
	bin := initBinDir(t)
	lxcpath := t.TempDir()
	hostInit := fmt.Sprintf("/tmp/zfslxc-hostile-init-%d", os.Getpid())
	t.Cleanup(func() { os.RemoveAll(hostInit) })

	busybox, err := os.ReadFile(imagebuild.DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	image := func(name string, extra ...imagebuild.Entry) string {
		t.Helper()
		entries := append([]imagebuild.Entry{
			{Path: "/bin", Type: imagebuild.Dir},
			{Path: "/bin/sh", Content: busybox, Mode: 0o755},
			{Path: "/etc", Type: imagebuild.Dir},
		}, extra...)
		img := &imagebuild.Image{Name: "example.com/hostile/" + name + ":1", Layers: []imagebuild.Layer{{Entries: entries}}}
		img.Config.Cmd = []string{"/bin/sh"}
		path := filepath.Join(t.TempDir(), name+".tar")
		if _, err := img.WriteLayoutFile(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	noClone := func(t *testing.T, ct string) {
		t.Helper()
		if out, err := exec.Command("zfs", "list", "-H", ds+"/ct-"+ct).CombinedOutput(); err == nil {
			t.Errorf("clone of %s left behind: %s", ct, out)
		}
		if _, err := os.Lstat(filepath.Join(lxcpath, ct)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/%s left behind: %v", lxcpath, ct, err)
		}
	}

	templates := []struct {
		name  string
		extra []imagebuild.Entry
	}{
		{"fifo", []imagebuild.Entry{{Path: "/etc/passwd", Type: imagebuild.Fifo}}},
		{"chardev", []imagebuild.Entry{{Path: "/etc/passwd", Type: imagebuild.CharDevice, Devmajor: 1, Devminor: 5}}},
		{"groupfifo", []imagebuild.Entry{{Path: "/etc/passwd", Content: []byte("root:x:0:0::/root:/bin/sh\n")}, {Path: "/etc/group", Type: imagebuild.Fifo}}},
		{"initlink", []imagebuild.Entry{{Path: "/.zfslxc", Type: imagebuild.Symlink, Linkname: hostInit}}},
	}
	for _, tp := range templates {
		mustRun(t, "template", "create", tp.name, "--from", image(tp.name, tp.extra...), "--dataset", ds, "-q")
	}
	tests := []struct {
		name, template, ct, user, err string
	}{
		{"passwd is a fifo", "fifo", "f", "app", "/etc/passwd: not a regular file"},
		{"passwd is /dev/zero", "chardev", "c", "app", "/etc/passwd: not a regular file"},
		{"group is a fifo", "groupfifo", "g", "root:wheel", "/etc/group: not a regular file"},
		{"/.zfslxc is a symlink out", "initlink", "l", "", "/.zfslxc"},
		{"name longer than lxc.uts.name", "fifo", strings.Repeat("n", 70), "", "lxc.uts.name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"lxc", "create", tc.ct, "-t", tc.template, "--dataset", ds, "-P", lxcpath, "--bin-dir", bin}
			if tc.user != "" {
				args = append(args, "-u", tc.user)
			}
			out, err := runApp(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("lxc create: %v, want an error naming %q\n%s", err, tc.err, out)
			}
			noClone(t, tc.ct)
			if _, err := os.Lstat(hostInit); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s made on the host: %v", hostInit, err)
			}
		})
	}

	t.Run("failed template create leaves no dataset", func(t *testing.T) {
		// A layer blob that is cut short: its digest does not match.
		src := image("cut")
		dir := filepath.Join(t.TempDir(), "layout")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("tar", "-xf", src, "-C", dir).CombinedOutput(); err != nil {
			t.Fatalf("tar: %v: %s", err, out)
		}
		blobs, _ := filepath.Glob(filepath.Join(dir, "blobs/sha256/*"))
		cut := ""
		for _, b := range blobs {
			if fi, err := os.Stat(b); err == nil && fi.Size() > int64(len(busybox)) {
				cut = b
			}
		}
		if cut == "" {
			t.Fatal("no layer blob in the layout")
		}
		if err := os.Truncate(cut, int64(len(busybox))/2); err != nil {
			t.Fatal(err)
		}
		out, err := runApp(t, "template", "create", "cut", "--from", dir, "--dataset", ds, "-q")
		if err == nil {
			t.Fatalf("template create from a cut layer succeeded:\n%s", out)
		}
		t.Logf("template create: %v", err)
		if out, err := exec.Command("zfs", "list", "-H", ds+"/cut").CombinedOutput(); err == nil {
			t.Errorf("dataset of the failed template left behind: %s", out)
		}
	})
}
