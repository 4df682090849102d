package lxcrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// Exec processes (containerd's ExecProcessRequest, ctr task exec): a
// process started in a running container, in every namespace of its init,
// its cgroups, LSM label and seccomp policy. docs/adr/0003-exec.md records
// the choice: zfslxc-start --attach runs zfslxc-init in the namespaces of
// the container's init, joined through its pidfd as runc's exec does
// (liblxc's attach needs LXC's monitor, which the shim ends once init is
// set up: docs/adr/0007-no-monitor.md), and zfslxc-init reads
// the process (an lxcconv.Process as JSON) from an inherited memfd, sets it
// up exactly as for init (cwd, rlimits, groups, uid/gid, capabilities,
// terminal), reports "ready" with its pid and execs. argv and env never go
// through a file or LXC config. The descriptors zfslxc-start passes to
// the attached process:
const (
	execFdInit    = 3 // the zfslxc-init binary, executed as /proc/self/fd/3
	execFdProcess = 4 // memfd with the process as JSON
	execFdSync    = 5 // unix seqpacket socket: "ready" or "error TEXT"
	// 6, a pidfd of the container's init, is zfslxc-start's own: it is
	// close-on-exec there.
)

// execDir holds the exec processes' status files in the state directory.
const execDir = "exec"

// ErrExecFailed is the class of an exec process that could not be set up
// or started (Container.Exec); the error text says why, as zfslxc-init
// or liblxc reported it. It is an errdefs.ErrFailedPrecondition.
var ErrExecFailed error = failure("exec failed")

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
	id string
	*starter
}

// Exec starts p in the running container and returns once it is set up
// and about to exec its args[0] (which has been found), or with the reason
// it failed: a missing executable fails here, with zfslxc-init's message
// (exec: "nope": executable file not found in $PATH). id names the process
// (containerd's exec id; [A-Za-z0-9_.-]). With p.Terminal, stdio must be a
// pty slave (see OpenPty).
func (c *Container) Exec(ctx context.Context, id string, p *lxcconv.Process, stdio Stdio) (_ *Process, retErr error) {
	if !validName(id) {
		return nil, fmt.Errorf("exec id %q: want 1-128 of [A-Za-z0-9_.-]: %w", id, errdefs.ErrInvalidArgument)
	}
	if p.Terminal && !stdio.NewConsole {
		if f, ok := stdio.Stdin.(*os.File); !ok || f == nil || !isTerminal(f) {
			return nil, fmt.Errorf("exec %s: terminal is set: Stdio.Stdin must be a pty slave (*os.File; see OpenPty), or NewConsole set: %w", id, errdefs.ErrInvalidArgument)
		}
	}
	c.mu.Lock()
	running := c.released && !c.init.finished()
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
	statusFile := filepath.Join(dir, id+".status")
	if _, err := os.Stat(statusFile); err == nil {
		return nil, fmt.Errorf("exec %s: %w", id, errdefs.ErrAlreadyExists)
	}
	pidfd, cgroups, err := c.attachTarget()
	if err != nil {
		return nil, err
	}
	files, hostSync, err := c.openExecFiles(data)
	if err != nil {
		pidfd.Close()
		return nil, err
	}
	defer hostSync.Close()
	a := starterArgs{
		Attach: true, Name: c.name, StatusFile: statusFile, PassFDs: len(files), OOMScoreAdj: p.OOMScoreAdj,
		Cgroups: cgroups,
		Program: []string{
			fmt.Sprintf("/proc/self/fd/%d", execFdInit), "--join", fmt.Sprintf("--sync-fd=%d", execFdSync),
			fmt.Sprintf("/proc/self/fd/%d", execFdProcess),
		},
	}
	if c.result.SeccompProfile != "" {
		a.Seccomp = c.seccompFile
	}
	st := newStarter("exec "+id, ErrExecFailed, statusFile)
	err = st.launch(c.starterBin, c.dir, a, append(files, pidfd), stdio)
	closeFiles(files)
	pidfd.Close()
	if err != nil {
		return nil, err
	}
	proc := &Process{id: id, starter: st}
	defer func() {
		if retErr != nil {
			proc.Delete(context.WithoutCancel(ctx))
		}
	}()
	if err := st.awaitReady(ctx, hostSync, p.Terminal && stdio.NewConsole, true); err != nil {
		return nil, fmt.Errorf("in container %s: %w", c.name, err)
	}
	return proc, nil
}

// attachTarget returns what an exec's starter needs of the running
// container: a pidfd of its init (passed after the other descriptors) and
// init's cgroup directories, which the exec process joins.
func (c *Container) attachTarget() (*os.File, []string, error) {
	st := c.started()
	pidfd, err := st.dupPidfd()
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: %w", c.name, err)
	}
	cgroups, err := cgroupDirsOf(st.Pid())
	if err != nil {
		pidfd.Close()
		return nil, nil, fmt.Errorf("container %s is not running: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	return pidfd, cgroups, nil
}

// openExecFiles returns what zfslxc-start --attach passes down, in fd
// order from 3 (see execFdInit…execFdSync), and the host end of the sync
// socket: the process spec goes in a memfd.
func (c *Container) openExecFiles(process []byte) ([]*os.File, *net.UnixConn, error) {
	return c.starterFiles(func() (*os.File, error) { return memfdWith("process.json", process) })
}

// memfdWith is a memfd holding data, read from its start.
func memfdWith(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: %w", err)
	}
	return f, nil
}

// ID is the exec id.
func (p *Process) ID() string { return p.id }

// Kill sends sig to the process; errdefs.ErrNotFound once it has ended.
func (p *Process) Kill(ctx context.Context, sig syscall.Signal) error {
	return p.kill(sig)
}

// Delete kills the process if it still runs, waits for it, and removes
// its status file. Safe to call more than once.
func (p *Process) Delete(ctx context.Context) {
	p.close(ctx)
	if err := os.Remove(p.statusFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.G(ctx).WithError(err).WithField("exec", p.id).Warn("lxcrun: removing exec status file")
	}
}
