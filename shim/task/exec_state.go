package task

import (
	"context"
	"fmt"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execState is one state of an exec process, as initState is of init.
// Every method is called with e.mu held.
//
//	created ──start──▶ running ──exit──▶ stopped
//	   │ start failed                       │
//	   ├──────────────────▶ stopped         │
//	created, stopped ──delete──▶ deleted ◀──┘
type execState interface {
	fmt.Stringer
	start(ctx context.Context) error
	delete(ctx context.Context) error
	kill(ctx context.Context, sig syscall.Signal) error
	resize(width, height uint32) error
	setExited()
	status() tasktypes.Status
}

// execTransitions lists the allowed state changes of an exec process.
// close (the task's Delete) moves any state to deleted.
var execTransitions = map[string][]string{
	"created": {"running", "stopped", "deleted"},
	"running": {"stopped"},
	"stopped": {"deleted"},
	"deleted": {},
}

func (e *execProcess) transition(next execState) error {
	if err := checkTransition(execTransitions, "exec", e.id, e.state, next); err != nil {
		return err
	}
	e.state = next
	return nil
}

func (e *execProcess) refuse(op string) error { return wrongState(op, "exec", e.id, e.state) }

// execCreated: added by Exec, not started.
type execCreatedState struct{ e *execProcess }

func (s execCreatedState) String() string { return "created" }

// start runs the process; one that could not be started is stopped, with
// the status runc's shim gives a process that never ran, so that Wait
// returns and Delete removes it.
func (s execCreatedState) start(ctx context.Context) error {
	e := s.e
	if err := e.run(ctx); err != nil {
		e.exit.set(exitUnknown)
		_ = e.transition(execStoppedState(s))
		return err
	}
	if err := e.transition(execRunningState(s)); err != nil {
		return err
	}
	e.t.svc.publish(ctx, runtime.TaskExecStartedEventTopic, &eventstypes.TaskExecStarted{ContainerID: e.t.id, ExecID: e.id, Pid: uint32(e.pid)})
	go e.waitExit(e.runner, e.io, e.con)
	return nil
}

func (s execCreatedState) delete(context.Context) error { return s.e.transition(execDeletedState(s)) }
func (s execCreatedState) kill(context.Context, syscall.Signal) error {
	return s.e.refuse("kill")
}

// resize before Start sets the initial size (process.consoleSize).
func (s execCreatedState) resize(width, height uint32) error {
	if !s.e.terminal {
		return resizeConsole(s.e.id, nil, width, height)
	}
	s.e.proc.ConsoleSize = &specs.Box{Width: uint(width), Height: uint(height)}
	return nil
}
func (s execCreatedState) setExited()               {}
func (s execCreatedState) status() tasktypes.Status { return tasktypes.Status_CREATED }

// execRunning: the process runs.
type execRunningState struct{ e *execProcess }

func (s execRunningState) String() string               { return "running" }
func (s execRunningState) start(context.Context) error  { return s.e.refuse("start") }
func (s execRunningState) delete(context.Context) error { return s.e.refuse("delete") }
func (s execRunningState) kill(ctx context.Context, sig syscall.Signal) error {
	return s.e.runner.Kill(ctx, sig)
}
func (s execRunningState) resize(width, height uint32) error {
	return resizeConsole(s.e.id, s.e.con, width, height)
}
func (s execRunningState) setExited()               { _ = s.e.transition(execStoppedState(s)) }
func (s execRunningState) status() tasktypes.Status { return tasktypes.Status_RUNNING }

// execStopped: the exit is recorded.
type execStoppedState struct{ e *execProcess }

func (s execStoppedState) String() string               { return "stopped" }
func (s execStoppedState) start(context.Context) error  { return s.e.refuse("start") }
func (s execStoppedState) delete(context.Context) error { return s.e.transition(execDeletedState(s)) }
func (s execStoppedState) kill(context.Context, syscall.Signal) error {
	return finishedError("exec", s.e.id)
}
func (s execStoppedState) resize(width, height uint32) error {
	return resizeConsole(s.e.id, s.e.con, width, height)
}
func (s execStoppedState) setExited()               {}
func (s execStoppedState) status() tasktypes.Status { return tasktypes.Status_STOPPED }

// execDeleted: removed (Delete, or the task's Delete).
type execDeletedState struct{ e *execProcess }

func (s execDeletedState) String() string               { return "deleted" }
func (s execDeletedState) start(context.Context) error  { return s.e.refuse("start") }
func (s execDeletedState) delete(context.Context) error { return s.e.refuse("delete") }
func (s execDeletedState) kill(context.Context, syscall.Signal) error {
	return finishedError("exec", s.e.id)
}
func (s execDeletedState) resize(uint32, uint32) error { return s.e.refuse("resize") }
func (s execDeletedState) setExited()                  {}
func (s execDeletedState) status() tasktypes.Status    { return tasktypes.Status_STOPPED }
