// Package lxcrun starts an OCI runtime spec as an LXC container for
// containerd-shim-lxc-v1: lxcconv turns the spec
// into an LXC config, the C starter zfslxc-start runs it in the foreground
// through liblxc (and reports init's exit status, which `lxc-start -F`
// loses), and zfslxc-init is the container's init that sets the process up
// and execs it. docs/adr/0002-exit-status-and-init.md records why.
//
// Life cycle, with the OCI create/start split:
//
//	c, _ := lxcrun.Prepare(ctx, dir, spec, opts) // files in dir, nothing runs
//	c.Start(ctx, stdio)  // OCI create: init set up, blocked on the exec fifo; LXC's monitor ended
//	c.Release(ctx)       // OCI start: the payload is exec'd
//	st, _ := c.Wait(ctx) // init's exit status (init is this process's child)
//	c.Delete(ctx)        // kill if still running, remove cgroups and dir
//
// Start ends zfslxc-start (liblxc's monitor) once init is set up and
// adopts init (docs/adr/0007-no-monitor.md): a running container costs no
// process of its own, and LXC's tools (lxc-info, lxc-attach) do not see
// it. The state directory holds everything (never /var/lib/lxc): the LXC
// config at lxc/<name>/config, process.json, exec.fifo, the status file,
// lxc.log and the seccomp policy.
//
// What reaches the container: zfslxc-start inherits four descriptors and
// liblxc passes them to init unchanged (it does not close inherited fds in
// foreground mode): 3 the zfslxc-init binary, 4 process.json, 5 exec.fifo
// (O_PATH), 6 a unix socket for "started", then "ready"/"error"; from 7, the clones of
// shared bind mounts for the pre-mount hook (cloneSharedMounts), which
// the hook inherits too. lxc.init.cmd names the first four
// through /proc/self/fd, so neither the helper nor its files appear in the
// container's filesystem, and zfslxc-init marks every inherited descriptor
// close-on-exec before the payload runs. The container must therefore
// mount /proc (every containerd and nerdctl spec does); Prepare checks it.
//
// Stdio: the payload's stdin, stdout and stderr are zfslxc-start's. With
// lxc.console.path = none (lxcconv's mapping, terminal or not) liblxc
// leaves them alone in foreground mode. For process.terminal the caller
// passes a pty slave as all three (OpenPty, Resize; see pty.go).
package lxcrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// AnnotationInit selects how zfslxc-init runs the process: "exec" (the
// default: the process replaces the helper and is PID 1, as under runc) or
// "reaper" (the helper stays PID 1, forks the process, reaps zombies and
// forwards signals, like `docker run --init`).
const AnnotationInit = "io.zfslxc.init"

// Values of AnnotationInit.
const (
	InitExec   = "exec"
	InitReaper = "reaper"
)

// The descriptors zfslxc-start inherits and passes to init; zfslxc-init
// finds them through the /proc/self/fd paths in lxc.init.cmd.
const (
	fdInit    = 3 // the zfslxc-init binary, executed as /proc/self/fd/3
	fdProcess = 4 // process.json
	fdFifo    = 5 // exec.fifo, O_PATH; reopened for writing by init
	fdSync    = 6 // unix seqpacket socket: "ready" or "error TEXT"
	// fdFirstShared and on: the clones of the shared bind mounts'
	// sources (cloneSharedMounts), for the pre-mount hook; zfslxc-init
	// closes them when it execs the process.
	fdFirstShared = 7
)

// Files in the state directory.
const (
	processFile  = "process.json"
	fifoFile     = "exec.fifo"
	statusFile   = "status"
	logFile      = "lxc.log"
	seccompFile  = "seccomp.policy"
	lxcDir       = "lxc"
	configFile   = "config"
	readyMessage = "ready"
	// startedMessage is init's first report, before its set-up.
	startedMessage = "started"
)

// killTimeout bounds the wait for init to die after SIGKILL in Delete,
// before the starter itself is killed (see killLocked).
const killTimeout = 10 * time.Second

// validName reports whether name is 1-128 of [A-Za-z0-9_.-], starting
// with a letter or digit (a container name, an exec id). Not a regexp:
// the {0,127} repetition compiled to 40 kB every shim kept.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// Options configure Prepare.
type Options struct {
	// Name is the LXC container name (the containerd task id): letters,
	// digits, '_', '.', '-'. Required.
	Name string
	// Convert is passed to lxcconv.Convert. Prepare sets ContainerName,
	// InitPath and InitArgs; it fills LogFile (dir/lxc.log), LogLevel
	// ("error"), SeccompProfilePath (dir/seccomp.policy), CgroupVersion
	// (detected) and HostFS (the host's /) when they are empty, and
	// creates the mount targets of Result.MountTargets.
	Convert lxcconv.Options
	// Reaper keeps zfslxc-init as PID 1 (see AnnotationInit, which also
	// turns it on).
	Reaper bool
	// BinDir holds zfslxc-init and zfslxc-start; empty: see FindBinary.
	BinDir string
}

// Stdio are the container process's standard streams. *os.File values are
// passed down as they are; other readers and writers are copied through
// pipes, as os/exec does. Nil means /dev/null. When the spec has
// process.terminal, Stdin must be a pty slave (*os.File), normally also
// Stdout and Stderr; zfslxc-init makes it the controlling terminal. Or,
// with NewConsole, zfslxc-init makes the pty itself.
type Stdio struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// NewConsole (with process.terminal): zfslxc-init opens a pty in the
	// container's own devpts, as runc does, makes its slave the process's
	// stdin, stdout and stderr and its controlling terminal, and hands the
	// master over: Container.Console (Process.Console for an exec) after
	// Start (Exec). ttyname(3) and tty(1) then work in the container. The
	// streams above are then only the starter's own.
	NewConsole bool
}

// Container is one prepared container. Its methods are safe for concurrent
// use; Wait may be called by several goroutines.
type Container struct {
	name    string
	dir     string
	lxcpath string
	config  string
	logFile string
	// seccompFile is the seccomp policy lxcconv wrote (Result.SeccompProfile).
	seccompFile string
	initBin     string
	starterBin  string
	result      *lxcconv.Result

	// mu is held for the whole of Start, so other methods wait for a
	// Start in progress.
	mu       sync.Mutex
	init     *starter // guarded by mu; set by Start
	released bool     // guarded by mu; set by Release
	// cgroupDirs are init's cgroup directories, recorded at start for
	// KillOrphans; guarded by mu.
	cgroupDirs []string
	// cgroups are the container's and its monitor's own cgroups as
	// writePids recorded them (ownCgroups); guarded by mu.
	cgroups []string
}

// Prepare converts spec and writes the state directory dir (created, 0700;
// it must not exist yet or be empty). Nothing runs yet.
func Prepare(ctx context.Context, dir string, spec *specs.Spec, opts Options) (*Container, error) {
	if !validName(opts.Name) {
		return nil, fmt.Errorf("container name %q: want 1-128 of [A-Za-z0-9_.-]: %w", opts.Name, errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("state dir %q is not absolute: %w", dir, errdefs.ErrInvalidArgument)
	}
	reaper, err := initMode(spec, opts.Reaper)
	if err != nil {
		return nil, err
	}
	initBin, err := FindBinary(opts.BinDir, InitBinary)
	if err != nil {
		return nil, err
	}
	starter, err := FindBinary(opts.BinDir, StarterBinary)
	if err != nil {
		return nil, err
	}

	co := opts.Convert
	co.ContainerName = opts.Name
	co.InitOutlivesMonitor = true // Start ends the monitor
	co.InitPath = fmt.Sprintf("/proc/self/fd/%d", fdInit)
	co.InitArgs = []string{fmt.Sprintf("--fifo=/proc/self/fd/%d", fdFifo), fmt.Sprintf("--sync-fd=%d", fdSync), "--stdio-from-sync"}
	if reaper {
		co.InitArgs = append(co.InitArgs, "--reaper")
	}
	co.InitArgs = append(co.InitArgs, fmt.Sprintf("/proc/self/fd/%d", fdProcess))
	if co.LogFile == "" {
		co.LogFile = filepath.Join(dir, logFile)
	}
	if co.LogLevel == "" {
		co.LogLevel = "error"
	}
	if co.SeccompProfilePath == "" {
		co.SeccompProfilePath = filepath.Join(dir, seccompFile)
	}
	if co.SharedMountDir == "" {
		co.SharedMountDir = dir
	}
	if co.CgroupVersion == 0 {
		if co.CgroupVersion, err = CgroupVersion(); err != nil {
			return nil, err
		}
	}
	if co.HostFS == nil {
		co.HostFS = os.DirFS("/")
	}
	res, err := lxcconv.Convert(spec, co)
	if err != nil {
		return nil, fmt.Errorf("converting spec: %w", err)
	}
	if err := CreateMountTargets(res.MountTargets); err != nil {
		return nil, err
	}
	if !mountsProc(res.Config) {
		return nil, fmt.Errorf("mounts: /proc must be mounted in the container (zfslxc-init is started as /proc/self/fd/%d): %w", fdInit, errdefs.ErrInvalidArgument)
	}

	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("state dir %s is not empty: %w", dir, errdefs.ErrAlreadyExists)
	}
	c := &Container{
		name:        opts.Name,
		dir:         dir,
		lxcpath:     filepath.Join(dir, lxcDir),
		logFile:     co.LogFile,
		seccompFile: co.SeccompProfilePath,
		initBin:     initBin,
		starterBin:  starter,
		result:      res,
	}
	c.config = filepath.Join(c.lxcpath, opts.Name, configFile)
	if err := c.writeFiles(co); err != nil {
		if rerr := os.RemoveAll(dir); rerr != nil {
			log.G(ctx).WithError(rerr).WithField("dir", dir).Warn("lxcrun: removing state dir")
		}
		return nil, err
	}
	return c, nil
}

func (c *Container) writeFiles(co lxcconv.Options) error {
	if err := os.MkdirAll(filepath.Dir(c.config), 0o700); err != nil {
		return err
	}
	var cfg bytes.Buffer
	if _, err := c.result.Config.WriteTo(&cfg); err != nil {
		return err
	}
	if err := os.WriteFile(c.config, cfg.Bytes(), 0o600); err != nil {
		return err
	}
	proc, err := json.Marshal(c.result.Process)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, processFile), proc, 0o600); err != nil {
		return err
	}
	if c.result.SeccompProfile != "" {
		if err := os.WriteFile(co.SeccompProfilePath, []byte(c.result.SeccompProfile), 0o600); err != nil {
			return err
		}
	}
	if c.result.MountHook != nil {
		if err := writeJSON(filepath.Join(c.dir, mountHookFile), c.result.MountHook); err != nil {
			return err
		}
		if err := makeStagingPoints(c.result.MountHook.SharedMounts); err != nil {
			return err
		}
	}
	// 0622 as runc's exec.fifo: init reopens it for writing after it has
	// changed to the process's user. The 0700 state dir keeps others out,
	// and the /proc/self/fd path init uses does not cross it.
	fifo := filepath.Join(c.dir, fifoFile)
	if err := unix.Mkfifo(fifo, 0o622); err != nil {
		return fmt.Errorf("exec fifo: %w", err)
	}
	return os.Chmod(fifo, 0o622) // whatever the umask
}

// initMode combines the annotation and the option.
func initMode(spec *specs.Spec, reaper bool) (bool, error) {
	if spec == nil {
		return false, nil // lxcconv reports it
	}
	switch v := spec.Annotations[AnnotationInit]; v {
	case "", InitExec:
		return reaper, nil
	case InitReaper:
		return true, nil
	default:
		return false, fmt.Errorf("annotation %s=%q: want %q or %q: %w", AnnotationInit, v, InitExec, InitReaper, errdefs.ErrInvalidArgument)
	}
}

// mountsProc reports whether LXC mounts /proc in the container.
func mountsProc(cfg *lxcconv.Config) bool {
	for _, v := range cfg.Get("lxc.mount.auto") {
		for _, w := range strings.Fields(v) {
			if w == "proc" || strings.HasPrefix(w, "proc:") {
				return true
			}
		}
	}
	return false
}

// CgroupVersion reports the host's cgroup version as lxcconv wants it: 2
// when /sys/fs/cgroup is a cgroup2 mount (unified), else 1.
func CgroupVersion() (int, error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return 0, fmt.Errorf("detecting the cgroup version: %w", err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2, nil
	}
	return 1, nil
}

// Name is the LXC container name.
func (c *Container) Name() string { return c.name }

// Dir is the state directory.
func (c *Container) Dir() string { return c.dir }

// LXCPath is the lxcpath to give lxc-* tools (-P) with Name (-n).
func (c *Container) LXCPath() string { return c.lxcpath }

// LogPath is LXC's log file (lxc.log.file).
func (c *Container) LogPath() string { return c.logFile }

// Result is lxcconv's result: warnings, hooks for the shim, devices.
func (c *Container) Result() *lxcconv.Result { return c.result }

// Pid is init's pid on the host once Start has returned, else 0.
func (c *Container) Pid() int {
	if st := c.started(); st != nil {
		return st.Pid()
	}
	return 0
}

// started returns init's starter, nil before Start.
func (c *Container) started() *starter {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.init
}

// Start runs zfslxc-start and returns once init has set the process up and
// waits for Release (OCI create), or with the reason it failed; a failed
// Start leaves nothing running. The container keeps running when ctx ends
// after Start has returned. Other methods wait for a Start in progress.
func (c *Container) Start(ctx context.Context, stdio Stdio) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.init != nil {
		return fmt.Errorf("container %s already started: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	if c.result.Process.Terminal && !stdio.NewConsole {
		if f, ok := stdio.Stdin.(*os.File); !ok || f == nil || !isTerminal(f) {
			return fmt.Errorf("container %s: process.terminal is set: Stdio.Stdin must be a pty slave (*os.File; see OpenPty), or NewConsole set: %w", c.name, errdefs.ErrInvalidArgument)
		}
	}
	release, err := holdSubreaper()
	if err != nil {
		return err
	}
	defer release()
	files, hostSync, err := c.openInherited()
	if err != nil {
		return err
	}
	defer hostSync.Close()
	shared, err := c.cloneSharedMounts()
	if err != nil {
		closeFiles(files)
		return err
	}
	files = append(files, shared...)
	st := newStarter("container "+c.name, ErrStartFailed, filepath.Join(c.dir, statusFile))
	if err := st.sendStdio(hostSync, stdio); err != nil {
		closeFiles(files)
		return err
	}
	err = st.launch(c.starterBin, c.dir, starterArgs{
		Name: c.name, LXCPath: c.lxcpath, RCFile: c.config,
		StatusFile: st.statusFile, PassFDs: len(files),
	}, files, Stdio{})
	closeFiles(files)
	if err != nil {
		return err
	}
	c.init = st
	// Recorded at once, so that a shim killed during create leaves
	// enough for Cleanup.
	if err := c.writePids(st.cmd.Process.Pid, 0); err != nil {
		log.G(ctx).WithError(err).Warn("lxcrun: recording pids")
	}
	// Init's pids and cgroups as soon as it runs: LXC's monitor may die
	// before "ready", and then Delete has the cgroups to remove (the
	// monitor's too: ownCgroups finds them by name).
	st.onStarted = func(pid int) {
		if err := c.writePids(st.cmd.Process.Pid, pid); err != nil {
			log.G(ctx).WithError(err).Warn("lxcrun: recording pids")
		}
	}
	err = st.awaitReady(ctx, hostSync, c.result.Process.Terminal && stdio.NewConsole, false)
	if err == nil {
		if err = c.finishCreate(st.Pid()); err != nil {
			st.stop(ctx) // init waits for Release
		}
	}
	if err != nil {
		// Nothing may keep running after a failed create. An init
		// that reported an error exits by itself, with its status.
		select {
		case <-st.done:
		case <-time.After(killTimeout):
			st.stop(ctx)
		case <-ctx.Done():
			st.stop(ctx)
		}
		if errors.Is(err, ErrStartFailed) {
			err = fmt.Errorf("%w%s", err, c.logTail())
		}
		return err
	}
	if c.cgroupDirs, err = ownCgroupDirs(st.Pid()); err != nil {
		log.G(ctx).WithError(err).Warn("lxcrun: recording the container's cgroups")
	}
	if st.pinnedPid() == 0 {
		// Not recorded at "started" (an init that does not say it).
		if err := c.writePids(st.cmd.Process.Pid, st.Pid()); err != nil {
			log.G(ctx).WithError(err).Warn("lxcrun: recording pids")
		}
	}
	c.endMonitor(ctx, st)
	return nil
}

// endMonitor ends LXC's monitor (the starter) of a container whose init is
// set up, and removes the monitor's cgroups: init lives on as this
// process's child (docs/adr/0007-no-monitor.md), and a container costs no
// process of its own beyond its init, as under runc. What liblxc's
// teardown did when init exited is Delete's: the container's cgroups.
func (c *Container) endMonitor(ctx context.Context, st *starter) {
	if !st.detach() {
		log.G(ctx).WithField("container", c.name).Debug("lxcrun: init ended before its monitor could be ended")
		return
	}
	removeCgroups(ctx, c.monitorCgroups())
	if ppid, err := parentPid(st.Pid()); err == nil && ppid != os.Getpid() {
		log.G(ctx).WithField("ppid", ppid).Warn("lxcrun: init was not adopted by this process")
	}
}

// openInherited opens what zfslxc-start passes down to init, in fd order
// from 3 (see fdInit…fdSync), and the host end of the sync socket: the
// process spec and the exec fifo (O_PATH) from the state directory.
func (c *Container) openInherited() ([]*os.File, *net.UnixConn, error) {
	return c.starterFiles(
		func() (*os.File, error) { return os.Open(filepath.Join(c.dir, processFile)) },
		func() (*os.File, error) {
			fd, err := unix.Open(filepath.Join(c.dir, fifoFile), unix.O_PATH|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("opening exec fifo: %w", err)
			}
			return os.NewFile(uintptr(fd), fifoFile), nil
		})
}

// cloneSharedMounts clones, in this (the host's) mount namespace, the
// source of each shared bind mount (lxcconv.SharedMount): a detached mount
// tree that is a peer of the source's mount (read-only throughout and a
// slave for rro: setCloneAttrs). zfslxc-start passes them down
// from fdFirstShared on, and the pre-mount hook attaches them.
func (c *Container) cloneSharedMounts() ([]*os.File, error) {
	if c.result.MountHook == nil {
		return nil, nil
	}
	var files []*os.File
	for _, sm := range c.result.MountHook.SharedMounts {
		flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
		if sm.Recursive {
			flags |= unix.AT_RECURSIVE
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, sm.Source, uint(flags))
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("%s: cloning the mount of %s: %w", sm.Field, sm.Source, err)
		}
		files = append(files, os.NewFile(uintptr(fd), sm.Source))
		if err := setCloneAttrs(fd, sm); err != nil {
			closeFiles(files)
			return nil, err
		}
	}
	return files, nil
}

// setCloneAttrs applies to the whole clone fd what sm asks beyond the
// clone itself: read-only for rro (as runc: mount_setattr
// MOUNT_ATTR_RDONLY with AT_RECURSIVE), and slave propagation when the
// mount is staged only for that, so that it propagates as LXC's other
// binds do (from the host, never to it).
func setCloneAttrs(fd int, sm lxcconv.SharedMount) error {
	var attr unix.MountAttr
	if sm.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if sm.Slave {
		attr.Propagation = unix.MS_SLAVE
	}
	if attr == (unix.MountAttr{}) {
		return nil
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("%s: making the clone of %s read-only (rro): %w", sm.Field, sm.Source, err)
	}
	return nil
}

// makeStagingPoints creates the staging points of the shared bind mounts
// in the state directory: a directory or an empty file, as the source.
func makeStagingPoints(shared []lxcconv.SharedMount) error {
	for _, sm := range shared {
		var err error
		if sm.Dir {
			err = os.Mkdir(sm.Staging, 0o700)
		} else {
			var f *os.File
			if f, err = os.OpenFile(sm.Staging, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				err = f.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("%s: staging point: %w", sm.Field, err)
		}
	}
	return nil
}

// Console returns the pty master of a process.terminal container started
// with Stdio.NewConsole (nil otherwise); the caller owns it from then on,
// and a second call returns nil.
func (c *Container) Console() *os.File {
	if st := c.started(); st != nil {
		return st.Console()
	}
	return nil
}

// logTail returns the last error lines of LXC's log, for error messages.
func (c *Container) logTail() string {
	data, err := os.ReadFile(c.LogPath())
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var ours, errs []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, hookLogPrefix):
			// The mount hook's reason; LXC logs five lines after it.
			ours = append(ours, l)
		case strings.Contains(l, " ERROR "):
			errs = append(errs, l)
		}
	}
	if len(errs) > 5 {
		errs = errs[len(errs)-5:]
	}
	errs = append(ours, errs...)
	if len(errs) == 0 {
		return ""
	}
	return "; lxc.log: " + strings.Join(errs, " | ")
}

// Release lets init exec the process (OCI start). It returns once init has
// gone past the fifo, or with an error if the container ended first.
func (c *Container) Release(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.init == nil || c.init.Pid() == 0:
		return fmt.Errorf("container %s is not created: %w", c.name, errdefs.ErrFailedPrecondition)
	case c.released:
		return fmt.Errorf("container %s already started: %w", c.name, errdefs.ErrFailedPrecondition)
	case c.init.finished():
		return fmt.Errorf("container %s ended before it was started: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	fifo := filepath.Join(c.dir, fifoFile)
	opened := make(chan fifoResult, 1)
	go func() {
		// Blocks until init opens the fifo for writing.
		f, err := os.OpenFile(fifo, os.O_RDONLY, 0)
		opened <- fifoResult{f, err}
	}()
	var r fifoResult
	select {
	case r = <-opened:
	case <-ctx.Done():
		r = unblockFifo(fifo, opened)
	case <-c.init.done:
		r = unblockFifo(fifo, opened)
	}
	if r.err != nil {
		return fmt.Errorf("opening exec fifo: %w", r.err)
	}
	defer r.f.Close()
	b := make([]byte, 1)
	if n, _ := r.f.Read(b); n != 1 {
		if ctx.Err() != nil {
			return fmt.Errorf("starting container %s: %w", c.name, ctx.Err())
		}
		return fmt.Errorf("container %s ended before it was started: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	c.released = true
	if err := os.Remove(fifo); err != nil {
		log.G(ctx).WithError(err).Warn("lxcrun: removing exec fifo")
	}
	return nil
}

type fifoResult struct {
	f   *os.File
	err error
}

// unblockFifo ends a pending open for reading by opening the fifo for
// writing ourselves; the reader then sees end of file instead of init's
// byte. It retries until the reader is in open (a writer cannot open a
// fifo without a reader).
func unblockFifo(fifo string, opened <-chan fifoResult) fifoResult {
	for {
		w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			r := <-opened
			w.Close()
			return r
		}
		select {
		case r := <-opened:
			return r
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Wait returns init's exit status once the container has ended.
func (c *Container) Wait(ctx context.Context) (Status, error) {
	st := c.started()
	if st == nil {
		return Status{}, fmt.Errorf("container %s is not started: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	return st.Wait(ctx)
}

// Kill sends sig to the container's init (as lxc-kill and lxc-stop -k do).
// It reports errdefs.ErrNotFound once init has ended. PID 1 of a pid
// namespace only gets the signals it handles (and SIGKILL), as under runc.
func (c *Container) Kill(ctx context.Context, sig syscall.Signal) error {
	st := c.started()
	if st == nil {
		return fmt.Errorf("container %s is not created: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	return st.kill(sig)
}

// Delete stops the container if it still runs (SIGKILL to init, then to
// the starter if init has not ended within killTimeout) and removes the
// state directory. It is safe to call in any state, and more than once.
func (c *Container) Delete(ctx context.Context) error {
	if st := c.started(); st != nil {
		st.close(ctx)
	}
	removeCgroups(ctx, recordedCgroups(c.dir))
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing state dir: %w", err)
	}
	return nil
}
