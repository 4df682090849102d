package containerdtest

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is one run of a daemon, its output appended to a log file.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid once exited is closed
}

// startProcess starts cmd with its output appended to logPath. The process
// is killed if the test binary dies without cleanup.
func startProcess(cmd *exec.Cmd, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "=== %s: start %v\n", time.Now().Format(time.RFC3339Nano), cmd.Args)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		fmt.Fprintf(logFile, "=== %s: exited: %v\n", time.Now().Format(time.RFC3339Nano), p.waitErr)
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// running reports whether the process has not exited yet.
func (p *process) running() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *process) kill() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// terminate sends SIGTERM and waits up to grace for the exit, then kills.
// It returns the exit error of a process that stopped by itself in time,
// or an error saying it had to be killed.
func (p *process) terminate(grace time.Duration) error {
	if !p.running() {
		return p.waitErr
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("%s ignored SIGTERM for %v; killed", p.cmd.Path, grace)
	}
}

// signal sends sig to the process if it runs.
func (p *process) signal(sig syscall.Signal) error {
	if !p.running() {
		return fmt.Errorf("not running")
	}
	return p.cmd.Process.Signal(sig)
}
