package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// reap runs the payload as a child and stays PID 1: it forwards every
// signal it receives to the child, reaps every process that ends (orphans
// are reparented to PID 1), and returns the child's exit code, or 128+N
// when signal N killed it. PID 1 of a pid namespace cannot die of a signal
// it raises itself, so re-raising is not an option; docker --init (tini)
// reports signals the same way, and so does the containerd shim for any
// signaled process, so containerd sees the same exit code either way. Only
// SIGKILL (and SIGSTOP) reach the helper itself, with the same result as
// without it: the container's init is killed by that signal.
//
// With a terminal (stdin is the pty slave, see setupTerminal) the child
// becomes a session leader with stdin as its controlling terminal, so the
// terminal's signals (^C, ^Z, SIGWINCH, SIGHUP) go to it and not to PID 1.
func reap(path string, args, env []string, terminal bool) (int, error) {
	sigs := make(chan os.Signal, 128)
	// Before the fork, so no SIGCHLD is lost.
	signal.Notify(sigs)
	// The fork happens on this (locked) thread, so the child inherits the
	// user and capabilities set up on it.
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setsid: terminal, Setctty: terminal, Ctty: 0},
	})
	if err != nil {
		return execExitCode(err), fmt.Errorf("starting %q: %w", path, err)
	}
	for {
		if code, done := reapAll(pid); done {
			return code, nil
		}
		s := (<-sigs).(syscall.Signal)
		switch s {
		case syscall.SIGCHLD:
			// reaped at the top of the loop
		case syscall.SIGURG:
			// The Go runtime's own preemption signal.
		default:
			if err := syscall.Kill(pid, s); err != nil && err != syscall.ESRCH {
				fmt.Fprintf(os.Stderr, "zfslxc-init: forwarding %v: %v\n", s, err)
			}
		}
	}
}

// reapAll reaps every ended child without blocking. It reports the exit
// code once the payload (pid) has ended.
func reapAll(pid int) (code int, done bool) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return 0, false
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), true
		case ws.Signaled():
			return 128 + int(ws.Signal()), true
		}
	}
}
