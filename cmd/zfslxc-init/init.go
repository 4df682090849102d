package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// defaultPath is used to resolve args[0] when the process has no PATH (as
// runc and containerd's default spec).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxProcessFile bounds the process file (argv and env of a real container
// stay far below it).
const maxProcessFile = 64 << 20

// exitError carries the helper's exit code with the reason.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// exitCode returns the exit code for err.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitSetupFailed
}

// run sets up and starts the process. It returns only on failure, or in
// reaper mode when the payload has ended.
func run(o *options) (int, error) {
	// Nothing inherited (the helper binary, the process file, the fifo,
	// the sync socket, LXC's own leftovers) may reach the payload. The
	// descriptors stay usable until exec.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		markCloexecSlow()
	}
	// Under lxcrun the helper binary itself is an inherited descriptor
	// (LXC executed /proc/self/fd/3); the running image does not need it.
	closeFDPath(os.Args[0])
	sync := newSyncer(o.syncFD)
	if !o.join {
		// The container's init: the host pins it now, so that LXC's
		// monitor dying during the set-up takes it along (its parent-death
		// signal is off, ADR 0007).
		if err := sync.started(); err != nil {
			return exitSetupFailed, err
		}
	}
	if o.stdioFromSync {
		if err := receiveStdio(o.syncFD); err != nil {
			sync.fail(err)
			return exitSetupFailed, err
		}
	}
	p, path, err := prepare(o, sync)
	if err != nil {
		if sync.fail(err) {
			// The host makes it the create error, as runc does; it is
			// not the container's output, so not on its stderr too.
			return exitCode(err), nil
		}
		return exitCode(err), err
	}
	if err := sync.ready(); err != nil {
		return exitSetupFailed, err
	}
	faultPoint(o.join, p.Env, "ready")
	if o.fifo != "" {
		if err := waitStart(o.fifo); err != nil {
			return exitSetupFailed, err
		}
		closeFDPath(o.fifo)
	}
	if err := runHooks(p.StartContainerHooks, p.State); err != nil {
		return exitSetupFailed, err
	}
	env := p.Env
	if o.reaper {
		return reap(path, p.Args, env, p.Terminal)
	}
	err = syscall.Exec(path, p.Args, env)
	return execExitCode(err), execError(path, p.Args, env, err)
}

// prepare reads the process file and applies everything up to the wait for
// start: umask, cwd, args[0] lookup, user and capabilities. It returns the
// process and the resolved executable.
func prepare(o *options, sync *syncer) (*lxcconv.Process, string, error) {
	p, err := readProcess(o.processFile)
	if err != nil {
		return nil, "", err
	}
	faultPoint(o.join, p.Env, "read")
	umask := 0o022 // runc's default
	if p.Umask != nil {
		umask = int(*p.Umask & 0o777)
	}
	unix.Umask(umask)
	faultPoint(o.join, p.Env, "umask")
	if p.Terminal {
		// No pty given as stdio but a host to hand one to: the pty is
		// made here, in the container's devpts (lxcrun's NewConsole).
		if sync.fd >= 0 && !isTerminal(0) {
			master, err := openConsole()
			if err != nil {
				return nil, "", fail(exitSetupFailed, "%w", err)
			}
			sync.console = master
		}
		if err := setupTerminal(p, o.reaper); err != nil {
			return nil, "", fail(exitSetupFailed, "%w", err)
		}
	}
	// runc creates the container's cwd, not an exec's.
	if !o.join {
		if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
			return nil, "", fail(exitSetupFailed, "creating cwd: %w", err)
		}
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return nil, "", fail(exitSetupFailed, "chdir to cwd (%q) set in config.json failed: %w", p.Cwd, err)
	}
	// A cwd reached through a descriptor of a host directory (a
	// /proc/self/fd/N path: CVE-2024-21626) lies outside the container's
	// root, where the kernel cannot name it (unix.Getwd: ENOENT), as runc
	// checks.
	if _, err := unix.Getwd(); errors.Is(err, unix.ENOENT) {
		return nil, "", fail(exitSetupFailed, "process.cwd %q is outside the container's root", p.Cwd)
	}
	faultPoint(o.join, p.Env, "cwd")
	p.Env = withHome(p.Env, p.UID)
	// Before the user change: raising a hard limit needs
	// CAP_SYS_RESOURCE, which the process's user may not keep.
	if err := setRlimits(p.Rlimits); err != nil {
		return nil, "", fail(exitSetupFailed, "%w", err)
	}
	faultPoint(o.join, p.Env, "rlimits")
	if err := setUser(p); err != nil {
		return nil, "", fail(exitSetupFailed, "%w", err)
	}
	faultPoint(o.join, p.Env, "user")
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, "", fail(exitSetupFailed, "no_new_privs: %w", err)
		}
	}
	// As runc: looked up as the process's user, before the wait, so that a
	// missing executable fails create rather than start.
	path, err := lookPath(p.Args[0], envPath(p.Env))
	if err != nil {
		return nil, "", err
	}
	faultPoint(o.join, p.Env, "lookpath")
	// After setRlimits: the stack limit decides.
	if err := checkArgSize(p.Args, p.Env, argSpace(stackLimit())); err != nil {
		return nil, "", err
	}
	return p, path, nil
}

func readProcess(name string) (*lxcconv.Process, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fail(exitSetupFailed, "process file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProcessFile+1))
	if err != nil {
		return nil, fail(exitSetupFailed, "process file: %w", err)
	}
	if len(data) > maxProcessFile {
		return nil, fail(exitSetupFailed, "process file: larger than %d bytes", maxProcessFile)
	}
	closeFDPath(name)
	var p lxcconv.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fail(exitSetupFailed, "process file: %w", err)
	}
	if len(p.Args) == 0 {
		return nil, fail(exitSetupFailed, "process file: args is empty")
	}
	if !filepath.IsAbs(p.Cwd) {
		return nil, fail(exitSetupFailed, "process file: cwd %q is not absolute", p.Cwd)
	}
	return &p, nil
}

// envPath returns PATH from env, or defaultPath when it is unset.
func envPath(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return v
		}
	}
	return defaultPath
}

// lookPath resolves file as execvp does, on the container's PATH: a name
// with a slash is used as is (relative to cwd), otherwise each PATH entry is
// tried (an empty entry is the cwd). The error says not found (127) or not
// executable (126).
func lookPath(file, path string) (string, error) {
	if file == "" {
		return "", fail(exitNotFound, "args[0] is empty")
	}
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", err
		}
		return file, nil
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		err := checkExecutable(p)
		if err == nil {
			if !filepath.IsAbs(p) && !strings.HasPrefix(p, ".") {
				p = "./" + p
			}
			return p, nil
		}
		if exitCode(err) == exitCannotExecute && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", fail(exitNotFound, "exec: %q: executable file not found in $PATH", file)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail(exitNotFound, "exec: %q: %w", p, err)
		}
		return fail(exitCannotExecute, "exec: %q: %w", p, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fail(exitCannotExecute, "exec: %q: permission denied", p)
	}
	// As the process's user. ENOSYS and EPERM mean a seccomp policy
	// refused faccessat2; execve will tell then.
	err = unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS)
	if err != nil && err != unix.ENOSYS && err != unix.EPERM {
		return fail(exitCannotExecute, "exec: %q: %w", p, err)
	}
	return nil
}

// execExitCode maps an execve error as a shell does.
func execExitCode(err error) int {
	if errors.Is(err, unix.ENOENT) {
		return exitNotFound
	}
	return exitCannotExecute
}

// closeFDPath closes the descriptor behind a /proc/self/fd/N path once the
// helper is done with it. Close-on-exec already keeps such descriptors from
// the payload; closing them also keeps them from a reaper-mode helper that
// stays in the container as PID 1.
func closeFDPath(p string) {
	if s, ok := strings.CutPrefix(p, "/proc/self/fd/"); ok {
		if fd, err := strconv.Atoi(s); err == nil && fd > 2 {
			unix.Close(fd)
		}
	}
}

// markCloexecSlow marks every descriptor above stderr close-on-exec, for
// kernels without close_range(CLOSE_RANGE_CLOEXEC) (before 5.11).
func markCloexecSlow() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// waitStart blocks until the host opens the fifo for reading (OCI start),
// then writes one byte so the host knows the helper went on. It reopens the
// fifo through its path (under lxcrun an O_PATH descriptor in
// /proc/self/fd), as runc's init does with exec.fifo.
func waitStart(fifo string) error {
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening exec fifo: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte{'0'}); err != nil {
		return fmt.Errorf("writing exec fifo: %w", err)
	}
	return nil
}

// setupTerminal prepares the terminal of a process.terminal process. The
// shim allocates a pty and passes its slave as stdin, stdout and stderr
// (lxc.console.path is always none: docs/adr/0002); a terminal spec with
// any other stdin is refused. The slave gets process.consoleSize, and is
// given to the process's user as runc does (best effort: a user who does
// not own the tty can still use the descriptors it inherited).
//
// In exec mode the helper becomes a session leader with the slave as its
// controlling terminal, and the payload inherits both over exec. In reaper
// mode the helper stays out of it: the child does setsid and TIOCSCTTY
// (reap), so that it, not PID 1, is the terminal's foreground process group
// and gets ^C, ^Z and SIGWINCH directly.
func setupTerminal(p *lxcconv.Process, reaper bool) error {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return fmt.Errorf("process.terminal is set but stdin is not a terminal (%w): pass a pty slave as stdio", err)
	}
	if p.ConsoleSize != nil {
		ws := &unix.Winsize{Row: clampUint16(p.ConsoleSize.Height), Col: clampUint16(p.ConsoleSize.Width)}
		if err := unix.IoctlSetWinsize(0, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(0, &st); err == nil && st.Uid != p.UID {
		_ = unix.Fchown(0, int(p.UID), -1)
	}
	if reaper {
		return nil
	}
	// EPERM: already a session (or group) leader; TIOCSCTTY then tells.
	_, _ = unix.Setsid()
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("making stdin the controlling terminal: %w", err)
	}
	return nil
}

func clampUint16(v uint) uint16 {
	if v > math.MaxUint16 {
		return math.MaxUint16
	}
	return uint16(v)
}

// stdioMessage comes with the three descriptors that become stdin,
// stdout and stderr (--stdio-from-sync).
const stdioMessage = "stdio"

// receiveStdio reads the stdio message from the sync socket fd and makes
// its descriptors 0, 1 and 2. The host sends them this way rather than as
// the starter's own stdio so that zfslxc-start (liblxc's monitor, which
// outlives init by the container's teardown) holds no end of the output
// pipes: their end of file then comes when init and its processes are
// gone (docs/adr/0004-exit-at-reap.md).
func receiveStdio(fd int) error {
	if fd < 0 {
		return errors.New("--stdio-from-sync needs --sync-fd")
	}
	buf := make([]byte, len(stdioMessage)+1)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return fmt.Errorf("sync socket: receiving stdio: %w", err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if got, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	defer func() {
		for _, f := range fds {
			unix.Close(f)
		}
	}()
	if string(buf[:n]) != stdioMessage || len(fds) != 3 {
		return fmt.Errorf("sync socket: want %q with 3 descriptors, got %q with %d", stdioMessage, buf[:n], len(fds))
	}
	for i, f := range fds {
		if err := unix.Dup3(f, i, 0); err != nil {
			return fmt.Errorf("stdio: dup to %d: %w", i, err)
		}
	}
	return nil
}

// syncer reports progress on the sync socket; with no socket it does
// nothing. "ready" carries the master of a pty made by openConsole.
type syncer struct {
	fd      int
	console int // pty master for the host, or -1
}

func newSyncer(fd int) *syncer { return &syncer{fd: fd, console: -1} }

func (s *syncer) send(msg string) error {
	if s.console >= 0 {
		defer func() {
			unix.Close(s.console)
			s.console = -1
		}()
	}
	if s.fd < 0 {
		return nil
	}
	var err error
	if s.console >= 0 && msg == readyMessage {
		err = unix.Sendmsg(s.fd, []byte(msg), unix.UnixRights(s.console), nil, 0)
	} else {
		_, err = unix.Write(s.fd, []byte(msg))
	}
	unix.Close(s.fd)
	s.fd = -1
	if err != nil {
		return fmt.Errorf("sync socket: %w", err)
	}
	return nil
}

const (
	readyMessage   = "ready"
	startedMessage = "started"
)

// started reports that the container's init runs (the host reads the
// sender's pid from the message's credentials); the socket stays open
// for "ready" or "error".
func (s *syncer) started() error {
	if s.fd < 0 {
		return nil
	}
	if _, err := unix.Write(s.fd, []byte(startedMessage)); err != nil {
		return fmt.Errorf("sync socket: %w", err)
	}
	return nil
}

func (s *syncer) ready() error { return s.send(readyMessage) }

// fail reports err on the sync socket; false when there is none (or it
// failed), so the caller prints it instead.
func (s *syncer) fail(err error) bool {
	if s.fd < 0 {
		return false
	}
	return s.send("error "+err.Error()) == nil
}

// setRlimits applies the process's rlimits (exec processes; LXC sets
// init's).
func setRlimits(rls []specs.POSIXRlimit) error {
	for _, r := range rls {
		res, ok := lxcconv.RlimitResource(r.Type)
		if !ok {
			return fmt.Errorf("rlimit %q: unknown", r.Type)
		}
		if err := unix.Setrlimit(res, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("setrlimit %s %d:%d: %w", r.Type, r.Soft, r.Hard, err)
		}
	}
	return nil
}
