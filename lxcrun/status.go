package lxcrun

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
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
// start (its status file says "error TEXT"), or whose init could not set
// the process up (zfslxc-init's "error TEXT"). It is an
// errdefs.ErrFailedPrecondition, so that it keeps a class through gRPC.
var ErrStartFailed error = failure("container could not be started")

// failure is an error class that is also errdefs.ErrFailedPrecondition:
// the container or the process could not be set up as the spec asks
// (args[0] missing, a cwd or user that cannot be, liblxc refusing).
type failure string

func (f failure) Error() string { return string(f) }

// Is makes errdefs.IsFailedPrecondition (and so errgrpc) see the class.
func (f failure) Is(target error) bool { return target == errdefs.ErrFailedPrecondition }

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
