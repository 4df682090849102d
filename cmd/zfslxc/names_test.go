package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/standalone"
	"github.com/zfslxc/zfslxc/template"
)

// hostileNames are template, container and snapshot names an admin tool
// must refuse, naming them, before it creates anything. fits is the
// longest name whose dataset <parent>/NAME is a valid zfs name but whose
// <parent>/NAME@template is not (255 bytes at most).
func hostileNames(parent string) []struct{ name, value string } {
	fits := strings.Repeat("s", 255-len(parent)-1)
	return []struct{ name, value string }{
		{"empty", ""},
		{"slash", "a/b"},
		{"leading-slash", "/etc"},
		{"at", "a@b"},
		{"hash", "a#b"},
		{"dot", "."},
		{"dotdot", ".."},
		{"dotdot-slash", "../x"},
		{"space", "a b"},
		{"tab", "a\tb"},
		{"leading-dash", "-x"},
		{"option-like", "-o"},
		{"nul", "a\x00b"},
		{"newline", "a\nb"},
		{"non-ascii", "é"},
		{"300-bytes", strings.Repeat("n", 300)},
		{"dataset-fits-snapshot-does-not", fits},
	}
}

// TestHostileNames: `zfslxc template create|rm` and `zfslxc lxc
// create|rm|snapshot|rollback` given names with '/', '@', "..", blanks,
// a leading '-', NUL or a newline, 300 bytes, or nothing, and sources that
// do not exist: each is refused with an error that names the value, and
// nothing is created (zpool history records no command, no dataset, no
// directory in the lxcpath or next to it). Found: a template name whose
// dataset fits in 255 bytes but whose @template snapshot does not was
// unpacked first and refused at the snapshot; a name after "--" (the way
// to pass one starting with '-') was dropped, and extra words after "--"
// were ignored.
func TestHostileNames(t *testing.T) {
	requireBusybox(t)
	p := testpool.New(t)
	ds := p.Name + "/" + template.DefaultParentName
	bin := initBinDir(t)
	lxcpath := filepath.Join(t.TempDir(), "lxc")
	if err := os.Mkdir(lxcpath, 0o755); err != nil {
		t.Fatal(err)
	}
	busybox, err := os.ReadFile(imagebuild.DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	img := &imagebuild.Image{Name: "example.com/names/ok:1", Layers: []imagebuild.Layer{{Entries: []imagebuild.Entry{
		{Path: "/bin", Type: imagebuild.Dir},
		{Path: "/bin/sh", Content: busybox, Mode: 0o755},
	}}}}
	img.Config.Cmd = []string{"/bin/sh"}
	tarPath := filepath.Join(t.TempDir(), "ok.tar")
	if _, err := img.WriteLayoutFile(tarPath); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "template", "create", "ok", "--from", tarPath, "--dataset", ds, "-q")
	common := []string{"--dataset", ds, "-P", lxcpath, "--bin-dir", bin}
	mustRun(t, append([]string{"lxc", "create", "okct", "-t", "ok"}, common...)...)

	// state is what must not change: the pool's command history and
	// datasets, the lxcpath and the directory holding it.
	state := func(t *testing.T) string {
		t.Helper()
		var b strings.Builder
		for _, args := range [][]string{{"zpool", "history", p.Name}, {"zfs", "list", "-H", "-r", "-t", "all", "-o", "name", p.Name}} {
			out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v: %s", args, err, out)
			}
			b.Write(out)
		}
		for _, dir := range []string{lxcpath, filepath.Dir(lxcpath)} {
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b.WriteString(filepath.Join(dir, e.Name()) + "\n")
			}
		}
		return b.String()
	}
	// names matches an error that names v: quoted, or (a long one)
	// inside a longer quoted name, or as the flag parser names a word
	// that starts with '-'.
	names := func(v string) func(string) bool {
		return func(msg string) bool {
			return strings.Contains(msg, strconv.Quote(v)) || len(v) >= 32 && strings.Contains(msg, v) ||
				strings.HasSuffix(msg, "flag provided but not defined: "+v)
		}
	}
	says := func(s string) func(string) bool {
		return func(msg string) bool { return strings.Contains(msg, s) }
	}
	// refused runs each command and checks that it fails with a message
	// that match accepts and that, all of them run, nothing changed.
	refused := func(t *testing.T, match func(string) bool, cmds ...[]string) {
		t.Helper()
		before := state(t)
		for _, args := range cmds {
			out, err := runApp(t, args...)
			if err == nil || !match(err.Error()) {
				t.Errorf("zfslxc %q: %v, want an error naming the value\n%s", args, err, out)
			} else {
				t.Logf("zfslxc %.60q: %.300s", args, err)
			}
		}
		if after := state(t); after != before {
			t.Errorf("%d commands changed the pool or the lxcpath:\n%s\nwas:\n%s", len(cmds), after, before)
		}
	}
	cmd := func(args ...string) []string { return args }
	withCommon := func(args ...string) []string { return append(args, common...) }

	for _, n := range hostileNames(ds) {
		v := n.value
		t.Run(n.name, func(t *testing.T) {
			if strings.HasPrefix(v, "-") {
				// A name starting with '-' reads as a flag unless it
				// follows "--" (lxc create takes ARGS there: it can
				// only refuse the flag).
				refused(t, names(v),
					cmd("template", "create", "--from", tarPath, "--dataset", ds, "-q", "--", v),
					cmd("template", "rm", "--dataset", ds, "--", v),
					withCommon("lxc", "create", v, "-t", "ok"),
					append(withCommon("lxc", "rm"), "--", v),
					append(withCommon("lxc", "snapshot", "okct"), "--", v),
					append(withCommon("lxc", "rollback", "okct"), "--", v))
				return
			}
			refused(t, names(v),
				cmd("template", "create", v, "--from", tarPath, "--dataset", ds, "-q"),
				cmd("template", "rm", v, "--dataset", ds),
				withCommon("lxc", "create", v, "-t", "ok"),
				withCommon("lxc", "rm", v),
				withCommon("lxc", "snapshot", "okct", v),
				withCommon("lxc", "rollback", "okct", v))
		})
	}
	// Without -P: LXC's default lxcpath, /var/lib/lxc, and /var/lib next
	// to it stay as they were.
	t.Run("default-lxcpath", func(t *testing.T) {
		list := func() string {
			var b strings.Builder
			for _, dir := range []string{standalone.DefaultLXCPath, filepath.Dir(standalone.DefaultLXCPath)} {
				entries, err := os.ReadDir(dir)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				for _, e := range entries {
					b.WriteString(filepath.Join(dir, e.Name()) + "\n")
				}
			}
			return b.String()
		}
		before := list()
		for _, v := range []string{"..", "../x", "", ".", "a/b", "-x"} {
			refused(t, names(v), []string{"lxc", "create", v, "-t", "ok", "--dataset", ds, "--bin-dir", bin},
				[]string{"lxc", "rm", "--dataset", ds, "--", v})
		}
		if after := list(); after != before {
			t.Errorf("%s or its parent changed:\n%s\nwas:\n%s", standalone.DefaultLXCPath, after, before)
		}
	})
	t.Run("extra-words-after-dashdash", func(t *testing.T) {
		refused(t, names("b"), cmd("template", "create", "a", "--from", tarPath, "--dataset", ds, "-q", "--", "b"))
		refused(t, names("b"), append(withCommon("lxc", "rm", "okct"), "--", "b"))
		refused(t, names("b"), append(withCommon("lxc", "snapshot", "okct", "s"), "--", "b"))
	})

	emptyDir := t.TempDir()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Should the create open the FIFO (and block), a writer comes and
	// goes after 20 s so the test fails instead of hanging.
	unblock := time.AfterFunc(20*time.Second, func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	defer unblock.Stop()
	notTar := filepath.Join(t.TempDir(), "not.tar")
	if err := os.WriteFile(notTar, []byte("not a tar file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, want string }{
		{"missing-relative-path", "./missing.tar", "./missing.tar"},
		{"missing-absolute-path", "/nonexistent/img.tar", "/nonexistent/img.tar"},
		{"missing-directory", "/nonexistent/layout/", "/nonexistent/layout/"},
		{"empty-directory", emptyDir, "index.json"},
		{"not-a-tar", notTar, notTar},
		{"dev-zero", "/dev/zero", "/dev/zero: not a regular file or directory"},
		{"fifo", fifo, fifo + ": not a regular file or directory"},
	} {
		t.Run("from-"+tc.name, func(t *testing.T) {
			refused(t, says(tc.want), cmd("template", "create", "x", "--from", tc.from, "--dataset", ds, "-q"))
		})
	}
	t.Run("template-missing", func(t *testing.T) {
		refused(t, says("template missing"), withCommon("lxc", "create", "ct", "-t", "missing"), cmd("template", "rm", "missing", "--dataset", ds))
	})

	mustRun(t, append([]string{"lxc", "rm", "okct"}, common...)...)
	mustRun(t, "template", "rm", "ok", "--dataset", ds)
}
