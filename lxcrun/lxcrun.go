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
//	c.Start(ctx, stdio)  // OCI create: init set up, blocked on the exec fifo
//	c.Release(ctx)       // OCI start: the payload is exec'd
//	st, _ := c.Wait(ctx) // init's exit status
//	c.Delete(ctx)        // kill if still running, remove dir
//
// The state directory holds everything (never /var/lib/lxc): the LXC
// config at lxc/<name>/config (so `lxc-info -P <dir>/lxc -n <name>` works),
// process.json, exec.fifo, the status file, lxc.log and the seccomp policy.
//
// What reaches the container: zfslxc-start inherits four descriptors and
// liblxc passes them to init unchanged (it does not close inherited fds in
// foreground mode): 3 the zfslxc-init binary, 4 process.json, 5 exec.fifo
// (O_PATH), 6 a unix socket for "ready"/"error". lxc.init.cmd names them
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
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
)

// killTimeout bounds the wait for init to die after SIGKILL in Delete,
// before the starter itself is killed (see killLocked).
const killTimeout = 10 * time.Second

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

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
	initBin string
	starter string
	result  *lxcconv.Result

	done chan struct{} // closed once the starter has exited

	mu       sync.Mutex
	cmd      *exec.Cmd // guarded by mu; set by Start
	pid      int       // guarded by mu; init's pid on the host
	pidfd    int       // guarded by mu; -1 when none
	released bool      // guarded by mu
	console  *os.File  // guarded by mu; pty master of a NewConsole start
	// cgroupDirs are init's cgroup directories, recorded at start for
	// KillOrphans; guarded by mu.
	cgroupDirs []string
	status     Status // written before done is closed
	waitErr    error  // written before done is closed
}

// Prepare converts spec and writes the state directory dir (created, 0700;
// it must not exist yet or be empty). Nothing runs yet.
func Prepare(ctx context.Context, dir string, spec *specs.Spec, opts Options) (*Container, error) {
	if !validName.MatchString(opts.Name) {
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
	co.InitPath = fmt.Sprintf("/proc/self/fd/%d", fdInit)
	co.InitArgs = []string{fmt.Sprintf("--fifo=/proc/self/fd/%d", fdFifo), fmt.Sprintf("--sync-fd=%d", fdSync)}
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
	if err := createMountTargets(res.MountTargets); err != nil {
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
		name:    opts.Name,
		dir:     dir,
		lxcpath: filepath.Join(dir, lxcDir),
		logFile: co.LogFile,
		initBin: initBin,
		starter: starter,
		result:  res,
		done:    make(chan struct{}),
		pidfd:   -1,
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
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid
}

// Start runs zfslxc-start and returns once init has set the process up and
// waits for Release (OCI create), or with the reason it failed; a failed
// Start leaves nothing running. The container keeps running when ctx ends
// after Start has returned. Other methods wait for a Start in progress.
func (c *Container) Start(ctx context.Context, stdio Stdio) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return fmt.Errorf("container %s already started: %w", c.name, errdefs.ErrFailedPrecondition)
	}

	if c.result.Process.Terminal && !stdio.NewConsole {
		if f, ok := stdio.Stdin.(*os.File); !ok || f == nil || !isTerminal(f) {
			return fmt.Errorf("container %s: process.terminal is set: Stdio.Stdin must be a pty slave (*os.File; see OpenPty), or NewConsole set: %w", c.name, errdefs.ErrInvalidArgument)
		}
	}
	files, hostSync, err := c.openInherited()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	defer hostSync.Close()

	cmd := exec.Command(c.starter,
		"--name", c.name, "--lxcpath", c.lxcpath, "--rcfile", c.config,
		"--status-file", filepath.Join(c.dir, statusFile),
		"--pass-fds", strconv.Itoa(len(files)))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	cmd.ExtraFiles = files
	cmd.Dir = c.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.starter, err)
	}
	c.cmd = cmd
	go c.wait()
	// Recorded at once, so that a shim killed during create leaves
	// enough for Cleanup.
	if err := c.writePids(cmd.Process.Pid, 0); err != nil {
		log.G(ctx).WithError(err).Warn("lxcrun: recording pids")
	}
	for _, f := range files {
		f.Close()
	}
	files = nil

	pid, err := c.awaitReady(ctx, hostSync, stdio.NewConsole)
	if err == nil {
		if err = c.finishCreate(pid); err != nil {
			c.killLocked(ctx, cmd.Process.Pid, pid) // init waits for Start
		}
	}
	if err != nil {
		// Nothing may keep running after a failed create. An init
		// that reported an error exits by itself, with its status.
		select {
		case <-c.done:
		case <-time.After(killTimeout):
			c.killLocked(ctx, cmd.Process.Pid, pid)
		case <-ctx.Done():
			c.killLocked(ctx, cmd.Process.Pid, pid)
		}
		return err
	}
	c.pid = pid
	if c.cgroupDirs, err = ownCgroupDirs(pid); err != nil {
		log.G(ctx).WithError(err).Warn("lxcrun: recording the container's cgroups")
	}
	if err := c.writePids(cmd.Process.Pid, pid); err != nil {
		log.G(ctx).WithError(err).Warn("lxcrun: recording pids")
	}
	return nil
}

// openInherited opens what zfslxc-start passes down, in fd order from 3,
// and the host end of the sync socket.
func (c *Container) openInherited() (files []*os.File, host *net.UnixConn, retErr error) {
	defer func() {
		if retErr != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	bin, err := os.Open(c.initBin)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", InitBinary, err)
	}
	files = append(files, bin)
	proc, err := os.Open(filepath.Join(c.dir, processFile))
	if err != nil {
		return files, nil, err
	}
	files = append(files, proc)
	fifoFD, err := unix.Open(filepath.Join(c.dir, fifoFile), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return files, nil, fmt.Errorf("opening exec fifo: %w", err)
	}
	files = append(files, os.NewFile(uintptr(fifoFD), fifoFile))
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return files, nil, fmt.Errorf("sync socket: %w", err)
	}
	files = append(files, os.NewFile(uintptr(pair[1]), "sync"))
	// With SO_PASSCRED the kernel attaches the sender's pid, translated
	// into our pid namespace: init's host pid, with no lxc-info round trip.
	if err := unix.SetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(pair[0])
		return files, nil, fmt.Errorf("sync socket: %w", err)
	}
	hf := os.NewFile(uintptr(pair[0]), "sync")
	conn, err := net.FileConn(hf)
	hf.Close()
	if err != nil {
		return files, nil, fmt.Errorf("sync socket: %w", err)
	}
	return files, conn.(*net.UnixConn), nil
}

// awaitReady reads init's report. It returns init's host pid once init is
// ready, and an error when init failed, the starter exited or ctx ended.
func (c *Container) awaitReady(ctx context.Context, conn *net.UnixConn, wantConsole bool) (int, error) {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 4096)
	oob := make([]byte, syncOOBSize)
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if ctx.Err() != nil {
		closeRights(oob[:oobn])
		return 0, fmt.Errorf("waiting for container %s to be created: %w", c.name, ctx.Err())
	}
	if (err != nil && !errors.Is(err, io.EOF)) || n == 0 {
		// The starter exited (every writer is gone) before init said
		// anything: liblxc could not start the container.
		<-c.done
		if c.waitErr != nil {
			return 0, fmt.Errorf("container %s: %w%s", c.name, c.waitErr, c.logTail())
		}
		return 0, fmt.Errorf("container %s: init %v before it was ready: %w%s", c.name, c.status, ErrStartFailed, c.logTail())
	}
	msg := string(buf[:n])
	if text, ok := strings.CutPrefix(msg, "error "); ok {
		return 0, fmt.Errorf("container %s: zfslxc-init: %s: %w", c.name, text, ErrStartFailed)
	}
	if msg != readyMessage {
		return 0, fmt.Errorf("container %s: unexpected message %q from init", c.name, msg)
	}
	pid, console, err := readySender(oob[:oobn])
	if err != nil {
		return 0, err
	}
	if console == nil && c.result.Process.Terminal && wantConsole {
		return 0, fmt.Errorf("container %s: zfslxc-init sent no pty master", c.name)
	}
	keep := false
	defer func() {
		if console != nil && !keep {
			console.Close()
		}
	}()
	// A pidfd taken while init is blocked on the fifo (it cannot exit by
	// itself there, and only the starter can reap it) pins the process:
	// Kill never hits a recycled pid.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("pidfd of init %d: %w", pid, err)
	}
	if ppid, err := parentPid(pid); err != nil || ppid != c.cmd.Process.Pid {
		unix.Close(fd)
		return 0, fmt.Errorf("init %d is not a child of zfslxc-start %d (parent %d, %v)", pid, c.cmd.Process.Pid, ppid, err)
	}
	c.pidfd = fd
	c.console, keep = console, true
	return pid, nil
}

// syncOOBSize fits the control messages of "ready": the sender's
// credentials and, with NewConsole, one descriptor.
var syncOOBSize = unix.CmsgSpace(unix.SizeofUcred) + unix.CmsgSpace(4)

// readySender returns the sender's pid (its credentials, translated into
// our pid namespace by the kernel) and the pty master it sent, if any.
func readySender(oob []byte) (int, *os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, nil, fmt.Errorf("sync socket control message: %w", err)
	}
	pid := 0
	var console *os.File
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil && cred.Pid > 0 {
			pid = int(cred.Pid)
			continue
		}
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				if console == nil {
					// Non-blocking, so that reads go through the
					// runtime poller and Close interrupts them.
					_ = unix.SetNonblock(fd, true)
					console = os.NewFile(uintptr(fd), "ptmx")
				} else {
					unix.Close(fd)
				}
			}
		}
	}
	if pid == 0 {
		if console != nil {
			console.Close()
		}
		return 0, nil, errors.New("sync socket: no sender credentials")
	}
	return pid, console, nil
}

// closeRights closes descriptors received in oob that nobody takes.
func closeRights(oob []byte) {
	if _, console, err := readySender(oob); err == nil && console != nil {
		console.Close()
	}
}

// Console returns the pty master of a process.terminal container started
// with Stdio.NewConsole (nil otherwise); the caller owns it from then on,
// and a second call returns nil.
func (c *Container) Console() *os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.console
	c.console = nil
	return f
}

func parentPid(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "PPid:"); ok {
			var ppid int
			_, err := fmt.Sscan(strings.TrimSpace(v), &ppid)
			return ppid, err
		}
	}
	return 0, errors.New("no PPid line")
}

// startFailedCode is zfslxc-start's exit code when the container could
// not be started at all.
const startFailedCode = 125

// wait reaps the starter and records init's status.
func (c *Container) wait() {
	err := c.cmd.Wait()
	data, rerr := os.ReadFile(filepath.Join(c.dir, statusFile))
	var exitErr *exec.ExitError
	code := 0
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	}
	switch {
	case rerr == nil:
		c.status, c.waitErr = ParseStatus(string(data))
	case errors.Is(rerr, os.ErrNotExist) && exitErr != nil && exitErr.Sys().(syscall.WaitStatus).Signaled():
		// The starter (LXC's monitor) was killed: liblxc's
		// lxc.monitor.signal.pdeath (SIGKILL) took init with it. Without
		// this, the status was exit -1 (containerd: 4294967295).
		c.status = Status{Signal: syscall.SIGKILL}
	case errors.Is(rerr, os.ErrNotExist) && (err == nil || exitErr != nil) && code != startFailedCode:
		// The state directory was removed under us (Cleanup of a
		// container whose owner is still waiting): the starter's
		// shell-style exit code says the same, 128+n for a signal.
		if code > 128 {
			c.status = Status{Signal: syscall.Signal(code - 128)}
		} else {
			c.status = Status{Code: code}
		}
	case err != nil:
		c.waitErr = fmt.Errorf("zfslxc-start: %w (no status file)", err)
	default:
		c.waitErr = fmt.Errorf("zfslxc-start wrote no status file: %w", rerr)
	}
	close(c.done)
}

func (c *Container) finished() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// logTail returns the last error lines of LXC's log, for error messages.
func (c *Container) logTail() string {
	data, err := os.ReadFile(c.LogPath())
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var errs []string
	for _, l := range lines {
		if strings.Contains(l, " ERROR ") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 5 {
		errs = errs[len(errs)-5:]
	}
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
	case c.cmd == nil || c.pid == 0:
		return fmt.Errorf("container %s is not created: %w", c.name, errdefs.ErrFailedPrecondition)
	case c.released:
		return fmt.Errorf("container %s already started: %w", c.name, errdefs.ErrFailedPrecondition)
	case c.finished():
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
	case <-c.done:
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
	c.mu.Lock()
	started := c.cmd != nil
	c.mu.Unlock()
	if !started {
		return Status{}, fmt.Errorf("container %s is not started: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	select {
	case <-c.done:
		return c.status, c.waitErr
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

// Kill sends sig to the container's init (as lxc-kill and lxc-stop -k do).
// It reports errdefs.ErrNotFound once init has ended. PID 1 of a pid
// namespace only gets the signals it handles (and SIGKILL), as under runc.
func (c *Container) Kill(ctx context.Context, sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd < 0 {
		return fmt.Errorf("container %s is not created: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	if c.finished() {
		return fmt.Errorf("container %s: process already finished: %w", c.name, errdefs.ErrNotFound)
	}
	if err := unix.PidfdSendSignal(c.pidfd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("container %s: process already finished: %w", c.name, errdefs.ErrNotFound)
		}
		return fmt.Errorf("container %s: signal %d: %w", c.name, int(sig), err)
	}
	return nil
}

// Delete stops the container if it still runs (SIGKILL to init, then to
// the starter if init has not ended within killTimeout) and removes the
// state directory. It is safe to call in any state, and more than once.
func (c *Container) Delete(ctx context.Context) error {
	c.mu.Lock()
	if c.cmd != nil && !c.finished() {
		c.killLocked(ctx, c.cmd.Process.Pid, c.pid)
	}
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
	if c.console != nil {
		c.console.Close()
		c.console = nil
	}
	c.mu.Unlock()
	removeCgroups(ctx, recordedCgroups(c.dir))
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing state dir: %w", err)
	}
	return nil
}

// killLocked kills init and waits for the starter to exit. c.mu is held.
// Killing the starter itself is the last resort: liblxc's
// lxc.monitor.signal.pdeath (SIGKILL) then takes init with it, but the
// container's cgroups are left behind, which a normal exit cleans up.
func (c *Container) killLocked(ctx context.Context, starterPid, initPid int) {
	deadline := time.After(killTimeout)
	for {
		if c.pidfd >= 0 {
			if err := unix.PidfdSendSignal(c.pidfd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				log.G(ctx).WithError(err).WithField("pid", initPid).Warn("lxcrun: killing init")
			}
		} else {
			// init not reported yet (create cancelled): it is the
			// starter's child, if liblxc has cloned it already.
			for _, pid := range childPids(starterPid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-c.done:
			return
		case <-deadline:
			log.G(ctx).WithField("pid", starterPid).Warn("lxcrun: init did not end after SIGKILL; killing zfslxc-start")
			_ = syscall.Kill(starterPid, syscall.SIGKILL)
			<-c.done
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// childPids lists the children of pid (empty if unknown).
func childPids(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}
