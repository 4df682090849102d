package task

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zfslxc/zfslxc/lxcrun"
)

// Process is a task's init (*task) or one of its exec processes
// (*execProcess). The service resolves the process a request names once
// (Service.process) and calls one of these; each one asks the process's
// current state (init_state.go, exec_state.go) whether it is allowed.
type Process interface {
	// ID is the task id for init, the exec id for an exec process.
	ID() string
	// Pid is the process's host pid, 0 before it has one.
	Pid() int
	// Start runs the process: init goes past the exec fifo, an exec
	// process is started in the container.
	Start(ctx context.Context) (pid int, err error)
	// Kill signals the process (all: every process of the container;
	// init only).
	Kill(ctx context.Context, sig syscall.Signal, all bool) error
	// Delete removes a process that is not running.
	Delete(ctx context.Context) (*taskapi.DeleteResponse, error)
	// State reports the process.
	State(ctx context.Context) *taskapi.StateResponse
	// Resize sets the window size of the process's terminal.
	Resize(ctx context.Context, width, height uint32) error
	// Exited is the process's exit record.
	Exited() *exitRecord

	// setExited records the exit (status, time, stopped state).
	setExited(code uint32)
	// exitEvent is the TaskExit event of the recorded exit.
	exitEvent() *eventstypes.TaskExit
}

var (
	_ Process = (*task)(nil)
	_ Process = (*execProcess)(nil)
)

// exitRecord is how a process ended: written once (set), read by Wait,
// State and Delete. The init and the exec processes share it.
type exitRecord struct {
	done     chan struct{} // closed once the exit is recorded
	status   uint32        // written before done is closed
	at       time.Time     // written before done is closed
	reported chan struct{} // closed once TaskExit is published (recordExit)
}

func newExitRecord() *exitRecord {
	return &exitRecord{done: make(chan struct{}), reported: make(chan struct{})}
}

// set records the exit; the caller holds the process's mutex, so it
// happens once.
func (e *exitRecord) set(status uint32) {
	e.status, e.at = status, time.Now()
	close(e.done)
}

// setUnder records the exit and moves the process's state to stopped
// (toStopped), both under the process's mutex mu.
func (e *exitRecord) setUnder(mu *sync.Mutex, status uint32, toStopped func()) {
	mu.Lock()
	defer mu.Unlock()
	e.set(status)
	toStopped()
}

// exited reports whether the exit is recorded.
func (e *exitRecord) exited() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// wait returns the exit once it is recorded, or ctx's error.
func (e *exitRecord) wait(ctx context.Context) (*taskapi.WaitResponse, error) {
	select {
	case <-e.done:
		return &taskapi.WaitResponse{ExitStatus: e.status, ExitedAt: timestamppb.New(e.at)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// event is the TaskExit event of the recorded exit of process id (the
// task id for init) of container containerID.
func (e *exitRecord) event(containerID, id string, pid int) *eventstypes.TaskExit {
	return &eventstypes.TaskExit{
		ContainerID: containerID, ID: id, Pid: uint32(pid),
		ExitStatus: e.status, ExitedAt: timestamppb.New(e.at),
	}
}

// fill copies a recorded exit into a state or delete response.
func (e *exitRecord) fill(status *uint32, at **timestamppb.Timestamp) {
	if e.exited() {
		*status, *at = e.status, timestamppb.New(e.at)
	}
}

// wrongState is the error for a call the process's state refuses.
func wrongState(op, what, id string, st fmt.Stringer) error {
	return fmt.Errorf("cannot %s %s %s in %s state: %w", op, what, id, st, errdefs.ErrFailedPrecondition)
}

// finishedError is Kill's error once the process has ended (containerd
// expects NotFound).
func finishedError(what, id string) error {
	return fmt.Errorf("%s %s: process already finished: %w", what, id, errdefs.ErrNotFound)
}

// exitUnknown is the status reported when the starter gave none.
const exitUnknown = 255

// recordExit records how p ended and publishes TaskExit: the one place
// for the init and the exec processes. st and err are the runtime's Wait.
func (s *Service) recordExit(ctx context.Context, containerID string, p Process, st lxcrun.Status, err error) {
	code := uint32(st.ExitCode())
	if err != nil {
		log.G(ctx).WithError(err).Error("process ended without a status")
		code = exitUnknown
	}
	p.setExited(code)
	log.G(ctx).WithField("status", st.String()).Debug("process exited")
	s.publish(ctx, runtime.TaskExitEventTopic, p.exitEvent())
	close(p.Exited().reported)
}
