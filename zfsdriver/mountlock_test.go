package zfsdriver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// inFlight is a runner that counts the commands running at once.
type inFlight struct {
	now, max atomic.Int32
	calls    atomic.Int32
}

func (f *inFlight) run(_ context.Context, _ string, _ []string) ([]byte, []byte, int, error) {
	f.calls.Add(1)
	n := f.now.Add(1)
	for {
		m := f.max.Load()
		if n <= m || f.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	f.now.Add(-1)
	return nil, nil, 0, nil
}

func lockedDriver(t *testing.T, caps Capabilities, lock string, r Runner) *Driver {
	t.Helper()
	d, err := New(context.Background(), WithBinaries("/sbin/zfs", "/sbin/zpool"), WithRunner(r),
		WithCapabilities(caps), WithMountLock(lock))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// On zfs-fuse two Drivers (two processes, as far as flock goes) never run
// mounting commands at once.
func TestMountingCommandsSerialised(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "mount.lock")
	f := &inFlight{}
	drivers := []*Driver{lockedDriver(t, ZFSFuseCapabilities(), lock, f.run), lockedDriver(t, ZFSFuseCapabilities(), lock, f.run)}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := drivers[i%2]
			var err error
			switch i % 4 {
			case 0:
				err = d.Clone(ctx, "tank/a@s", "tank/c", CloneOptions{})
			case 1:
				err = d.Create(ctx, "tank/b", CreateOptions{})
			case 2:
				err = d.SetAll(ctx, []string{"tank/a", "tank/b"}, "readonly", "on")
			case 3:
				err = d.Destroy(ctx, "tank/b", DestroyOptions{})
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := f.max.Load(); got != 1 {
		t.Errorf("%d mounting commands ran at once, want 1", got)
	}
	if f.calls.Load() < 16 {
		t.Errorf("%d commands ran, want at least 16", f.calls.Load())
	}
}

// While another process holds the lock: mounting commands wait (and give
// up with ctx, saying why), the others run; OpenZFS takes no lock.
func TestMountLockWhoWaits(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "mount.lock")
	release, err := LockMounts(context.Background(), lock)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	cases := []struct {
		name  string
		caps  Capabilities
		op    func(context.Context, *Driver) error
		waits bool
	}{
		{"create", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error {
			return d.Create(ctx, "tank/a", CreateOptions{})
		}, true},
		{"clone", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error {
			return d.Clone(ctx, "tank/a@s", "tank/b", CloneOptions{})
		}, true},
		{"unmount", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error { return d.Unmount(ctx, "tank/a", false) }, true},
		{"set readonly", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error {
			return d.Set(ctx, "tank/a", map[string]string{"readonly": "on"})
		}, true},
		{"inherit mountpoint", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error { return d.Inherit(ctx, "tank/a", "mountpoint") }, true},
		{"pool create", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error {
			return d.PoolCreate(ctx, "tank", []string{"/img"}, PoolCreateOptions{})
		}, true},
		{"set user property", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error {
			return d.Set(ctx, "tank/a", map[string]string{"io.zfslxc:key": "x"})
		}, false},
		{"snapshot", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error {
			return d.Snapshot(ctx, []string{"tank/a@s"}, SnapshotOptions{})
		}, false},
		{"list", ZFSFuseCapabilities(), func(ctx context.Context, d *Driver) error { _, err := d.Exists(ctx, "tank/a"); return err }, false},
		{"openzfs create", OpenZFSCapabilities("2.1"), func(ctx context.Context, d *Driver) error {
			return d.Create(ctx, "tank/a", CreateOptions{})
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &inFlight{}
			d := lockedDriver(t, c.caps, lock, f.run)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := c.op(ctx, d)
			if !c.waits {
				if err != nil || f.calls.Load() == 0 {
					t.Fatalf("err %v, %d commands: want it run without the lock", err, f.calls.Load())
				}
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "mount lock") {
				t.Fatalf("err %v: want a deadline error naming the mount lock", err)
			}
			if f.calls.Load() != 0 {
				t.Fatalf("%d commands ran while another process held the lock", f.calls.Load())
			}
		})
	}
}

// holderEnv makes the test binary the helper process of
// TestMountLockOutlivesKilledHolder (see TestMain): a Driver that runs one
// mounting command with the fake zfs the variable names, under the lock
// file holderLockEnv names.
const (
	holderEnv     = "ZFSDRIVER_TEST_HOLDER_ZFS"
	holderLockEnv = "ZFSDRIVER_TEST_HOLDER_LOCK"
)

// TestMain runs the tests, or, with holderEnv set, is the helper process
// of TestMountLockOutlivesKilledHolder.
func TestMain(m *testing.M) {
	if zfs := os.Getenv(holderEnv); zfs != "" {
		os.Exit(runLockHolder(zfs, os.Getenv(holderLockEnv)))
	}
	os.Exit(m.Run())
}

// runLockHolder creates a dataset with the fake zfs under the lock file;
// the test kills it while its zfs runs.
func runLockHolder(zfs, lock string) int {
	d, err := New(context.Background(), WithBinaries(zfs, zfs), WithCapabilities(ZFSFuseCapabilities()), WithMountLock(lock))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d.Create(context.Background(), "tank/a", CreateOptions{})
	return 0
}

// A process killed with SIGKILL while its zfs command runs (kill -9 of the
// snapshotter or of zfslxc, as the fault sweep does) leaves that command
// running, mounting: the lock must stay held until the command ends, or
// the next process mounts at the same time (the zfs-fuse deadlock). Was:
// the lock went with the killed process.
func TestMountLockOutlivesKilledHolder(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "mount.lock")
	started, finished := filepath.Join(dir, "started"), filepath.Join(dir, "finished")
	zfs := filepath.Join(dir, "zfs")
	script := fmt.Sprintf("#!/bin/sh\n: > %s\nsleep 2\n: > %s\n", started, finished)
	if err := os.WriteFile(zfs, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), holderEnv+"="+zfs, holderLockEnv+"="+lock)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Let the orphaned fake zfs end before TempDir goes.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, err := os.Stat(finished); err == nil {
				return
			}
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			helper.Process.Kill()
			helper.Wait()
			t.Fatal("the helper's zfs command did not start within 30s")
		}
	}
	helper.Process.Kill()
	helper.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release, err := LockMounts(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := os.Stat(finished); err != nil {
		t.Fatal("took the mount lock while the killed holder's zfs command still ran")
	}
}
