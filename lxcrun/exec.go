package lxcrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// Exec processes (containerd's ExecProcessRequest, ctr task exec): a
// process started in a running container, in every namespace of its init,
// its cgroup, LSM profile, seccomp policy and capability bounding set.
// docs/adr/0003-exec.md records the choice: zfslxc-start --attach runs
// zfslxc-init through liblxc's attach (c->attach), and zfslxc-init reads
// the process (an lxcconv.Process as JSON) from an inherited memfd, sets it
// up exactly as for init (cwd, rlimits, groups, uid/gid, capabilities,
// terminal), reports "ready" with its pid and execs. argv and env never go
// through a file or LXC config. The descriptors zfslxc-start passes to
// the attached process:
const (
	execFdInit    = 3 // the zfslxc-init binary, executed as /proc/self/fd/3
	execFdProcess = 4 // memfd with the process as JSON
	execFdSync    = 5 // unix seqpacket socket: "ready" or "error TEXT"
)

// execDir holds the exec processes' status files in the state directory.
const execDir = "exec"

// ErrExecFailed is the class of an exec process that could not be set up
// or started (Container.Exec); the error text says why, as zfslxc-init
// or liblxc reported it.
var ErrExecFailed = errors.New("exec failed")

// ExecProcess converts an OCI process (an exec's spec) to the process
// zfslxc-init runs: lxcconv.ExecProcess, with the checks Convert applies
// to init's process; errors name the field and are InvalidArgument.
func ExecProcess(p *specs.Process) (*lxcconv.Process, error) {
	proc, err := lxcconv.ExecProcess(p)
	if err != nil {
		return nil, fmt.Errorf("exec process: %w", err)
	}
	return proc, nil
}

// Process is an exec process of a container.
type Process struct {
	id         string
	statusFile string
	cmd        *exec.Cmd
	pid        int // the process's host pid

	done    chan struct{} // closed once the starter has exited
	status  Status        // written before done is closed
	waitErr error         // written before done is closed

	mu      sync.Mutex
	pidfd   int      // guarded by mu; -1 once closed
	console *os.File // guarded by mu; pty master of a NewConsole exec
}

// Exec starts p in the running container and returns once it is set up
// and about to exec its args[0] (which has been found), or with the reason
// it failed: a missing executable fails here, with zfslxc-init's message
// (exec: "nope": executable file not found in $PATH). id names the process
// (containerd's exec id; [A-Za-z0-9_.-]). With p.Terminal, stdio must be a
// pty slave (see OpenPty).
func (c *Container) Exec(ctx context.Context, id string, p *lxcconv.Process, stdio Stdio) (_ *Process, retErr error) {
	if !validName.MatchString(id) {
		return nil, fmt.Errorf("exec id %q: want 1-128 of [A-Za-z0-9_.-]: %w", id, errdefs.ErrInvalidArgument)
	}
	if p.Terminal && !stdio.NewConsole {
		if f, ok := stdio.Stdin.(*os.File); !ok || f == nil || !isTerminal(f) {
			return nil, fmt.Errorf("exec %s: terminal is set: Stdio.Stdin must be a pty slave (*os.File; see OpenPty), or NewConsole set: %w", id, errdefs.ErrInvalidArgument)
		}
	}
	c.mu.Lock()
	running := c.released && !c.finished()
	c.mu.Unlock()
	if !running {
		return nil, fmt.Errorf("container %s is not running: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dir, execDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	proc := &Process{id: id, statusFile: filepath.Join(dir, id+".status"), done: make(chan struct{}), pidfd: -1}
	if _, err := os.Stat(proc.statusFile); err == nil {
		return nil, fmt.Errorf("exec %s: %w", id, errdefs.ErrAlreadyExists)
	}

	files, hostSync, err := c.openExecFiles(data)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	defer hostSync.Close()

	args := []string{"--attach", "--name", c.name, "--lxcpath", c.lxcpath, "--rcfile", c.config,
		"--status-file", proc.statusFile, "--pass-fds", strconv.Itoa(len(files))}
	if p.OOMScoreAdj != nil {
		args = append(args, "--oom-score-adj", strconv.Itoa(*p.OOMScoreAdj))
	}
	args = append(args, "--",
		fmt.Sprintf("/proc/self/fd/%d", execFdInit), "--join", fmt.Sprintf("--sync-fd=%d", execFdSync),
		fmt.Sprintf("/proc/self/fd/%d", execFdProcess))
	cmd := exec.Command(c.starter, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	cmd.ExtraFiles = files
	cmd.Dir = c.dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", c.starter, err)
	}
	proc.cmd = cmd
	go proc.wait()
	for _, f := range files {
		f.Close()
	}
	files = nil
	defer func() {
		if retErr != nil {
			proc.Delete(context.WithoutCancel(ctx))
		}
	}()
	if err := proc.awaitReady(ctx, hostSync, p.Terminal && stdio.NewConsole); err != nil {
		return nil, fmt.Errorf("exec %s in container %s: %w", id, c.name, err)
	}
	return proc, nil
}

// openExecFiles returns what zfslxc-start --attach passes down, in fd
// order from 3, and the host end of the sync socket.
func (c *Container) openExecFiles(process []byte) (files []*os.File, host *net.UnixConn, retErr error) {
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
	mfd, err := unix.MemfdCreate("process.json", unix.MFD_CLOEXEC)
	if err != nil {
		return files, nil, fmt.Errorf("memfd: %w", err)
	}
	mf := os.NewFile(uintptr(mfd), "process.json")
	files = append(files, mf)
	if _, err := mf.Write(process); err != nil {
		return files, nil, fmt.Errorf("memfd: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return files, nil, fmt.Errorf("memfd: %w", err)
	}
	child, conn, err := syncPair()
	if err != nil {
		return files, nil, err
	}
	files = append(files, child)
	return files, conn, nil
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

// awaitReady reads zfslxc-init's report and pins the process with a pidfd.
func (p *Process) awaitReady(ctx context.Context, conn *net.UnixConn, wantConsole bool) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 4096)
	oob := make([]byte, syncOOBSize)
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if ctx.Err() != nil {
		closeRights(oob[:oobn])
		return ctx.Err()
	}
	if (err != nil && !errors.Is(err, io.EOF)) || n == 0 {
		// zfslxc-start exited before the process said anything:
		// liblxc could not attach.
		<-p.done
		if p.waitErr != nil {
			return fmt.Errorf("%w: %w", ErrExecFailed, p.waitErr)
		}
		return fmt.Errorf("%w: process %v before it was ready", ErrExecFailed, p.status)
	}
	msg := string(buf[:n])
	if text, ok := strings.CutPrefix(msg, "error "); ok {
		return fmt.Errorf("%w: %s", ErrExecFailed, text)
	}
	if msg != readyMessage {
		return fmt.Errorf("unexpected message %q from zfslxc-init", msg)
	}
	pid, console, err := readySender(oob[:oobn])
	if err != nil {
		return err
	}
	if console == nil && wantConsole {
		return errors.New("zfslxc-init sent no pty master")
	}
	// Kept even when the process has ended already: its output is in
	// the pty until the master is read.
	p.mu.Lock()
	p.console = console
	p.mu.Unlock()
	// zfslxc-init execs right after "ready": the process may have ended
	// and been reaped by the starter before the pidfd is taken (ESRCH),
	// or between pidfd_open and the parent check (gone, or its pid
	// reused). The starter then exits at once with its status.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return p.ended(ctx, pid)
		}
		return fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	if ppid, err := parentPid(pid); err != nil || ppid != p.cmd.Process.Pid {
		unix.Close(fd)
		// Gone (ENOENT, or ESRCH while /proc tears it down) or its
		// pid reused: it has ended, and the starter is about to.
		if err := p.ended(ctx, pid); err == nil {
			return nil
		}
		return fmt.Errorf("process %d is not a child of zfslxc-start %d (parent %d, %v)", pid, p.cmd.Process.Pid, ppid, err)
	}
	p.pid = pid
	p.mu.Lock()
	p.pidfd = fd
	p.mu.Unlock()
	return nil
}

// ended records pid for a process that has ended already, once the
// starter has reported it; an error if the starter does not end soon.
func (p *Process) ended(ctx context.Context, pid int) error {
	select {
	case <-p.done:
		p.pid = pid
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(killTimeout):
		return fmt.Errorf("process %d is gone but zfslxc-start %d goes on", pid, p.cmd.Process.Pid)
	}
}

// wait reaps the starter and records the process's status.
func (p *Process) wait() {
	err := p.cmd.Wait()
	data, rerr := os.ReadFile(p.statusFile)
	switch {
	case rerr == nil:
		p.status, p.waitErr = ParseStatus(string(data))
	case err != nil:
		p.waitErr = fmt.Errorf("zfslxc-start: %w (no status file)", err)
	default:
		p.waitErr = fmt.Errorf("zfslxc-start wrote no status file: %w", rerr)
	}
	close(p.done)
}

// Console returns the pty master of an exec started with Stdio.NewConsole
// (nil otherwise); the caller owns it from then on, and a second call
// returns nil.
func (p *Process) Console() *os.File {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.console
	p.console = nil
	return f
}

// ID is the exec id.
func (p *Process) ID() string { return p.id }

// Pid is the process's pid on the host.
func (p *Process) Pid() int { return p.pid }

// Wait returns the process's status once it has ended.
func (p *Process) Wait(ctx context.Context) (Status, error) {
	select {
	case <-p.done:
		return p.status, p.waitErr
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

func (p *Process) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends sig to the process; errdefs.ErrNotFound once it has ended.
func (p *Process) Kill(ctx context.Context, sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 || p.finished() {
		return fmt.Errorf("exec %s: process already finished: %w", p.id, errdefs.ErrNotFound)
	}
	if err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("exec %s: process already finished: %w", p.id, errdefs.ErrNotFound)
		}
		return fmt.Errorf("exec %s: signal %d: %w", p.id, int(sig), err)
	}
	return nil
}

// Delete kills the process if it still runs, waits for it, and removes
// its status file. Safe to call more than once.
func (p *Process) Delete(ctx context.Context) {
	if !p.finished() {
		p.mu.Lock()
		pinned := p.pidfd >= 0
		p.mu.Unlock()
		if pinned {
			if err := p.Kill(ctx, unix.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
				log.G(ctx).WithError(err).WithField("exec", p.id).Warn("lxcrun: killing exec process")
			}
		} else {
			// Not reported yet (Exec failed or was cancelled): the
			// attached process is the starter's child.
			for _, pid := range childPids(p.cmd.Process.Pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-p.done:
		case <-time.After(killTimeout):
			// Not set up yet (no pidfd) or stuck: the starter goes,
			// the process dies with the container at the latest.
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.mu.Lock()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	if p.console != nil {
		p.console.Close()
		p.console = nil
	}
	p.mu.Unlock()
	if err := os.Remove(p.statusFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.G(ctx).WithError(err).WithField("exec", p.id).Warn("lxcrun: removing exec status file")
	}
}
