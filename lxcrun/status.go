package lxcrun

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// Status is how the container's init ended.
type Status struct {
	// Code is the exit code when init exited (Signal is 0).
	Code int
	// Signal is the signal that killed init, 0 when it exited.
	Signal syscall.Signal
}

// Signaled reports whether a signal ended init.
func (s Status) Signaled() bool { return s.Signal != 0 }

// ExitCode is the shell-style code: Code, or 128+Signal. It is what
// containerd reports for a task (the runc shim does the same), and what
// zfslxc-init in reaper mode exits with when a signal killed the payload.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

func (s Status) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("signaled %d", int(s.Signal))
	}
	return fmt.Sprintf("exited %d", s.Code)
}

// ErrStartFailed is the class of a container that zfslxc-start could not
// start (its status file says "error TEXT").
var ErrStartFailed = errors.New("container could not be started")

// ParseStatus reads the line zfslxc-start writes to its status file:
// "exited N", "signaled N" or "error TEXT" (returned as an error wrapping
// ErrStartFailed).
func ParseStatus(line string) (Status, error) {
	line = strings.TrimRight(line, "\n")
	kind, arg, _ := strings.Cut(line, " ")
	if kind == "error" {
		return Status{}, fmt.Errorf("%w: %s", ErrStartFailed, arg)
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 || n > 255 {
		return Status{}, fmt.Errorf("zfslxc-start status %q: bad number", line)
	}
	switch kind {
	case "exited":
		return Status{Code: n}, nil
	case "signaled":
		if n == 0 {
			return Status{}, fmt.Errorf("zfslxc-start status %q: signal 0", line)
		}
		return Status{Signal: syscall.Signal(n)}, nil
	}
	return Status{}, fmt.Errorf("zfslxc-start status %q: unknown kind", line)
}
