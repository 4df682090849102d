// Package zfsdriver is a typed Go API over the zfs(8) and zpool(8) commands.
//
// One Driver drives both kernel OpenZFS and zfs-fuse: it detects what the
// installed zfs can do (parsable list output, several snapshots or
// properties in one call, kernel mounts) and picks the commands to match.
// Every name is validated before a command runs, every failure comes back as
// an *Error whose Kind is one of the Err* values (and whose errdefs class
// survives a containerd API boundary), and a transient "dataset is busy" is
// retried with backoff. Each command is logged at debug level with its
// duration. See docs/adr/0001-zfs-cli.md for why this wraps the CLI.
package zfsdriver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containerd/log"
)

// Runner runs one command to completion. err is set only when the command
// could not run at all (binary missing, context cancelled); a command that
// ran and failed returns its non-zero exit code and stderr with a nil err.
type Runner func(ctx context.Context, path string, args []string) (stdout, stderr []byte, exitCode int, err error)

// ExecRunner is the Runner that executes the real binary. A command run
// under the zfs-fuse mount lock inherits the locked file as fd 3 (see
// withInheritedLock).
func ExecRunner(ctx context.Context, path string, args []string) ([]byte, []byte, int, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// zfs prints messages in the C locale only when asked; we parse them.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if f := inheritedLock(ctx); f != nil {
		cmd.ExtraFiles = []*os.File{f}
	}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && ctx.Err() == nil {
		return stdout.Bytes(), stderr.Bytes(), exitErr.ExitCode(), nil
	}
	if err != nil {
		return stdout.Bytes(), stderr.Bytes(), -1, err
	}
	return stdout.Bytes(), stderr.Bytes(), 0, nil
}

// Capabilities are what the installed zfs implementation supports.
type Capabilities struct {
	// Implementation names what was detected: "openzfs 2.1.11", "zfs-fuse".
	Implementation string
	// ParsableList: `zfs list -p` and `zpool list -p` print exact numbers.
	ParsableList bool
	// MultiSnapshot: `zfs snapshot a@x b@y` takes several names atomically.
	MultiSnapshot bool
	// MultiSet: `zfs set p1=v1 p2=v2 ds` takes several properties.
	MultiSet bool
	// KernelMount: datasets can be mounted with mount -t zfs (legacy
	// mountpoints); without it, mounts are binds of the dataset mountpoint.
	KernelMount bool
	// Diff: `zfs diff` exists.
	Diff bool
	// ReadonlyHidesXattrs: on a readonly=on dataset, listing the xattrs of
	// a file that never had any fails with ENOTSUP (zfs-fuse creates the
	// xattr directory lazily), which breaks tar, cp -a and manifest tools;
	// read-only views then need a read-only mount instead.
	ReadonlyHidesXattrs bool
	// ExplicitUnmount: destroy or rename of a mounted dataset often
	// answers busy (zfs-fuse); unmount explicitly first, leaves first.
	ExplicitUnmount bool
	// SerialMounts: commands that mount, unmount or remount run one at a
	// time on the whole host (zfs-fuse deadlocked on concurrent mounts);
	// they take the flock of the Driver's mount lock file.
	SerialMounts bool
}

// OpenZFSCapabilities are those of kernel OpenZFS 0.8 and later.
func OpenZFSCapabilities(version string) Capabilities {
	return Capabilities{
		Implementation: strings.TrimSpace("openzfs " + version),
		ParsableList:   true, MultiSnapshot: true, MultiSet: true,
		KernelMount: true, Diff: true,
	}
}

// ZFSFuseCapabilities are those of zfs-fuse 0.7 (pool version 23).
func ZFSFuseCapabilities() Capabilities {
	return Capabilities{Implementation: "zfs-fuse", ExplicitUnmount: true, ReadonlyHidesXattrs: true, SerialMounts: true}
}

// RetryPolicy says how often a command that answered "busy" is run again.
type RetryPolicy struct {
	Attempts int           // total tries, at least 1
	Initial  time.Duration // first wait; doubles each time
	Max      time.Duration // cap on one wait
}

// DefaultRetry waits 50ms, 100ms, ... up to 1s, 8 tries (about 4s in all).
var DefaultRetry = RetryPolicy{Attempts: 8, Initial: 50 * time.Millisecond, Max: time.Second}

// Option configures a Driver.
type Option func(*Driver)

// WithBinaries sets the paths of zfs and zpool (default: looked up on PATH).
func WithBinaries(zfs, zpool string) Option {
	return func(d *Driver) { d.zfsPath, d.zpoolPath = zfs, zpool }
}

// WithRunner replaces the command runner (tests record or fake commands).
func WithRunner(r Runner) Option { return func(d *Driver) { d.runner = r } }

// WithCapabilities skips detection and uses caps.
func WithCapabilities(caps Capabilities) Option {
	return func(d *Driver) { d.caps, d.capsSet = caps, true }
}

// WithRetry sets the busy-retry policy.
func WithRetry(p RetryPolicy) Option { return func(d *Driver) { d.retry = p } }

// Driver runs zfs and zpool commands. It is safe for concurrent use.
type Driver struct {
	zfsPath, zpoolPath string
	runner             Runner
	retry              RetryPolicy
	caps               Capabilities
	capsSet            bool
	lockPath           string       // mount lock file (SerialMounts)
	mountLock          *mountLock   // this Driver's hold on it
	commands           atomic.Int64 // commands started, for metrics and benchmarks
	retries            atomic.Int64 // of those, runs again after a busy answer
}

// New returns a Driver for the zfs installed here. Unless WithCapabilities
// is given it runs one or two probe commands; it fails with ErrUnavailable
// when zfs is missing or cannot reach its kernel module or daemon, and the
// message says what to do.
func New(ctx context.Context, opts ...Option) (*Driver, error) {
	d := &Driver{runner: ExecRunner, retry: DefaultRetry, lockPath: DefaultMountLock, mountLock: newMountLock()}
	for _, o := range opts {
		o(d)
	}
	if d.retry.Attempts < 1 {
		d.retry.Attempts = 1
	}
	for _, b := range []struct {
		path *string
		name string
	}{{&d.zfsPath, "zfs"}, {&d.zpoolPath, "zpool"}} {
		if *b.path != "" {
			continue
		}
		p, err := exec.LookPath(b.name)
		if err != nil {
			return nil, &Error{Op: "init", ExitCode: -1, Kind: ErrUnavailable,
				Stderr: b.name + " not found on PATH: install zfsutils-linux (kernel OpenZFS) or zfs-fuse"}
		}
		*b.path = p
	}
	if !d.capsSet {
		caps, err := d.detect(ctx)
		if err != nil {
			return nil, err
		}
		d.caps = caps
	}
	return d, nil
}

// detect probes the installed zfs: `zfs version` exists from OpenZFS 0.8 on;
// without it, `zfs list -p` tells an older OpenZFS from zfs-fuse.
func (d *Driver) detect(ctx context.Context) (Capabilities, error) {
	out, stderr, code, err := d.exec(ctx, d.zfsPath, []string{"version"})
	if err != nil {
		return Capabilities{}, fmt.Errorf("zfs probe: %w", err)
	}
	if code == 0 {
		v := strings.TrimPrefix(firstLine(strings.TrimSpace(string(out))), "zfs-")
		return OpenZFSCapabilities(v), nil
	}
	if k := classify(string(stderr)); k == ErrUnavailable {
		return Capabilities{}, unavailable(stderr)
	}
	_, stderr, code, err = d.exec(ctx, d.zfsPath, []string{"list", "-H", "-p", "-o", "name"})
	if err != nil {
		return Capabilities{}, fmt.Errorf("zfs probe: %w", err)
	}
	switch classify(string(stderr)) {
	case ErrUnavailable:
		return Capabilities{}, unavailable(stderr)
	case ErrUnsupported:
		return ZFSFuseCapabilities(), nil
	}
	if code != 0 {
		return Capabilities{}, &Error{Op: "probe", Args: []string{"list", "-H", "-p"}, ExitCode: code,
			Stderr: strings.TrimSpace(string(stderr))}
	}
	return OpenZFSCapabilities("(before 0.8)"), nil
}

func unavailable(stderr []byte) error {
	msg := strings.TrimSpace(string(stderr))
	hint := "load the zfs module (modprobe zfs)"
	if strings.Contains(msg, "zfs-fuse") {
		hint = "start the zfs-fuse daemon (zfs-fuse, or: zfslxc devpool up)"
	}
	return &Error{Op: "init", ExitCode: -1, Kind: ErrUnavailable, Stderr: firstLine(msg) + ": " + hint}
}

// Capabilities returns what was detected (or given).
func (d *Driver) Capabilities() Capabilities { return d.caps }

// Commands returns how many zfs/zpool commands this Driver has started,
// retries included.
func (d *Driver) Commands() int64 { return d.commands.Load() }

// Retries returns how many of the commands were runs again after zfs
// answered busy.
func (d *Driver) Retries() int64 { return d.retries.Load() }

// exec runs one command, counts and logs it.
func (d *Driver) exec(ctx context.Context, path string, args []string) ([]byte, []byte, int, error) {
	d.commands.Add(1)
	start := time.Now()
	stdout, stderr, code, err := d.runner(ctx, path, args)
	entry := log.G(ctx).WithFields(log.Fields{
		"cmd":      path + " " + strings.Join(args, " "),
		"duration": time.Since(start),
		"exit":     code,
	})
	if err != nil {
		entry.WithError(err).Debug("zfs command did not run")
	} else if code != 0 {
		entry.WithField("stderr", strings.TrimSpace(string(stderr))).Debug("zfs command failed")
	} else {
		entry.Debug("zfs command")
	}
	return stdout, stderr, code, err
}

// execCommand runs c once, holding the mount lock when c mounts on a
// zfs that needs it.
func (d *Driver) execCommand(ctx context.Context, path string, c command) ([]byte, []byte, int, error) {
	if c.mounts && d.caps.SerialMounts {
		release, held, err := d.mountLock.acquire(ctx, d.lockPath)
		if err != nil {
			return nil, nil, -1, err
		}
		defer release()
		if held != nil {
			ctx = withInheritedLock(ctx, held)
		}
	}
	return d.exec(ctx, path, c.args)
}

// command describes one invocation for run.
type command struct {
	op    string // operation name for errors
	name  string // subject dataset/snapshot/pool
	pool  bool   // zpool instead of zfs
	args  []string
	retry bool // retry on ErrBusy
	// mounts: the command may mount, unmount or remount a filesystem
	// (serialised where Capabilities.SerialMounts).
	mounts bool
}

// run executes c, classifying failures and retrying busy ones.
func (d *Driver) run(ctx context.Context, c command) ([]byte, error) {
	path := d.zfsPath
	if c.pool {
		path = d.zpoolPath
	}
	wait := d.retry.Initial
	for attempt := 1; ; attempt++ {
		stdout, stderr, code, err := d.execCommand(ctx, path, c)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				if !errors.Is(err, ctxErr) { // keep "waiting for the mount lock"
					err = ctxErr
				}
				return nil, fmt.Errorf("zfs %s %q: %w", c.op, c.name, err)
			}
			kind := error(nil)
			if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
				kind = ErrUnavailable
			}
			return nil, &Error{Op: c.op, Name: c.name, Args: c.args, ExitCode: -1, Stderr: err.Error(), Kind: kind}
		}
		if code == 0 {
			return stdout, nil
		}
		msg := strings.TrimSpace(string(stderr))
		e := &Error{Op: c.op, Name: c.name, Args: c.args, ExitCode: code, Stderr: msg, Kind: classify(msg)}
		if !c.retry || e.Kind != ErrBusy || attempt >= d.retry.Attempts {
			return nil, e
		}
		log.G(ctx).WithFields(log.Fields{"op": c.op, "name": c.name, "attempt": attempt, "wait": wait}).
			Debug("zfs busy, retrying")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("zfs %s %q: %w (last: %v)", c.op, c.name, ctx.Err(), e)
		case <-time.After(wait):
		}
		d.retries.Add(1)
		wait *= 2
		if d.retry.Max > 0 && wait > d.retry.Max {
			wait = d.retry.Max
		}
	}
}
