// Package devpool gives development machines and tests a real ZFS pool: it
// starts zfs-fuse when no kernel ZFS is present, and creates and destroys
// pools on sparse files. Everything here is safe to run again: a stale pool
// of the same name (an earlier run that died) is destroyed first, and pools
// are created with cachefile=none so a zfs-fuse restart does not bring them
// back.
package devpool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/zfsdriver"
)

// Defaults for a development pool.
const (
	DefaultDir  = "/var/tmp/zfslxc-devpool"
	DefaultName = "zfslxc"
	DefaultSize = 8 << 30 // sparse: costs only what is written
	// zfsFusePidFile is where we ask zfs-fuse to record its pid.
	zfsFusePidFile = "/run/zfs-fuse.pid"
	// zfsFuseLog receives the output of a zfs-fuse we start.
	zfsFuseLog = "/var/log/zfs-fuse-zfslxc.log"
	// zfsFuseSocket is where zfs-fuse listens for its tools.
	zfsFuseSocket = "/run/zfs/zfs_socket"
	// zfsFuseLock serialises starts of zfs-fuse.
	zfsFuseLock = "/run/zfslxc-zfs-fuse.lock"
)

// KernelZFS reports whether the OpenZFS kernel module is loaded.
func KernelZFS() bool {
	_, err := os.Stat("/sys/module/zfs")
	return err == nil
}

// EnsureZFS returns a driver for a working zfs: with kernel ZFS as it is;
// otherwise it starts the zfs-fuse daemon if it does not answer, and waits
// (up to 20 s) until it does.
func EnsureZFS(ctx context.Context) (*zfsdriver.Driver, error) {
	drv, err := zfsdriver.New(ctx)
	if err == nil {
		return drv, nil
	}
	if !errors.Is(err, zfsdriver.ErrUnavailable) || KernelZFS() {
		return nil, err
	}
	fuse, lookErr := exec.LookPath("zfs-fuse")
	if lookErr != nil {
		return nil, fmt.Errorf("%w; and zfs-fuse is not installed (apt-get install zfs-fuse, or make deps)", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Started again each round while it does not answer: a daemon that
		// was still shutting down when we first tried makes the new one
		// exit at once.
		if err := StartZFSFuse(ctx, fuse); err != nil && time.Now().After(deadline) {
			return nil, err
		}
		drv, err = zfsdriver.New(ctx)
		if err == nil {
			return drv, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("zfs-fuse started but zfs does not answer after 20s: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StartZFSFuse starts the zfs-fuse daemon (it forks into the background and
// outlives the caller), unless the pid file names a live one.
func StartZFSFuse(ctx context.Context, path string) error {
	// Test binaries of several packages run at once: one starts the daemon,
	// the others wait on the lock and then find it running.
	lock, err := os.OpenFile(zfsFuseLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("start zfs-fuse: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("start zfs-fuse: lock %s: %w", zfsFuseLock, err)
	}
	if socketAlive() {
		log.G(ctx).Debug("zfs-fuse already running")
		return nil
	}
	// The socket of a daemon that died would make the new one refuse to start.
	_ = os.Remove(zfsFuseSocket)
	// Container images carry xattrs (security.capability, user.*), which
	// zfs-fuse serves only with --enable-xattr; with that flag its daemon
	// mode exits at once (zfs-fuse 0.7.0), so it runs in the foreground in
	// its own session, detached from us, output to a log file (never to a
	// pipe of ours, which `go test` would wait on).
	logf, err := os.OpenFile(zfsFuseLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start zfs-fuse: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(path, "--no-daemon", "--enable-xattr", "--pidfile", zfsFusePidFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The daemon outlives us: it must not keep descriptors we inherited.
	// A zfs-fuse started by a test under `flock /work/.test.lock go test`
	// kept flock's fd 3, and with it the lock, for good.
	if err := closeInheritedOnExec(); err != nil {
		return fmt.Errorf("start zfs-fuse: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start zfs-fuse: %w", err)
	}
	// In the foreground zfs-fuse does not write its pid file.
	if err := os.WriteFile(zfsFusePidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("start zfs-fuse: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for {
		if socketAlive() {
			log.G(ctx).WithFields(log.Fields{"pid": cmd.Process.Pid, "log": zfsFuseLog}).Info("started zfs-fuse")
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("zfs-fuse exited at start (%v); see %s", err, zfsFuseLog)
		case <-deadline:
			return fmt.Errorf("zfs-fuse did not open its socket within 10s; see %s", zfsFuseLog)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// socketAlive reports whether a zfs-fuse daemon accepts connections.
func socketAlive() bool {
	c, err := net.DialTimeout("unix", zfsFuseSocket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Pool is a pool on a sparse file.
type Pool struct {
	Name  string
	Image string // the sparse file
	Mount string // mountpoint of the root dataset
	drv   *zfsdriver.Driver
}

// Options of Create.
type Options struct {
	Dir  string // where the image and mountpoint go (DefaultDir)
	Size int64  // image size in bytes (DefaultSize)
}

// Create makes pool name on a sparse file in opts.Dir. A pool of that name
// that already exists (left by a run that died) is destroyed first, with its
// image file.
func Create(ctx context.Context, drv *zfsdriver.Driver, name string, opts Options) (*Pool, error) {
	if err := zfsdriver.ValidatePool(name); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		opts.Dir = DefaultDir
	}
	if opts.Size == 0 {
		opts.Size = DefaultSize
	}
	p := &Pool{
		Name:  name,
		Image: filepath.Join(opts.Dir, name+".img"),
		Mount: filepath.Join(opts.Dir, name+".mnt"),
		drv:   drv,
	}
	if err := p.Destroy(ctx); err != nil {
		return nil, fmt.Errorf("remove stale pool %s: %w", name, err)
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p.Image, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pool image: %w", err)
	}
	err = f.Truncate(opts.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p.Image)
		return nil, fmt.Errorf("pool image: %w", err)
	}
	err = drv.PoolCreate(ctx, name, []string{p.Image}, zfsdriver.PoolCreateOptions{
		Properties:   map[string]string{"cachefile": "none"},
		FSProperties: map[string]string{"atime": "off", "com.sun:auto-snapshot": "false"},
		Mountpoint:   p.Mount,
	})
	if err != nil {
		_ = os.Remove(p.Image)
		return nil, err
	}
	log.G(ctx).WithFields(log.Fields{"pool": name, "image": p.Image, "size": opts.Size}).Debug("created pool")
	if err := checkXattr(p.Mount); err != nil {
		if derr := p.Destroy(ctx); derr != nil {
			log.G(ctx).WithError(derr).WithField("pool", name).Warn("destroy pool without xattrs")
		}
		return nil, err
	}
	return p, nil
}

// checkXattr fails when the filesystem at dir cannot store user xattrs,
// which container images need: zfs-fuse does so only when started with
// --enable-xattr.
func checkXattr(dir string) error {
	err := unix.Setxattr(dir, "user.zfslxc.probe", []byte("1"), 0)
	if err == nil {
		_ = unix.Removexattr(dir, "user.zfslxc.probe")
		return nil
	}
	if errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("%s does not support xattrs: zfs-fuse must run with --enable-xattr "+
			"(stop it with `pkill -x zfs-fuse`, then `zfslxc devpool up` starts it right): %w", dir, err)
	}
	return fmt.Errorf("xattr probe on %s: %w", dir, err)
}

// Open returns the Pool of an existing pool made by Create.
func Open(drv *zfsdriver.Driver, name, dir string) *Pool {
	if dir == "" {
		dir = DefaultDir
	}
	return &Pool{Name: name, Image: filepath.Join(dir, name+".img"), Mount: filepath.Join(dir, name+".mnt"), drv: drv}
}

// Destroy destroys the pool (forcing unmounts) and removes its image and
// mountpoint. A pool that does not exist is not an error.
func (p *Pool) Destroy(ctx context.Context) error {
	exists, err := p.drv.PoolExists(ctx, p.Name)
	if err != nil {
		return err
	}
	if exists {
		if err := p.drv.PoolDestroy(ctx, p.Name, true); err != nil && !zfsdriver.IsNotFound(err) {
			return err
		}
		log.G(ctx).WithField("pool", p.Name).Debug("destroyed pool")
	}
	if err := os.Remove(p.Image); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.RemoveAll(p.Mount); err != nil {
		return err
	}
	return nil
}

// ReapStale destroys the pools whose names start with prefix followed by the
// pid of a process that no longer runs (prefix<pid>x<anything>), as test
// pools are named; it returns the names it destroyed.
func ReapStale(ctx context.Context, drv *zfsdriver.Driver, prefix, dir string) ([]string, error) {
	pools, err := drv.Pools(ctx)
	if err != nil {
		return nil, err
	}
	var reaped []string
	for _, pl := range pools {
		rest, ok := strings.CutPrefix(pl.Name, prefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "x")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil {
			continue
		}
		if err := Open(drv, pl.Name, dir).Destroy(ctx); err != nil {
			return reaped, fmt.Errorf("reap stale pool %s: %w", pl.Name, err)
		}
		reaped = append(reaped, pl.Name)
	}
	return reaped, nil
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec,
// so that a long-lived child gets only what exec.Cmd passes it. Go opens
// its own descriptors close-on-exec; this catches those inherited from our
// parent (a lock file of flock(1), a pipe of a shell).
func closeInheritedOnExec() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("close_range(CLOEXEC): %w", err)
	}
	return nil
}
