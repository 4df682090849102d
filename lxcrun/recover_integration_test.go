package lxcrun_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestCleanupOrphan: Cleanup, which knows only the state directory (as the
// shim's delete action after the shim was killed), stops a running
// container (init, the processes it forked, the starter) and removes the
// directory; the cgroups are checked by prepare's cleanup.
func TestCleanupOrphan(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	b := create(t, baseSpec(rootfs, "sh", "-c", "sleep 600 & echo started; wait"), "", false)
	b.release(t)
	waitFor(t, b.stdout, "started\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recorded, err := lxcrun.Cleanup(ctx, b.c.Dir())
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if st := b.wait(t); st != (lxcrun.Status{Signal: syscall.SIGKILL}) {
		t.Errorf("status = %v, want signaled 9", st)
	}
	if recorded == nil || *recorded != (lxcrun.Status{Signal: syscall.SIGKILL}) {
		t.Errorf("Cleanup's recorded status = %v, want signaled 9", recorded)
	}
	if _, err := os.Stat(b.c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir after Cleanup: %v", err)
	}
	// Once more, and on a directory that never existed.
	if st, err := lxcrun.Cleanup(ctx, b.c.Dir()); err != nil || st != nil {
		t.Errorf("second Cleanup: %v, %v; want no status, no error", st, err)
	}
}

// TestCleanupRecordedExit: after the container ended by itself, Cleanup
// reports the status zfslxc-start recorded (the shim's delete action
// passes it on to containerd).
func TestCleanupRecordedExit(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	b := create(t, baseSpec(rootfs, "sh", "-c", "exit 3"), "", false)
	b.release(t)
	if st := b.wait(t); st != (lxcrun.Status{Code: 3}) {
		t.Fatalf("status = %v, want exited 3", st)
	}
	st, err := lxcrun.Cleanup(context.Background(), b.c.Dir())
	if err != nil || st == nil || *st != (lxcrun.Status{Code: 3}) {
		t.Fatalf("Cleanup = %v, %v; want exited 3", st, err)
	}
}

// TestCleanupStalePids: a recorded pid whose start time does not match
// (the pid was recycled) is left alone.
func TestCleanupStalePids(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Our own pid, with a start time it does not have.
	data := `{"starter":{"pid":` + itoa(os.Getpid()) + `,"startTime":1},"init":{"pid":` + itoa(os.Getpid()) + `,"startTime":1}}`
	if err := os.WriteFile(filepath.Join(dir, "pids.json"), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := lxcrun.Cleanup(context.Background(), dir); err != nil || st != nil {
		t.Fatalf("Cleanup = %v, %v; want no status, no error", st, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir after Cleanup: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPidsKillAll: Pids lists init and its children; KillAll reaches the
// children, which a shell as PID 1 (no TERM trap) would not forward.
func TestPidsKillAll(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	b := create(t, baseSpec(rootfs, "sh", "-c", "sleep 600 & sleep 600 & echo started; wait; echo waited"), "", false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.release(t)
	waitFor(t, b.stdout, "started\n")
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if pids, err = b.c.Pids(ctx); err != nil {
			t.Fatalf("Pids: %v", err)
		}
		if len(pids) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(pids) != 3 || !slices.Contains(pids, b.c.Pid()) {
		t.Fatalf("Pids = %v, want 3 with init %d", pids, b.c.Pid())
	}
	if err := b.c.KillAll(ctx, syscall.SIGTERM); err != nil {
		t.Fatalf("KillAll: %v", err)
	}
	if st := b.wait(t); st != (lxcrun.Status{}) {
		t.Errorf("status = %v, want exited 0", st)
	}
	if out := b.stdout.String(); out != "started\nwaited\n" {
		t.Errorf("stdout = %q", out)
	}
	if _, err := b.c.Pids(ctx); !errdefs.IsNotFound(err) {
		t.Errorf("Pids after exit = %v, want NotFound", err)
	}
}
