// Package testpool gives a test its own real ZFS pool on a sparse file.
//
// Tests that need ZFS call New(t). Without root or without zfs they skip
// and say why, unless ZFSLXC_REQUIRE_ZFS=1 (which `make test` sets): then a
// missing piece fails the test, so the integration tier cannot be skipped
// unnoticed where it is meant to run.
package testpool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containerd/log"

	"github.com/zfslxc/zfslxc/internal/devpool"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// Prefix starts every test pool name; the creating process's pid follows,
// so pools of runs that died can be told apart and reaped.
const Prefix = "zfslxct"

// RequireEnv is the variable that turns skips into failures.
const RequireEnv = "ZFSLXC_REQUIRE_ZFS"

// Dir holds test pool images.
const Dir = "/var/tmp/zfslxc-testpools"

// Pool is a test's pool.
type Pool struct {
	*devpool.Pool
	Driver *zfsdriver.Driver
}

// Options of New.
type Options struct {
	Size int64 // default 2 GiB (sparse)
}

// DebugEnv set to 1 logs every zfs command the test runs; otherwise
// tests with a pool log warnings and errors only.
const DebugEnv = "ZFSLXC_TEST_DEBUG"

// ZFS runs the zfs command directly (benchmarks compare the code under test
// with it), running it again when zfs answers busy, as any script on
// zfs-fuse must (every 50 ms, 2 s at most).
func ZFS(t testing.TB, args ...string) {
	t.Helper()
	for try := 0; ; try++ {
		out, err := runZFS(args)
		if err == nil {
			return
		}
		if !strings.Contains(string(out), "busy") || try == 40 {
			t.Fatalf("zfs %v: %v: %s", args, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runZFS runs zfs once; on zfs-fuse its mounting subcommands hold the
// host's mount lock, as the Driver's do (concurrent mounts deadlocked
// zfs-fuse).
func runZFS(args []string) ([]byte, error) {
	if len(args) > 0 && mountingSubcommands[args[0]] && !devpool.KernelZFS() {
		release, err := zfsdriver.LockMounts(context.Background(), zfsdriver.DefaultMountLock)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	return exec.Command("zfs", args...).CombinedOutput()
}

// mountingSubcommands are the zfs subcommands that may mount, unmount or
// remount (set is counted whatever the property: tests set few).
var mountingSubcommands = map[string]bool{
	"create": true, "clone": true, "destroy": true, "rename": true, "rollback": true,
	"mount": true, "unmount": true, "umount": true, "set": true, "inherit": true,
}

// New creates a uniquely named pool for t and destroys it when t ends,
// passed or failed. Pools left by earlier runs that died are reaped first.
func New(t testing.TB, opts ...Options) *Pool {
	t.Helper()
	Require(t)
	// Info lines of the code under test would cut benchmark result lines
	// (go test prints both on one stream); warnings and errors still show.
	level := "warn"
	if os.Getenv(DebugEnv) == "1" {
		level = "debug"
	}
	_ = log.SetLevel(level)
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Size == 0 {
		o.Size = 2 << 30
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	drv, err := devpool.EnsureZFS(ctx)
	if err != nil {
		t.Fatalf("zfs: %v", err)
	}
	if reaped, err := devpool.ReapStale(ctx, drv, Prefix, Dir); err != nil {
		t.Logf("reaping stale test pools: %v", err)
	} else if len(reaped) > 0 {
		t.Logf("reaped stale test pools %v", reaped)
	}
	name := UniqueName()
	p, err := devpool.Create(ctx, drv, name, devpool.Options{Dir: Dir, Size: o.Size})
	if err != nil {
		t.Fatalf("create test pool: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := p.Destroy(ctx); err != nil {
			t.Errorf("destroy test pool %s: %v", name, err)
		}
	})
	return &Pool{Pool: p, Driver: drv}
}

// UniqueName returns Prefix<pid>x<random hex>.
func UniqueName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s%dx%s", Prefix, os.Getpid(), hex.EncodeToString(b))
}

// Require skips t (or fails it under ZFSLXC_REQUIRE_ZFS=1) unless this
// process is root and zfs and zpool are on PATH.
func Require(t testing.TB) {
	t.Helper()
	var missing string
	switch {
	case os.Geteuid() != 0:
		missing = "not running as root"
	case !onPath("zfs") || !onPath("zpool"):
		missing = "zfs/zpool not on PATH (make deps installs zfs-fuse)"
	case !devpool.KernelZFS() && !onPath("zfs-fuse"):
		missing = "no kernel ZFS and no zfs-fuse"
	}
	if missing == "" {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("ZFS test cannot run: %s (%s=1 makes this a failure)", missing, RequireEnv)
	}
	t.Skipf("ZFS test skipped: %s (set %s=1 to fail instead)", missing, RequireEnv)
}

func onPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
