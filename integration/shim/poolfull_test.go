package shim_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestPoolFullContainers runs lxc containers on the zfslxc snapshotter
// whose parent dataset has 32 MiB left under its quota: a container that
// writes 64 MiB gets the disk-full error in its own process and exits
// with the status it chooses; a container already running keeps running
// and can still exec; once the writer's container is removed (and
// containerd has collected its snapshot) the next run works, and the
// removed containers leave no dataset. A run while full may work or fail
// with a message; it leaves nothing.
func TestPoolFullContainers(t *testing.T) {
	e := setup(t, containerdtest.V2(), sn)
	layers := containerdtest.ChildDatasets(t, e.dataset)
	used := zfsGet(t, "used", e.dataset)
	quota := used + 32<<20
	if out, err := exec.Command("zfs", "set", fmt.Sprintf("quota=%d", quota), e.dataset).CombinedOutput(); err != nil {
		t.Fatalf("zfs set quota: %v: %s", err, out)
	}
	t.Logf("%s: used %d, quota %d", e.dataset, used, quota)

	e.runDetached(t, "survivor", "sleep", "600")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, stderr, err := e.d.CtrContext(ctx, "run", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, "filler",
		"/bin/sh", "-c", "dd if=/dev/zero of=/fill bs=1M count=64 2>&1; echo rc=$?")
	if ctx.Err() != nil {
		t.Fatalf("the filling container hung: %q %q", out, stderr)
	}
	t.Logf("filler: %q, %v %q", out, err, stderr)
	if err != nil || !strings.Contains(out, "rc=1") || !(strings.Contains(out, "quota") || strings.Contains(out, "No space")) {
		t.Errorf("filler: stdout %q, %v %q; want dd's disk-full error and rc=1", out, err, stderr)
	}

	if out, _ := e.d.MustCtr(t, "task", "ls"), ""; !running(out, "survivor") {
		t.Fatalf("survivor not running after the pool filled: %q", out)
	}
	if out := e.d.MustCtr(t, "task", "exec", "--exec-id", "alive", "survivor", "echo", "still here"); out != "still here\n" {
		t.Errorf("exec in survivor while full: %q", out)
	}

	// A new container while the quota is used up: it may start (a clone
	// takes almost nothing) or fail; either way cleanly.
	before := containerdtest.ChildDatasets(t, e.dataset)
	out, stderr, code := e.run(t, ctx, runtimeType, "whilefull", "/bin/sh", "-c", "echo started")
	t.Logf("run while full: %q, exit %d, %s", out, code, ctrMessage(stderr))
	if code != 0 && !strings.Contains(stderr, "bytes available") {
		t.Errorf("run while full failed (exit %d) without saying the space ran out: %q", code, stderr)
	}
	e.checkClean(t, "whilefull")

	// Free the space: the writer's container and its snapshot.
	e.d.MustCtr(t, "containers", "rm", "filler")
	e.gc(t)
	if after := containerdtest.ChildDatasets(t, e.dataset); len(after) >= len(before) {
		t.Errorf("datasets %v after removing filler, were %v", after, before)
	}
	if out, _, code := e.run(t, ctx, runtimeType, "after", "/bin/sh", "-c", "dd if=/dev/zero of=/f bs=1M count=8 2>/dev/null && echo wrote"); code != 0 || out != "wrote\n" {
		t.Errorf("run after freeing: %q, exit %d", out, code)
	}

	e.d.MustCtr(t, "task", "kill", "-s", "KILL", "survivor")
	waitTaskGone(t, e, "survivor")
	e.d.MustCtr(t, "containers", "rm", "survivor")
	e.gc(t)
	if left := containerdtest.ChildDatasets(t, e.dataset); len(left) != len(layers) {
		t.Errorf("datasets %v, want the image's %v", left, layers)
	}
	e.checkClean(t, "filler")
	e.checkClean(t, "survivor")
}

// ctrMessage is ctr's stderr without log lines (2.x's cgroup v1
// deprecation warning).
func ctrMessage(stderr string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "time=") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, " ")
}

// gc makes containerd collect garbage now and waits for it (deleting a
// lease with --sync runs a collection).
func (e *env) gc(t *testing.T) {
	t.Helper()
	id := fmt.Sprintf("gc-%d", time.Now().UnixNano())
	e.d.MustCtr(t, "leases", "create", "--id", id)
	e.d.MustCtr(t, "leases", "rm", "--sync", id)
}

// zfsGet reads a numeric property.
func zfsGet(t *testing.T, prop, dataset string) int64 {
	t.Helper()
	out, err := exec.Command("zfs", "get", "-H", "-p", "-o", "value", prop, dataset).Output()
	if err != nil {
		t.Fatalf("zfs get %s %s: %v", prop, dataset, err)
	}
	var n int64
	if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &n); err != nil {
		t.Fatalf("zfs get %s %s: %q", prop, dataset, out)
	}
	return n
}

// waitTaskGone waits until id's task is stopped, then deletes it.
func waitTaskGone(t *testing.T, e *env, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := e.d.MustCtr(t, "task", "ls")
		if !running(out, id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still running 30s after SIGKILL: %q", id, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.d.MustCtr(t, "task", "rm", id)
}
