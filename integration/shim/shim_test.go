package shim_test

import (
	"context"
	"errors"
	"fmt"
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
)

const (
	runtimeType = "io.containerd.lxc.v1"
	shimBinary  = "containerd-shim-lxc-v1"
	sn          = containerdtest.SnapshotterName
)

var imageDir string

func TestMain(m *testing.M) {
	containerdtest.RunProbe() // a ProbeAs child: probes and exits
	os.Exit(containerdtest.MainWithDir(m, "zfslxc-shim-images-", &imageDir))
}

// binDir is $ZFSLXC_BIN_DIR with the shim and its helpers (make build).
func binDir(t *testing.T) string { return containerdtest.ShimBinDir(t) }

var helloLayout imagebuild.LayoutOnce

// helloImage is busybox with ENTRYPOINT ["/bin/echo","hello from"] and
// CMD ["the", "image"].
func helloImage(t *testing.T) (ref, tar string) {
	t.Helper()
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	ref, tar, err := helloLayout.Get(filepath.Join(imageDir, "hello.tar"), func() (*imagebuild.Image, error) {
		return imagebuild.BusyboxImage("docker.io/zfslxc/shim-hello:latest", []string{"/bin/echo", "hello from"}, []string{"the", "image"})
	})
	if err != nil {
		t.Fatalf("build image: %v", err)
	}
	return ref, tar
}

type env struct {
	d       *containerdtest.Daemon
	snap    string
	ref     string
	dataset string                      // the zfslxc snapshotter's parent dataset; "" with native
	sn      *containerdtest.Snapshotter // the zfslxc snapshotter; nil with native
}

// setup starts containerd flavor f with the shim first on its PATH and
// imports the test image into snapshotter snap ("native" or the zfslxc
// snapshotter on a fresh pool).
func setup(t *testing.T, f containerdtest.Flavor, snap string) *env {
	t.Helper()
	bin := binDir(t)
	containerdtest.RequireHost(t, f)
	ref, tar := helloImage(t)
	f = f.PathFirst(bin)
	// 2.x unpacks only into the snapshotters its transfer config names.
	extra := containerdconfig.UnpackConfig(f.ConfigVersion, "", "overlayfs", "native")
	var dataset string
	var s *containerdtest.Snapshotter
	if snap == sn {
		p := testpool.New(t)
		dataset = p.Name + "/zfslxc"
		s = containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: dataset, Driver: p.Driver})
		extra = containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: f.ConfigVersion, SnapshotterName: sn, SnapshotterAddress: s.Address})
	}
	d := containerdtest.Start(t, f, extra)
	d.MustCtr(t, "images", "import", "--snapshotter", snap, tar)
	return &env{d: d, snap: snap, ref: ref, dataset: dataset, sn: s}
}

// run is `ctr run --rm` with the lxc runtime; it returns stdout and ctr's
// exit code.
func (e *env) run(t *testing.T, ctx context.Context, runtime, id string, args ...string) (string, string, int) {
	t.Helper()
	a := append([]string{"run", "--rm", "--snapshotter", e.snap, "--runtime", runtime, e.ref, id}, args...)
	stdout, stderr, err := e.d.CtrContext(ctx, a...)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("ctr run %s: %v (stderr %q)\n%s", id, err, stderr, e.d.LogTail(40))
		}
		code = ee.ExitCode()
	}
	return stdout, stderr, code
}

func TestShim(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		for _, snap := range []string{"native", sn} {
			t.Run(f.Name+"/"+snap, func(t *testing.T) {
				e := setup(t, f, snap)
				t.Run("EntrypointCmd", func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					out, stderr, code := e.run(t, ctx, runtimeType, "hello")
					if code != 0 || out != "hello from the image\n" {
						t.Fatalf("ctr run: code %d, stdout %q, stderr %q\n%s", code, out, stderr, e.d.LogTail(40))
					}
					e.checkClean(t, "hello")
					// The shim logs through the bundle's log fifo into
					// containerd's log.
					data, err := os.ReadFile(e.d.LogPath)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(string(data), `msg="shim serving"`) || !strings.Contains(string(data), "id=hello") {
						t.Errorf("no shim log line in containerd's log")
					}
				})
				t.Run("ExitCode", func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					out, stderr, code := e.run(t, ctx, runtimeType, "exit42", "sh", "-c", "echo out; echo err >&2; exit 42")
					if code != 42 || out != "out\n" || !strings.Contains(stderr, "err\n") {
						t.Fatalf("code %d (want 42), stdout %q, stderr %q\n%s", code, out, stderr, e.d.LogTail(40))
					}
					e.checkClean(t, "exit42")
				})
				t.Run("Argv", func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					args := []string{"a b", `"quoted"`, "it's", "", "  x  ", `back\slash`, "$HOME"}
					out, stderr, code := e.run(t, ctx, runtimeType, "argv", append([]string{"/bin/sh", "-c", `for a in "$@"; do printf '[%s]\n' "$a"; done`, "sh"}, args...)...)
					var want strings.Builder
					for _, a := range args {
						fmt.Fprintf(&want, "[%s]\n", a)
					}
					if code != 0 || out != want.String() {
						t.Fatalf("code %d, stdout %q, want %q, stderr %q", code, out, want.String(), stderr)
					}
					e.checkClean(t, "argv")
				})
				t.Run("OutputNotLost", func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					// 1 MiB printed by a process that exits at once.
					out, stderr, code := e.run(t, ctx, runtimeType, "bulk", "sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' x")
					if code != 0 || len(out) != 1<<20 {
						t.Fatalf("code %d, %d bytes of stdout (want %d), stderr %q", code, len(out), 1<<20, stderr)
					}
				})
				t.Run("CreateFails", func(t *testing.T) {
					// zfslxc-init reports the missing args[0] at create:
					// ctr run fails with the reason, nothing is left.
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					out, stderr, code := e.run(t, ctx, runtimeType, "nocmd", "/no/such/cmd")
					if code == 0 || !strings.Contains(stderr, "/no/such/cmd") {
						t.Fatalf("code %d (want failure), stdout %q, stderr %q", code, out, stderr)
					}
					t.Logf("ctr run: %s", strings.TrimSpace(stderr))
					e.checkClean(t, "nocmd")
				})
				t.Run("KillTERM", func(t *testing.T) {
					// What runc gives for the same container and signal.
					want := e.killStatus(t, "io.containerd.runc.v2", "term-runc")
					got := e.killStatus(t, runtimeType, "term-lxc")
					t.Logf("kill -s TERM: runc %d, lxc %d", want, got)
					if got != want {
						t.Fatalf("exit status %d, runc gives %d", got, want)
					}
					e.checkClean(t, "term-lxc")
				})
				if snap == sn {
					t.Run("MountPropagation", func(t *testing.T) { e.testMountPropagation(t, "rshared") })
					t.Run("RecursiveReadOnly", func(t *testing.T) { e.testRecursiveReadOnly(t, "rro") })
				}
				t.Run("KillKILL", func(t *testing.T) {
					want := e.killStatusCmd(t, "io.containerd.runc.v2", "kill9-runc", "KILL", "sleep", "600")
					got := e.killStatusCmd(t, runtimeType, "kill9-lxc", "KILL", "sleep", "600")
					if got != want || got != 137 {
						t.Fatalf("kill -s KILL: exit status %d, runc gives %d (want 137)", got, want)
					}
					e.checkClean(t, "kill9-lxc")
				})
			})
		}
	}
}

// killStatus runs a shell (PID 1) whose TERM trap exits 143 (PID 1 of a
// pid namespace ignores signals it has no handler for, under runc too),
// sends it TERM with `ctr task kill` and returns ctr run's exit code: the
// signal must reach the process and the status come back.
func (e *env) killStatus(t *testing.T, runtime, id string) int {
	return e.killStatusCmd(t, runtime, id, "TERM", "sh", "-c", "trap 'exit 143' TERM; echo ready; while :; do sleep 0.1; done")
}

func (e *env) killStatusCmd(t *testing.T, runtime, id, sig string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		out, stderr string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, stderr, code := e.run(t, ctx, runtime, id, args...)
		done <- result{out, stderr, code}
	}()
	// Wait for RUNNING.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ := e.d.CtrContext(ctx, "task", "ls")
		if running(out, id) {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("%s ended before kill: code %d, stdout %q, stderr %q", id, r.code, r.out, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not running after 30s: task ls %q", id, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if runtime == runtimeType {
		// Run by our shim, with no LXC monitor left once it runs
		// (docs/adr/0007-no-monitor.md).
		if p := procsMatching("zfslxc-start --name " + id + " "); len(p) != 0 {
			t.Fatalf("zfslxc-start processes for running %s: %v (want none)", id, p)
		}
		if p := procsMatching(shimBinary + " -namespace default -id " + id + " "); len(p) != 1 {
			t.Fatalf("shim processes for %s: %v (want 1)", id, p)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the trap be set
	if _, stderr, err := e.d.CtrContext(ctx, "task", "kill", "-s", sig, id); err != nil {
		t.Fatalf("ctr task kill -s %s %s: %v %s", sig, id, err, stderr)
	}
	select {
	case r := <-done:
		return r.code
	case <-time.After(30 * time.Second):
		_, _, _ = e.d.CtrContext(ctx, "task", "kill", "-s", "KILL", id)
		r := <-done
		t.Fatalf("%s did not end within 30s of SIGTERM (killed: %d)", id, r.code)
		return -1
	}
}

func running(taskLs, id string) bool {
	for _, l := range strings.Split(taskLs, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id && f[2] == "RUNNING" {
			return true
		}
	}
	return false
}

// checkClean asserts that nothing of container id is left: no task, no
// container, no bundle, no mount under the daemon's dirs, no shim or
// zfslxc-start process for it.
func (e *env) checkClean(t *testing.T, id string) {
	t.Helper()
	if out := e.d.MustCtr(t, "task", "ls", "-q"); containsLine(out, id) {
		t.Errorf("task %s left: %q", id, out)
	}
	if out := e.d.MustCtr(t, "containers", "ls", "-q"); containsLine(out, id) {
		t.Errorf("container %s left: %q", id, out)
	}
	bundle := filepath.Join(e.d.State, "io.containerd.runtime.v2.task", "default", id)
	if _, err := os.Stat(bundle); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bundle %s left (%v)", bundle, err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, bundle) {
			t.Errorf("mount left: %s", l)
		}
	}
	// The shim exits after Shutdown; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs := procsMatching(bundle, "-id "+id+" ")
		if len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left for %s: %v", id, procs)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func containsLine(out, s string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == s {
			return true
		}
	}
	return false
}

// procsMatching lists shim and zfslxc-start processes whose command line
// contains any of subs.
func procsMatching(subs ...string) []string { return containerdtest.ShimProcs(subs...) }
