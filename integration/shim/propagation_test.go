package shim_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testMountPropagation: a bind mount with rshared propagation of a shared
// host mount (CRI's Bidirectional volume, `docker run -v SRC:DST:rshared`;
// critest's "mount with 'rshared'" spec) propagates both ways, as under
// runc. A tmpfs mounted in the container under the volume appeared on the
// host only under runc: LXC turns every shared mount of the container's
// namespace into a slave before it mounts anything, so the container's
// bind received the host's mounts and sent none. Host to container is
// checked too.
func (e *env) testMountPropagation(t *testing.T, id string) {
	vol := t.TempDir()
	fromCt, fromHost := filepath.Join(vol, "fromct"), filepath.Join(vol, "fromhost")
	for _, d := range []string{fromCt, fromHost} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// As critest and the kubelet prepare a Bidirectional volume.
	if err := unix.Mount(vol, vol, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	unmountAtCleanup(t, fromCt, fromHost, vol)
	if err := unix.Mount("", vol, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	e.runDetachedWith(t, id, []string{"--privileged", "--mount", "type=bind,src=" + vol + ",dst=/vol,options=rbind:rshared"}, "sleep", "600")
	defer e.removeTask(t, id)

	if _, stderr, err := e.d.Ctr(t, "task", "exec", "--exec-id", "mnt", id, "mount", "-t", "tmpfs", "zfslxc-fromct", "/vol/fromct"); err != nil {
		t.Fatalf("mount in the container: %v (%s)", err, stderr)
	}
	if got := mountSource(t, fromCt); got != "zfslxc-fromct" {
		t.Errorf("container to host: the host's %s is mounted from %q, want the container's tmpfs zfslxc-fromct", fromCt, got)
	}

	if err := unix.Mount("zfslxc-fromhost", fromHost, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := e.d.Ctr(t, "task", "exec", "--exec-id", "grep", id, "grep", "-c", " /vol/fromhost .* zfslxc-fromhost ", "/proc/self/mountinfo")
	if err != nil || strings.TrimSpace(out) != "1" {
		t.Errorf("host to container: grep of the container's mountinfo: %q, %v (%s), want 1", out, err, stderr)
	}
}

// mountSource is the source of the mount at dir in this mount namespace
// (the last one mounted there), "" when none.
func mountSource(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	src := ""
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) > 4 && f[4] == dir && sep > 0 && sep+2 < len(f) {
			src = f[sep+2]
		}
	}
	return src
}

// removeTask kills id's task, removes it and its container, and checks
// that nothing of it is left.
func (e *env) removeTask(t *testing.T, id string) {
	t.Helper()
	e.d.Ctr(t, "task", "kill", "-s", "KILL", id)
	deadline := time.Now().Add(30 * time.Second)
	for taskStatus(e.d.MustCtr(t, "task", "ls"), id) == "RUNNING" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, stderr, err := e.d.Ctr(t, "task", "rm", id); err != nil {
		t.Errorf("ctr task rm %s: %v (%s)", id, err, stderr)
	}
	e.d.MustCtr(t, "containers", "rm", id)
	e.checkClean(t, id)
}

// unmountAtCleanup detaches the mounts on paths, in order, when the test
// ends (a path with nothing mounted is fine).
func unmountAtCleanup(t *testing.T, paths ...string) {
	t.Cleanup(func() {
		for _, m := range paths {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				t.Errorf("unmount %s: %v", m, err)
			}
		}
	})
}
