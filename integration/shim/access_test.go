package shim_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestNonRootAccess: an unprivileged user (nobody) can reach none of what
// the shim and the snapshotter keep on the host — the shim's ttrpc
// socket, the container's state directory with LXC's config and the
// status files, the snapshotter's socket, its root and the layers'
// mountpoints — even when the daemons run with umask 0 (so modes come
// from the code, not from the caller's umask). Root reaches the sockets
// through the same probe, so a refusal is the permissions' doing.
func TestNonRootAccess(t *testing.T) {
	f := containerdtest.V2()
	// The daemons (containerd, snapshotter, and the shims containerd
	// starts) inherit the umask at fork.
	old := syscall.Umask(0)
	e := setup(t, f, sn)
	syscall.Umask(old)
	id := "nonroot"
	e.runDetached(t, id, "sleep", "600")
	defer e.d.Ctr(t, "task", "kill", "-s", "KILL", id)

	bundle := filepath.Join(e.d.State, "io.containerd.runtime.v2.task", "default", id)
	addr, err := os.ReadFile(filepath.Join(bundle, "address"))
	if err != nil {
		t.Fatal(err)
	}
	shimSock := strings.TrimPrefix(strings.TrimSpace(string(addr)), "unix://")
	state, err := filepath.EvalSymlinks(filepath.Join(bundle, "lxc"))
	if err != nil {
		t.Fatal(err)
	}
	sockets := []string{shimSock, e.sn.Address}
	paths := append([]string{}, sockets...)
	// Everything in the state directory, and the directory itself.
	filepath.Walk(state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&os.ModeSymlink == 0 {
			paths = append(paths, p)
		}
		return nil
	})
	layers := filepath.Join(e.sn.Root, "datasets")
	paths = append(paths, e.sn.Root, layers)
	ents, err := os.ReadDir(layers)
	if err != nil || len(ents) == 0 {
		t.Fatalf("no layer dataset under %s: %v", layers, err)
	}
	paths = append(paths, filepath.Join(layers, ents[0].Name()), filepath.Join(layers, ents[0].Name(), "bin", "busybox"))

	for p, res := range containerdtest.ProbeAs(t, 0, 0, sockets...) {
		if res != "" {
			t.Fatalf("root cannot reach %s through the probe: %s", p, res)
		}
	}
	nobody := containerdtest.ProbeAs(t, containerdtest.Nobody, containerdtest.Nobody, paths...)
	for _, p := range paths {
		fi, _ := os.Lstat(p)
		res := nobody[p]
		switch {
		case res == "":
			t.Errorf("nobody reached %s (%v)", p, fi.Mode())
		case !strings.Contains(res, "permission denied"):
			t.Errorf("nobody and %s: %s, want permission denied", p, res)
		default:
			t.Logf("%s (%v): %s", p, fi.Mode(), res)
		}
	}
	if len(paths) < 8 {
		t.Errorf("probed only %v", paths)
	}
}
