package lxcrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// starterArgs is zfslxc-start's command line: the container's init
// (Start) or, with Attach, an exec process run in the container's
// namespaces (Exec). args builds the argv; it is the only place that knows
// the starter's flags.
type starterArgs struct {
	Attach     bool
	Name       string // LXC container name (with Attach: only shown by ps)
	LXCPath    string // (not Attach)
	RCFile     string // the LXC config (not Attach)
	StatusFile string
	// PassFDs is how many descriptors from 3 on go to the process; with
	// Attach, the descriptor after them is a pidfd of the container's
	// init.
	PassFDs int
	// Cgroups are the cgroup directories an attached process joins (Attach
	// only): init's.
	Cgroups []string
	// Seccomp is the container's seccomp policy file, loaded into an
	// attached process (Attach only; empty: none).
	Seccomp string
	// OOMScoreAdj, when set, is the starter's own oom_score_adj, which
	// an attached process inherits (Attach only).
	OOMScoreAdj *int
	// Program is what runs in the container (Attach only).
	Program []string
}

func (a starterArgs) args() []string {
	args := []string{}
	if a.Attach {
		args = append(args, "--attach")
		if a.Name != "" {
			args = append(args, "--name", a.Name) // for ps
		}
		args = append(args, "--init-pidfd", strconv.Itoa(3+a.PassFDs))
		for _, d := range a.Cgroups {
			args = append(args, "--cgroup", d)
		}
		if a.Seccomp != "" {
			args = append(args, "--seccomp", a.Seccomp)
		}
	} else {
		args = append(args, "--name", a.Name, "--lxcpath", a.LXCPath, "--rcfile", a.RCFile)
	}
	args = append(args, "--status-file", a.StatusFile, "--pass-fds", strconv.Itoa(a.PassFDs))
	if a.OOMScoreAdj != nil {
		args = append(args, "--oom-score-adj", strconv.Itoa(*a.OOMScoreAdj))
	}
	if a.Attach {
		args = append(args, "--")
		args = append(args, a.Program...)
	}
	return args
}

// starter is one zfslxc-start process and the process it runs in the
// container, the container's init or an exec process: what both share
// is here once. The starter inherits files (fd 3 on), the last of them
// the container's end of a sync socket on which zfslxc-init reports
// "ready" (with its credentials, and the pty master of a NewConsole
// process) or "error TEXT". Once ready the process is pinned with a
// pidfd, so that kill never signals a recycled pid. The starter's exit
// is the process's exit: it writes the status file that wait reads.
//
// The process's exit is known as soon as it is reaped, before the
// starter exits: liblxc tears the container down first (tens of ms).
// watchExit waits on the pidfd and reads the status the kernel keeps
// for it (PIDFD_GET_INFO); the status file stays the fallback
// (docs/adr/0004-exit-at-reap.md).
//
// A container's starter (LXC's monitor) is ended once init is set up
// (detach, docs/adr/0007-no-monitor.md): init, adopted by this process,
// is then reaped by watchExit, which also writes the status file.
type starter struct {
	what       string // "container NAME" or "exec ID", for messages
	statusFile string
	failed     error     // ErrStartFailed or ErrExecFailed: the class of a failed setup
	cmd        *exec.Cmd // set by launch, read-only after
	// onStarted, if set, is called with init's pid once it has said
	// "started" (lxcrun records its pids and cgroups then).
	onStarted func(pid int)

	gone     chan struct{} // closed once zfslxc-start has exited
	done     chan struct{} // closed once the process's end is final (finish): after exited
	doneOnce sync.Once

	exited   chan struct{} // closed once the status is known (setExit)
	exitOnce sync.Once
	status   Status         // written before exited is closed
	waitErr  error          // written before exited is closed
	from     string         // written before exited is closed: "pidfd" or "starter"
	outputs  sync.WaitGroup // copies of stdout/stderr to non-file writers (sendStdio)

	mu  sync.Mutex
	pid int // guarded by mu; the process's host pid once ready
	// startedPid is init's pid from its "started" report; monitorKilled:
	// the starter died of a signal without a status. Guarded by mu.
	startedPid    int
	monitorKilled bool
	pidfd         int      // guarded by mu; -1 when none (not ready, gone, closed)
	console       *os.File // guarded by mu; pty master of a NewConsole process
	// watching: watchExit runs (it must, for detach); detached: the
	// starter was ended on purpose with the process running. Both guarded
	// by mu.
	watching, detached bool
}

// newStarter returns the starter of one process; launch runs it.
func newStarter(what string, failed error, statusFile string) *starter {
	return &starter{
		what: what, statusFile: statusFile, failed: failed, pidfd: -1,
		gone: make(chan struct{}), done: make(chan struct{}), exited: make(chan struct{}),
	}
}

// launch runs binary (zfslxc-start) with a's argv in dir, stdio as its
// standard streams and files from fd 3; it returns once it runs. The
// caller closes files afterwards.
func (s *starter) launch(binary, dir string, a starterArgs, files []*os.File, stdio Stdio) error {
	cmd := exec.Command(binary, a.args()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	cmd.ExtraFiles = files
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", binary, err)
	}
	s.cmd = cmd
	go s.wait()
	return nil
}

// syncPair returns a seqpacket socket pair: the end for the container
// and ours, with SO_PASSCRED so that the kernel attaches the sender's pid
// (translated into our pid namespace) to its messages.
func syncPair() (*os.File, *net.UnixConn, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sync socket: %w", err)
	}
	child := os.NewFile(uintptr(pair[1]), "sync")
	if err := unix.SetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(pair[0])
		child.Close()
		return nil, nil, fmt.Errorf("sync socket: %w", err)
	}
	hf := os.NewFile(uintptr(pair[0]), "sync")
	conn, err := net.FileConn(hf)
	hf.Close()
	if err != nil {
		child.Close()
		return nil, nil, fmt.Errorf("sync socket: %w", err)
	}
	return child, conn.(*net.UnixConn), nil
}

// closeFiles closes every file of files.
func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// awaitReady reads zfslxc-init's reports and pins the process with a
// pidfd. A container's init says "started" first, as soon as it runs: it
// is pinned (and watched) then, so that LXC's monitor dying before "ready"
// takes it along (init has no parent-death signal: ADR 0007). Then
// "ready" or "error TEXT". wantConsole: a pty master must come with
// "ready". execs: the process execs right after "ready" (an exec
// process), so it may have ended, and been reaped by the starter, before
// the pidfd is taken; that is success, with no pidfd. Otherwise (init,
// blocked on the exec fifo) it cannot have ended by itself, and a process
// that is not the starter's child (or ours, its subreaper) is an error.
func (s *starter) awaitReady(ctx context.Context, conn *net.UnixConn, wantConsole, execs bool) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 4096)
	oob := make([]byte, syncOOBSize)
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if ctx.Err() == nil && err == nil && string(buf[:n]) == startedMessage {
		if err := s.started(oob[:oobn]); err != nil {
			return err
		}
		n, oobn, _, _, err = conn.ReadMsgUnix(buf, oob)
	}
	if ctx.Err() != nil {
		closeRights(oob[:oobn])
		return fmt.Errorf("waiting for %s to be ready: %w", s.what, ctx.Err())
	}
	if (err != nil && !errors.Is(err, io.EOF)) || n == 0 {
		// The starter exited (every writer is gone) before the process
		// said anything: liblxc could not start or attach.
		<-s.gone
		if s.waitErr != nil {
			return fmt.Errorf("%s: %w", s.what, s.waitErr)
		}
		return fmt.Errorf("%s: process %v before it was ready: %w", s.what, s.status, s.failed)
	}
	msg := string(buf[:n])
	if text, ok := strings.CutPrefix(msg, "error "); ok {
		return fmt.Errorf("%s: zfslxc-init: %s: %w", s.what, text, s.failed)
	}
	if msg != readyMessage {
		closeRights(oob[:oobn])
		return fmt.Errorf("%s: unexpected message %q from zfslxc-init: %w", s.what, msg, s.failed)
	}
	pid, console, err := readySender(oob[:oobn])
	if err != nil {
		return fmt.Errorf("%s: %w", s.what, err)
	}
	if console == nil && wantConsole {
		return fmt.Errorf("%s: zfslxc-init sent no pty master: %w", s.what, s.failed)
	}
	// Kept even when the process has ended already: its output is in
	// the pty until the master is read.
	s.mu.Lock()
	s.console = console
	pinned := s.pidfd >= 0
	s.mu.Unlock()
	if pinned {
		if s.pinnedPid() != pid {
			return fmt.Errorf("%s: \"ready\" from process %d, \"started\" from %d: %w", s.what, pid, s.pinnedPid(), s.failed)
		}
		s.mu.Lock()
		s.pid = pid
		s.mu.Unlock()
		return nil
	}
	fd, err := s.pin(pid)
	if err != nil && execs {
		// Gone (ESRCH, or ENOENT while /proc tears it down) or its
		// pid reused: it has ended, and the starter is about to.
		err = s.ended(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.what, err)
	}
	s.mu.Lock()
	s.pid, s.pidfd = pid, fd
	s.mu.Unlock()
	// Init's status as soon as it is reaped; an exec's starter exits
	// right after the reap, and its Wait waits for os/exec's copies of
	// the exec's output, which end with the starter.
	if fd >= 0 && !execs {
		s.watch(fd, pid)
	}
	return nil
}

// started pins the process that said "started" (a container's init,
// before its set-up) and watches it. If LXC's monitor was killed already
// (wait found no status), the process is killed too (its parent-death
// signal is off) and that is the error. A process gone already is no
// error here: it failed its set-up, and "error" or the end of the socket
// follows.
func (s *starter) started(oob []byte) error {
	pid, console, err := readySender(oob)
	if console != nil {
		console.Close()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.what, err)
	}
	fd, err := s.pin(pid)
	if err != nil {
		return nil
	}
	if s.onStarted != nil {
		s.onStarted(pid)
	}
	s.mu.Lock()
	s.pidfd, s.startedPid = fd, pid
	killed := s.monitorKilled
	if killed {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
	s.mu.Unlock()
	s.watch(fd, pid)
	if killed {
		return fmt.Errorf("%s: LXC's monitor was killed while the container was created: %w", s.what, s.failed)
	}
	return nil
}

// pinnedPid is the pid pinned at "started" (0 if none).
func (s *starter) pinnedPid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startedPid
}

// watch runs watchExit on a duplicate of fd, the pidfd of pid.
func (s *starter) watch(fd, pid int) {
	wfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.watching = true
	s.mu.Unlock()
	go s.watchExit(wfd, pid)
}

// dupPidfd returns a duplicate of the process's pidfd (close-on-exec):
// FailedPrecondition once it has ended.
func (s *starter) dupPidfd() (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pidfd < 0 || s.finished() {
		return nil, fmt.Errorf("%s is not running: %w", s.what, errdefs.ErrFailedPrecondition)
	}
	fd, err := unix.FcntlInt(uintptr(s.pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: pidfd: %w", s.what, err)
	}
	return os.NewFile(uintptr(fd), "pidfd"), nil
}

// detach ends the starter (LXC's monitor) of a running init, which lives
// on (lxc.monitor.signal.pdeath = 0) and becomes this process's child
// (holdSubreaper); watchExit then reaps it. It returns false, doing
// nothing, when the process has ended already or nothing watches it; the
// starter then ends as before. The starter's cgroups are the caller's to
// remove.
func (s *starter) detach() bool {
	s.mu.Lock()
	select {
	case <-s.exited:
		s.mu.Unlock()
		return false
	default:
	}
	if !s.watching || s.finished() {
		s.mu.Unlock()
		return false
	}
	s.detached = true
	s.mu.Unlock()
	_ = s.cmd.Process.Kill()
	<-s.gone
	return true
}

// pin returns a pidfd of pid once it is known to be the starter's child:
// taken first, it pins the process, so the check that follows cannot be
// fooled by a recycled pid.
func (s *starter) pin(pid int) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	// Or this process's: a starter killed before init was ready leaves
	// init to its subreaper, us (holdSubreaper), and init must be pinned
	// to be stopped.
	if ppid, err := parentPid(pid); err != nil || (ppid != s.cmd.Process.Pid && ppid != os.Getpid()) {
		unix.Close(fd)
		return -1, fmt.Errorf("process %d is not a child of zfslxc-start %d (parent %d, %v)", pid, s.cmd.Process.Pid, ppid, err)
	}
	return fd, nil
}

// ended waits for the starter of a process that has ended already.
func (s *starter) ended(ctx context.Context) error {
	select {
	case <-s.gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(killTimeout):
		return fmt.Errorf("the process is gone but zfslxc-start %d goes on", s.cmd.Process.Pid)
	}
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
// not be started (or attached to) at all.
const startFailedCode = 125

// wait reaps the starter and records the process's status, unless
// watchExit was first.
func (s *starter) wait() {
	err := s.cmd.Wait()
	data, rerr := os.ReadFile(s.statusFile)
	s.mu.Lock()
	detached := s.detached
	s.mu.Unlock()
	if detached && errors.Is(rerr, os.ErrNotExist) {
		// Ended by detach with init running: watchExit reaps init.
		close(s.gone)
		return
	}
	var exitErr *exec.ExitError
	if errors.Is(rerr, os.ErrNotExist) && errors.As(err, &exitErr) && exitErr.Sys().(syscall.WaitStatus).Signaled() {
		// The starter (LXC's monitor) was killed. liblxc's
		// lxc.monitor.signal.pdeath takes init with it, not an exec's
		// process: that one would run on untracked, holding the exec's
		// output open (ctr task exec never returned); and init has no
		// pdeath signal since ADR 0007 (killed before detach). Kill it,
		// ready or only started (or once it says so: started); its
		// exit (SIGKILL) is the one reported.
		s.mu.Lock()
		s.monitorKilled = true
		if s.pidfd >= 0 {
			_ = unix.PidfdSendSignal(s.pidfd, unix.SIGKILL, nil, 0)
		}
		s.mu.Unlock()
	}
	st, err := decodeExit(err, data, rerr)
	s.setExit(st, err, "starter")
	close(s.gone)
	s.finish()
}

// finish marks the process's end final (done).
func (s *starter) finish() {
	s.doneOnce.Do(func() { close(s.done) })
}

// setExit records the status once, from whichever source has it first.
func (s *starter) setExit(st Status, err error, from string) {
	s.exitOnce.Do(func() {
		s.status, s.waitErr, s.from = st, err, from
		close(s.exited)
	})
}

// decodeExit turns the starter's exit (err from Wait) and its status
// file (data, or rerr) into the process's status.
func decodeExit(err error, data []byte, rerr error) (Status, error) {
	var exitErr *exec.ExitError
	code := 0
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	}
	switch {
	case rerr == nil:
		return ParseStatus(string(data))
	case errors.Is(rerr, os.ErrNotExist) && exitErr != nil && exitErr.Sys().(syscall.WaitStatus).Signaled():
		// The starter (LXC's monitor) was killed: liblxc's
		// lxc.monitor.signal.pdeath (SIGKILL) took init with it. Without
		// this, the status was exit -1 (containerd: 4294967295).
		return Status{Signal: syscall.SIGKILL}, nil
	case errors.Is(rerr, os.ErrNotExist) && (err == nil || exitErr != nil) && code >= 0 && code != startFailedCode:
		// The state directory was removed under us (Cleanup of a
		// container whose owner is still waiting): the starter's
		// shell-style exit code says the same, 128+n for a signal.
		if code > 128 {
			return Status{Signal: syscall.Signal(code - 128)}, nil
		}
		return Status{Code: code}, nil
	case err != nil:
		return Status{}, fmt.Errorf("zfslxc-start: %w (no status file)", err)
	default:
		return Status{}, fmt.Errorf("zfslxc-start wrote no status file: %w", rerr)
	}
}

func (s *starter) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait returns the process's status once it has ended (been reaped) and
// its output copied to non-file writers.
func (s *starter) Wait(ctx context.Context) (Status, error) {
	select {
	case <-s.exited:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	outputs := make(chan struct{})
	go func() {
		s.outputs.Wait()
		close(outputs)
	}()
	select {
	case <-outputs:
		return s.status, s.waitErr
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

// Pid is the process's host pid once it has reported ready, else 0.
func (s *starter) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// Console returns the pty master of a process started with
// Stdio.NewConsole (nil otherwise); the caller owns it from then on, and
// a second call returns nil.
func (s *starter) Console() *os.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.console
	s.console = nil
	return f
}

// kill sends sig to the process: FailedPrecondition before it has
// reported ready, NotFound once it has ended.
func (s *starter) kill(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid == 0 {
		return fmt.Errorf("%s is not created: %w", s.what, errdefs.ErrFailedPrecondition)
	}
	if s.pidfd < 0 || s.finished() {
		return fmt.Errorf("%s: process already finished: %w", s.what, errdefs.ErrNotFound)
	}
	if err := unix.PidfdSendSignal(s.pidfd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("%s: process already finished: %w", s.what, errdefs.ErrNotFound)
		}
		return fmt.Errorf("%s: signal %d: %w", s.what, int(sig), err)
	}
	return nil
}

// stop kills the process unless it has ended and waits for the starter
// to exit: SIGKILL through the pidfd (before "ready": to the starter's
// children, which the process is once liblxc has cloned it), again every
// 100 ms, and to the starter itself after killTimeout. Killing the starter
// is the last resort: liblxc's lxc.monitor.signal.pdeath (SIGKILL) then
// takes init with it, but the container's cgroups are left behind, which
// a normal exit cleans up.
func (s *starter) stop(ctx context.Context) {
	deadline := time.After(killTimeout)
	for !s.finished() {
		s.mu.Lock()
		if s.pidfd >= 0 {
			if err := unix.PidfdSendSignal(s.pidfd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				log.G(ctx).WithError(err).WithField("pid", s.pid).Warnf("lxcrun: killing %s", s.what)
			}
		} else {
			for _, pid := range childPids(s.cmd.Process.Pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		detached := s.detached
		s.mu.Unlock()
		select {
		case <-s.done:
		case <-deadline:
			if detached {
				// No starter to fall back on: init (ours) is stuck in
				// the kernel; its reaping finishes it whenever it ends.
				log.G(ctx).WithField("pid", s.Pid()).Warnf("lxcrun: %s did not end after SIGKILL", s.what)
				return
			}
			log.G(ctx).WithField("pid", s.cmd.Process.Pid).Warnf("lxcrun: %s did not end after SIGKILL; killing zfslxc-start", s.what)
			_ = s.cmd.Process.Kill()
			<-s.done
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// close stops the process (stop) and releases the pidfd and an unclaimed
// pty master. Safe to call more than once.
func (s *starter) close(ctx context.Context) {
	s.stop(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pidfd >= 0 {
		unix.Close(s.pidfd)
		s.pidfd = -1
	}
	if s.console != nil {
		s.console.Close()
		s.console = nil
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

// starterFiles opens what a starter passes down from fd 3, for init and
// exec alike: the init binary, what each of open returns (in order), and
// the child end of a new sync socket; host is the other end. On an error
// nothing stays open.
func (c *Container) starterFiles(open ...func() (*os.File, error)) (files []*os.File, host *net.UnixConn, retErr error) {
	defer func() {
		if retErr != nil {
			closeFiles(files)
		}
	}()
	bin, err := os.Open(c.initBin)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", InitBinary, err)
	}
	files = append(files, bin)
	for _, o := range open {
		f, err := o()
		if err != nil {
			return files, nil, err
		}
		files = append(files, f)
	}
	child, conn, err := syncPair()
	if err != nil {
		return files, nil, err
	}
	return append(files, child), conn, nil
}
