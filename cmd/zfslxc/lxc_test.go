package main

// Integration tests of `zfslxc template` and `zfslxc lxc` on a real
// zfs-fuse pool (testpool: skipped without root/zfs unless
// ZFSLXC_REQUIRE_ZFS=1) and real LXC (skipped without root, lxc-start and
// busybox-static unless ZFSLXC_REQUIRE_INTEGRATION=1).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/standalone"
	"github.com/zfslxc/zfslxc/template"
)

var (
	initOnce sync.Once
	initDir  string
	initErr  error
)

// initBinDir returns a directory with a static zfslxc-init:
// $ZFSLXC_BIN_DIR when set (make test builds into bin/), else one built
// into a temporary directory.
func initBinDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv(lxcrun.EnvBinDir); dir != "" {
		return dir
	}
	initOnce.Do(func() {
		initDir, initErr = os.MkdirTemp("", "zfslxc-init-")
		if initErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		repo := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(initDir, lxcrun.InitBinary), "./cmd/zfslxc-init")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			initErr = fmt.Errorf("building zfslxc-init: %v\n%s", err, out)
		}
	})
	if initErr != nil {
		t.Fatal(initErr)
	}
	return initDir
}

// requireLXC skips (or fails under ZFSLXC_REQUIRE_INTEGRATION=1) unless
// containers can run here.
func requireLXC(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := exec.LookPath("lxc-start"); err != nil {
		missing = append(missing, "lxc-start (apt-get install lxc)")
	}
	if len(missing) > 0 {
		msg := "needs " + strings.Join(missing, ", ")
		if os.Getenv("ZFSLXC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		if os.Getenv("ZFSLXC_REQUIRE_INTEGRATION") == "1" || os.Getenv(testpool.RequireEnv) == "1" {
			t.Fatalf("needs %s (apt-get install busybox-static)", imagebuild.DefaultBusyboxPath)
		}
		t.Skipf("needs %s (apt-get install busybox-static)", imagebuild.DefaultBusyboxPath)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runApp(t, args...)
	if err != nil {
		t.Fatalf("zfslxc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// zfsProp reads one property (exact value) with the zfs CLI.
func zfsProp(t *testing.T, name, prop string) string {
	t.Helper()
	out, err := exec.Command("zfs", "get", "-H", "-p", "-o", "value", prop, name).CombinedOutput()
	if err != nil {
		t.Fatalf("zfs get %s %s: %v: %s", prop, name, err, out)
	}
	return strings.TrimSpace(string(out))
}

func usedOf(t *testing.T, name string) uint64 {
	t.Helper()
	var n uint64
	if _, err := fmt.Sscan(zfsProp(t, name, "used"), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkTree checks the template's files against MultiLayerExpected on the
// host, in the dataset's mountpoint.
func checkTree(t *testing.T, root string) {
	t.Helper()
	exp := imagebuild.MultiLayerExpected()
	for p, want := range exp.Files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range exp.Absent {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: want absent (whiteout), got %v", p, err)
		}
	}
	for d, want := range exp.Dirs {
		ents, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		if !slices.Equal(got, want) {
			t.Errorf("dir %s: %v, want %v", d, got, want)
		}
	}
	for p, want := range exp.Symlinks {
		if got, err := os.Readlink(filepath.Join(root, p)); err != nil || got != want {
			t.Errorf("link %s: %q, %v; want %q", p, got, err, want)
		}
	}
	for p, want := range exp.Modes {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%o:%d:%d", st.Mode&0o7777, st.Uid, st.Gid); got != want {
			t.Errorf("mode %s: %s, want %s", p, got, want)
		}
	}
	for p, attrs := range exp.Xattrs {
		for k, want := range attrs {
			buf := make([]byte, 256)
			n, err := unix.Lgetxattr(filepath.Join(root, p), k, buf)
			if errors.Is(err, unix.ENOTSUP) {
				t.Logf("xattr %s on %s: not supported by this filesystem (zfs-fuse): not checked", k, p)
				continue
			}
			if err != nil || string(buf[:n]) != want {
				t.Errorf("xattr %s on %s: %q, %v; want %q", k, p, buf[:max(n, 0)], err, want)
			}
		}
	}
}

func TestTemplateCreateFromOCITarball(t *testing.T) {
	requireBusybox(t)
	p := testpool.New(t)
	ds := p.Name + "/" + template.DefaultParentName
	img, err := imagebuild.MultiLayerTestImage("", imagebuild.DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	desc, err := img.WriteLayoutFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "template", "create", "base", "--from", tarPath, "--dataset", ds)
	t.Logf("template create:\n%s", out)
	if !strings.Contains(out, "layer 3/3") || !strings.Contains(out, desc.Digest.String()) {
		t.Errorf("create output lacks progress or digest:\n%s", out)
	}
	checkTree(t, zfsProp(t, ds+"/base", "mountpoint"))
	if v := zfsProp(t, ds+"/base", "readonly"); !strings.HasPrefix(v, "on") && v != "off" {
		t.Errorf("readonly = %q", v)
	}
	// readonly=on reads back "off temporary" on zfs-fuse yet is enforced.
	if err := os.WriteFile(filepath.Join(zfsProp(t, ds+"/base", "mountpoint"), "x"), nil, 0o644); err == nil {
		t.Error("template is writable")
	}
	out = mustRun(t, "template", "create", "base", "--from", tarPath, "--dataset", ds)
	if !strings.Contains(out, "cache hit") || strings.Contains(out, "layer 1/") {
		t.Errorf("second create is not a cache hit:\n%s", out)
	}
	out = mustRun(t, "template", "ls", "--json", "--dataset", ds)
	var ls []template.Template
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(ls) != 1 || ls[0].Name != "base" || ls[0].Digest != desc.Digest || len(ls[0].Clones) != 0 ||
		!slices.Equal(ls[0].Config.Entrypoint, img.Config.Entrypoint) || ls[0].Config.StopSignal != "SIGTERM" || ls[0].Size == 0 {
		t.Errorf("template ls: %+v", ls)
	}
	// Another image under the same name is refused.
	img.Config.Cmd = []string{"true"}
	// A config longer than one property value may be (1024 on zfs-fuse).
	for i := range 40 {
		img.Config.Env = append(img.Config.Env, fmt.Sprintf("VAR%d=%s", i, strings.Repeat("x", 100)))
	}
	other := filepath.Join(t.TempDir(), "other.tar")
	if _, err := img.WriteLayoutFile(other); err != nil {
		t.Fatal(err)
	}
	if out, err := runApp(t, "template", "create", "base", "--from", other, "--dataset", ds); err == nil || !strings.Contains(err.Error(), "exists with image") {
		t.Errorf("create over another image: %v\n%s", err, out)
	}
	mustRun(t, "template", "create", "other", "--from", other, "--dataset", ds, "-q")
	out = mustRun(t, "template", "ls", "--dataset", ds)
	if !strings.Contains(out, "base") || !strings.Contains(out, "other") {
		t.Errorf("ls:\n%s", out)
	}
	out = mustRun(t, "template", "ls", "--json", "--dataset", ds)
	ls = nil
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 2 || !slices.Equal(ls[1].Config.Env, img.Config.Env) {
		t.Errorf("config of other does not read back: %v\n%s", err, out)
	}
	out = mustRun(t, "template", "prune", "--dataset", ds)
	if !strings.Contains(out, "removed template base") || !strings.Contains(out, "removed template other") {
		t.Errorf("prune:\n%s", out)
	}
}

func TestLXCContainers(t *testing.T) {
	requireBusybox(t)
	requireLXC(t)
	p := testpool.New(t)
	ds := p.Name + "/" + template.DefaultParentName
	bin := initBinDir(t)
	lxcpath := t.TempDir()
	img, err := imagebuild.MultiLayerTestImage("", imagebuild.DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if _, err := img.WriteLayoutFile(tarPath); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "template", "create", "base", "--from", tarPath, "--dataset", ds, "-q")
	common := []string{"--dataset", ds, "--lxcpath", lxcpath, "--bin-dir", bin}
	lxc := func(args ...string) string { return mustRun(t, append(append([]string{"lxc"}, args...), common...)...) }
	t.Cleanup(func() {
		for _, ct := range []string{"a", "b", "argv", "check", "user", "short", "sleeper", "destroyed"} {
			_ = exec.Command("lxc-stop", "-k", "-n", ct, "-P", lxcpath).Run()
		}
	})
	start := func(ct string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "lxc-start", "-n", ct, "-P", lxcpath, "-F")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("lxc-start %s: %v\nstdout: %s\nstderr: %s", ct, err, stdout.String(), stderr.String())
		}
		if stderr.Len() > 0 {
			t.Logf("lxc-start %s stderr: %s", ct, stderr.String())
		}
		return stdout.String()
	}

	t.Run("image-command", func(t *testing.T) {
		out := mustRun(t, append([]string{"lxc", "create", "a", "--template", "base"}, common...)...)
		t.Logf("lxc create:\n%s", out)
		if got := start("a"); got != "kept" {
			t.Errorf("ENTRYPOINT+CMD printed %q, want %q", got, "kept")
		}
	})

	t.Run("argv-fidelity", func(t *testing.T) {
		args := []string{"a b", "", "it's", `"q"`, "$HOME", "*", "line1\nline2", "tab\there", "ünï", "--", "-x"}
		// Flags after CT, and ARGS after "--".
		cmdline := append([]string{"lxc", "create", "argv"}, common...)
		cmdline = append(cmdline, "--template", "base", "--env", "GREETING=hello world", "--workdir", "/work dir",
			"--entrypoint", "/bin/sh", "--", "-c", `for a in "$@"; do printf '[%s]\n' "$a"; done; printf 'env=%s\ncwd=%s\n' "$GREETING" "$PWD"`, "sh")
		cmdline = append(cmdline, args...)
		mustRun(t, cmdline...)
		var want strings.Builder
		for _, a := range args {
			fmt.Fprintf(&want, "[%s]\n", a)
		}
		want.WriteString("env=hello world\ncwd=/work dir\n")
		if got := start("argv"); got != want.String() {
			t.Errorf("argv through lxc-start:\n got %q\nwant %q", got, want.String())
		}
	})

	t.Run("user", func(t *testing.T) {
		mustRun(t, append([]string{"lxc", "create", "user", "--template", "base", "--user", "app", "--entrypoint", "/bin/sh"}, append(common, "--", "-c", "id -u; id -g; echo $HOME")...)...)
		if got := start("user"); got != "1000\n1000\n/home/app\n" {
			t.Errorf("--user app: %q", got)
		}
	})

	// Short flags after CT: they were once parsed and dropped silently (the
	// container went to /var/lib/lxc and ran as root in /).
	t.Run("short-flags", func(t *testing.T) {
		mustRun(t, "lxc", "create", "short", "-t", "base", "-P", lxcpath, "-u", "app", "-w", "/short dir", "-e", "S=1",
			"--dataset", ds, "--bin-dir", bin, "--entrypoint", "/bin/sh", "--", "-c", `id -u; echo "$PWD $S"`)
		if _, err := os.Stat(filepath.Join(lxcpath, "short", "config")); err != nil {
			t.Fatalf("-P %s: %v", lxcpath, err)
		}
		if got := start("short"); got != "1000\n/short dir 1\n" {
			t.Errorf("-u app -w '/short dir' -e S=1: %q", got)
		}
	})

	t.Run("expected-tree-in-container", func(t *testing.T) {
		exp := imagebuild.MultiLayerExpected()
		mustRun(t, append([]string{"lxc", "create", "check", "--template", "base"}, append(common, "--", exp.Script())...)...)
		if err := exp.Verify(start("check")); err != nil {
			t.Error(err)
		}
	})

	t.Run("clones-share-until-written", func(t *testing.T) {
		mustRun(t, append([]string{"lxc", "create", "b", "--template", "base"}, common...)...)
		a, b := ds+"/ct-a", ds+"/ct-b"
		// A snapshot forces a txg sync, so `used` is current on zfs-fuse.
		testpool.ZFS(t, "snapshot", a+"@sync0")
		testpool.ZFS(t, "snapshot", b+"@sync0")
		usedA, usedB := usedOf(t, a), usedOf(t, b)
		tmplSize := usedOf(t, ds+"/base")
		t.Logf("template used %d; fresh clones used a=%d b=%d", tmplSize, usedA, usedB)
		if usedA > 512<<10 || usedB > 512<<10 {
			t.Errorf("fresh clones use %d and %d bytes, want ~0 (template %d)", usedA, usedB, tmplSize)
		}
		data := make([]byte, 1<<20)
		_, _ = rand.Read(data)
		root := zfsProp(t, a, "mountpoint")
		if err := os.WriteFile(filepath.Join(root, "blob"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		unix.Sync()
		testpool.ZFS(t, "snapshot", a+"@sync1")
		testpool.ZFS(t, "snapshot", b+"@sync1")
		usedA2, usedB2 := usedOf(t, a), usedOf(t, b)
		t.Logf("after writing 1 MiB into a: a=%d b=%d", usedA2, usedB2)
		if usedA2 < usedA+(1<<20) {
			t.Errorf("clone a uses %d after writing 1 MiB (was %d)", usedA2, usedA)
		}
		if usedB2 > usedB+(64<<10) {
			t.Errorf("clone b grew from %d to %d though only a was written", usedB, usedB2)
		}
	})

	t.Run("ls", func(t *testing.T) {
		var ls []standalone.Listed
		if err := json.Unmarshal([]byte(lxc("ls", "--json")), &ls); err != nil {
			t.Fatal(err)
		}
		names := map[string]standalone.Listed{}
		for _, l := range ls {
			names[l.Name] = l
		}
		for _, ct := range []string{"a", "argv", "b", "check", "user"} {
			l, ok := names[ct]
			if !ok || l.Template != "base" || l.State != "STOPPED" || l.Dataset != ds+"/ct-"+ct {
				t.Errorf("lxc ls --json: %s = %+v (found %v)", ct, l, ok)
			}
		}
		if a := names["a"]; a.Used < 1<<20 {
			t.Errorf("lxc ls: a uses %d bytes after 1 MiB was written", a.Used)
		}
		if out := lxc("ls"); !strings.Contains(out, "NAME") || !strings.Contains(out, ds+"/ct-argv") {
			t.Errorf("lxc ls:\n%s", out)
		}
	})

	t.Run("template-rm-refused-with-clones", func(t *testing.T) {
		out, err := runApp(t, "template", "rm", "base", "--dataset", ds)
		if err == nil || !strings.Contains(err.Error(), ds+"/ct-a") {
			t.Errorf("template rm with clones: %v\n%s", err, out)
		}
		if zfsProp(t, ds+"/base", "type") != "filesystem" {
			t.Error("template gone")
		}
	})

	t.Run("rollback-restores-deleted-file", func(t *testing.T) {
		lxc("snapshot", "a", "before")
		root := zfsProp(t, ds+"/ct-a", "mountpoint")
		if err := os.Remove(filepath.Join(root, "data/keep.txt")); err != nil {
			t.Fatal(err)
		}
		lxc("rollback", "a", "before")
		if got, err := os.ReadFile(filepath.Join(root, "data/keep.txt")); err != nil || string(got) != "kept" {
			t.Errorf("after rollback: %q, %v", got, err)
		}
	})

	t.Run("rm-stops-a-running-container", func(t *testing.T) {
		mustRun(t, append([]string{"lxc", "create", "sleeper", "--template", "base", "--entrypoint", "/bin/sleep"}, append(common, "--", "1000")...)...)
		if out, err := exec.Command("lxc-start", "-n", "sleeper", "-P", lxcpath).CombinedOutput(); err != nil {
			t.Fatalf("lxc-start sleeper: %v: %s", err, out)
		}
		if out, err := exec.Command("lxc-wait", "-n", "sleeper", "-P", lxcpath, "-s", "RUNNING", "-t", "10").CombinedOutput(); err != nil {
			t.Fatalf("lxc-wait: %v: %s", err, out)
		}
		// lxc-attach works as for any container.
		if out, err := exec.Command("lxc-attach", "-n", "sleeper", "-P", lxcpath, "--", "/bin/cat", "/proc/1/cmdline").Output(); err != nil || string(out) != "/bin/sleep\x001000\x00" {
			t.Errorf("lxc-attach cat /proc/1/cmdline: %q, %v", out, err)
		}
		out := lxc("rm", "sleeper")
		if !strings.Contains(out, "stopped sleeper") {
			t.Errorf("rm of a running container:\n%s", out)
		}
	})

	t.Run("lxc-destroy-then-rm", func(t *testing.T) {
		mustRun(t, append([]string{"lxc", "create", "destroyed", "--template", "base"}, common...)...)
		if out, err := exec.Command("lxc-destroy", "-n", "destroyed", "-P", lxcpath).CombinedOutput(); err != nil {
			t.Fatalf("lxc-destroy: %v: %s", err, out)
		}
		// LXC left the clone's files alone (lxc.rootfs.managed = 0).
		if _, err := os.Stat(filepath.Join(zfsProp(t, ds+"/ct-destroyed", "mountpoint"), "bin/busybox")); err != nil {
			t.Errorf("lxc-destroy touched the clone: %v", err)
		}
		out := lxc("rm", "destroyed")
		if !strings.Contains(out, "removed "+ds+"/ct-destroyed") {
			t.Errorf("rm after lxc-destroy:\n%s", out)
		}
	})

	t.Run("rm-leaves-nothing", func(t *testing.T) {
		// short was made with -P: rm finds it with -P too.
		if out := mustRun(t, "lxc", "rm", "short", "-P", lxcpath, "--dataset", ds, "--bin-dir", bin); !strings.Contains(out, "removed "+filepath.Join(lxcpath, "short")) {
			t.Errorf("lxc rm short -P:\n%s", out)
		}
		for _, ct := range []string{"a", "b", "argv", "check", "user"} {
			out := lxc("rm", ct)
			t.Logf("lxc rm %s:\n%s", ct, out)
			if _, err := os.Lstat(filepath.Join(lxcpath, ct)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s/%s still there: %v", lxcpath, ct, err)
			}
			if out, err := exec.Command("zfs", "list", ds+"/ct-"+ct).CombinedOutput(); err == nil {
				t.Errorf("dataset ct-%s still there: %s", ct, out)
			}
		}
		if _, err := runApp(t, append([]string{"lxc", "rm", "a"}, common...)...); err == nil {
			t.Error("rm of a removed container succeeds")
		}
		out := mustRun(t, "template", "ls", "--json", "--dataset", ds)
		var ls []template.Template
		if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 || len(ls[0].Clones) != 0 {
			t.Errorf("after rm: %v %s", err, out)
		}
		mustRun(t, "lxc", "create", "f", "--template", "base", "--dataset", ds, "--lxcpath", lxcpath, "--bin-dir", bin)
		out = mustRun(t, "template", "rm", "base", "--force", "--dataset", ds)
		if !strings.Contains(out, "destroyed "+ds+"/ct-f\n") || !strings.Contains(out, "destroyed "+ds+"/base\n") {
			t.Errorf("template rm --force does not name what it destroys:\n%s", out)
		}
		// The container's LXC directory outlives its clone; lxc rm cleans it.
		out = lxc("rm", "f")
		if !strings.Contains(out, "removed "+filepath.Join(lxcpath, "f")) {
			t.Errorf("lxc rm after template rm --force:\n%s", out)
		}
		if out, err := exec.Command("zfs", "list", "-H", "-r", "-o", "name", ds).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != ds {
			t.Errorf("left under %s: %v\n%s", ds, err, out)
		}
	})
}

func TestTemplateAndLXCArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"create-no-from", []string{"template", "create", "x"}, `required flag "from"`},
		{"create-two-names", []string{"template", "create", "x", "y", "--from", "f"}, "want NAME"},
		{"lxc-no-template", []string{"lxc", "create", "ct", "--", "a"}, `required flag "template"`},
		{"lxc-no-ct", []string{"lxc", "create", "--template", "t"}, "want CT"},
		{"lxc-bad-flag", []string{"lxc", "create", "ct", "--nope"}, "nope"},
		{"snapshot-one-arg", []string{"lxc", "snapshot", "ct"}, "want CT NAME"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runApp(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v (want %q)\n%s", tc.args, err, tc.want, out)
			}
		})
	}
	out, err := runApp(t, "lxc", "create", "--help")
	if err != nil || !strings.Contains(out, "--entrypoint") || !strings.Contains(out, "CT [-- ARGS...]") {
		t.Errorf("lxc create --help: %v\n%s", err, out)
	}
	out, err = runApp(t, "template", "--help")
	if err != nil || !strings.Contains(out, "template create busybox --from") {
		t.Errorf("template --help: %v\n%s", err, out)
	}
}
