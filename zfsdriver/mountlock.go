package zfsdriver

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// DefaultMountLock is the file whose flock(2) serialises mounting commands
// on zfs-fuse across every process of the host: the snapshotter daemon,
// the zfslxc tool, tests and benchmarks.
//
// zfs-fuse deadlocked when two zfs processes mounted (or remounted)
// datasets at once: a new mount's FUSE INIT was never answered, a setxattr
// waited in fuse_get_req, and every later zfs command hung. Kernel OpenZFS
// has no such limit and takes no lock.
const DefaultMountLock = "/run/lock/zfslxc-zfs-fuse.lock"

// WithMountLock sets the lock file of mounting commands (default
// DefaultMountLock); it matters only where Capabilities.SerialMounts.
func WithMountLock(path string) Option { return func(d *Driver) { d.lockPath = path } }

// mountOptionProps are the native properties whose change remounts a
// mounted filesystem (zfs set readonly=on remounts it read-only).
var mountOptionProps = map[string]bool{
	"mountpoint": true, "canmount": true, "readonly": true, "atime": true, "relatime": true,
	"devices": true, "exec": true, "setuid": true, "xattr": true, "nbmand": true, "zoned": true,
}

// remounts reports whether setting or inheriting props may remount.
func remounts(props ...string) bool {
	for _, p := range props {
		if mountOptionProps[p] {
			return true
		}
	}
	return false
}

// mountLock is one Driver's hold on the lock file: sem orders the
// Driver's goroutines (a flock is per open file, so goroutines sharing the
// fd would not exclude each other), the flock orders processes and other
// Drivers.
type mountLock struct {
	sem    chan struct{}
	f      *os.File // opened on first use; guarded by sem
	noFile bool     // the file could not be opened (warned once); guarded by sem
}

func newMountLock() *mountLock { return &mountLock{sem: make(chan struct{}, 1)} }

// lockPoll bounds the wait between two tries of a contended flock.
const lockPoll = 20 * time.Millisecond

// acquire takes the lock at path, waiting until ctx ends. A lock file that
// cannot be opened (no /run/lock, no permission) is logged and skipped:
// the command runs unserialised rather than not at all. held is the
// locked file (nil then), for the command to inherit (see
// withInheritedLock).
func (l *mountLock) acquire(ctx context.Context, path string) (release func(), held *os.File, err error) {
	start := time.Now()
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("waiting for the zfs-fuse mount lock %s: %w", path, ctx.Err())
	}
	unlockSem := func() { <-l.sem }
	if l.noFile {
		return unlockSem, nil, nil
	}
	if l.f == nil {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
		if err != nil {
			l.noFile = true
			log.G(ctx).WithError(err).WithField("lock", path).Warn("zfs-fuse mount lock unavailable: mounting commands are serialised in this process only")
			return unlockSem, nil, nil
		}
		l.f = f
	}
	fd := int(l.f.Fd())
	if err := flockWait(ctx, fd, path); err != nil {
		unlockSem()
		return nil, nil, err
	}
	if waited := time.Since(start); waited > time.Second {
		log.G(ctx).WithFields(log.Fields{"lock": path, "waited": waited}).Debug("zfs-fuse mount lock was held")
	}
	return func() {
		_ = unix.Flock(fd, unix.LOCK_UN)
		unlockSem()
	}, l.f, nil
}

type inheritedLockKey struct{}

// withInheritedLock returns ctx carrying the locked file f, which
// ExecRunner passes to the command it starts (as fd 3). A flock belongs
// to the open file, which the command then shares: if this process dies
// (kill -9, a crash) while the command still runs, and mounts, the lock
// stays held until the command ends, so no other process mounts
// meanwhile. Without it the lock went with the process and the orphaned
// zfs mounted alongside the next holder.
func withInheritedLock(ctx context.Context, f *os.File) context.Context {
	return context.WithValue(ctx, inheritedLockKey{}, f)
}

// inheritedLock is the file withInheritedLock put in ctx, or nil.
func inheritedLock(ctx context.Context) *os.File {
	f, _ := ctx.Value(inheritedLockKey{}).(*os.File)
	return f
}

// flockWait takes an exclusive flock on fd, polling until ctx ends (a
// blocking flock could not be given up).
func flockWait(ctx context.Context, fd int, path string) error {
	wait := time.Millisecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return fmt.Errorf("zfs-fuse mount lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the zfs-fuse mount lock %s: %w", path, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, lockPoll)
	}
}

// LockMounts takes the mount lock at path (DefaultMountLock for the host's)
// for a zfs command run outside a Driver: a test's or a benchmark
// baseline's bare `zfs create`. Call release once the command is done.
func LockMounts(ctx context.Context, path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("zfs-fuse mount lock: %w", err)
	}
	if err := flockWait(ctx, int(f.Fd()), path); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
