package task

import (
	"context"
	"fmt"
	"slices"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// initState is one state of a task's init, as in runc's shim
// (process/init_state.go): one type per state; a call the state does not
// allow fails with FailedPrecondition naming the state. Every method is
// called with t.mu held; a state changes only through transition.
//
//	created ──start──▶ running ──pause──▶ paused
//	   │                 │ ◀──resume───────┘
//	   │ exit            │ exit            │ exit
//	   ▼                 ▼                 ▼
//	   └──────────────▶ stopped ◀──────────┘
//	created, stopped ──delete──▶ deleted
type initState interface {
	fmt.Stringer
	start(ctx context.Context) error
	delete(ctx context.Context) error
	pause(ctx context.Context) error
	resume(ctx context.Context) error
	update(ctx context.Context, r *specs.LinuxResources) error
	exec() error // whether an exec process may be added
	kill(ctx context.Context, sig syscall.Signal, all bool) error
	setExited()
	status() tasktypes.Status
}

// initTransitions lists the allowed state changes of an init.
var initTransitions = map[string][]string{
	"created": {"running", "stopped", "deleted"},
	"running": {"paused", "stopped"},
	"paused":  {"running", "stopped"},
	"stopped": {"deleted"},
	"deleted": {},
}

// transition moves t to next; a change initTransitions does not list is
// a bug, reported as an error rather than done.
func (t *task) transition(next initState) error {
	if err := checkTransition(initTransitions, "task", t.id, t.state, next); err != nil {
		return err
	}
	t.state = next
	return nil
}

// checkTransition reports whether table allows from → to.
func checkTransition(table map[string][]string, what, id string, from, to fmt.Stringer) error {
	if slices.Contains(table[from.String()], to.String()) {
		return nil
	}
	return fmt.Errorf("%s %s: invalid state change %s → %s", what, id, from, to)
}

func (t *task) refuse(op string) error { return wrongState(op, "task", t.id, t.state) }

// created: init is set up and waits on the exec fifo.
type createdState struct{ t *task }

func (s createdState) String() string { return "created" }

func (s createdState) start(ctx context.Context) error {
	t := s.t
	if err := t.lxc.Release(ctx); err != nil {
		return err
	}
	if err := t.transition(runningState(s)); err != nil {
		return err
	}
	t.svc.publish(ctx, runtime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: t.id, Pid: uint32(t.pid)})
	return nil
}

func (s createdState) delete(context.Context) error {
	return s.t.transition(deletedState{stoppedState(s)})
}
func (s createdState) pause(context.Context) error  { return s.t.refuse("pause") }
func (s createdState) resume(context.Context) error { return s.t.refuse("resume") }
func (s createdState) update(ctx context.Context, r *specs.LinuxResources) error {
	return s.t.lxc.Update(ctx, r)
}
func (s createdState) exec() error { return s.t.refuse("exec in") }
func (s createdState) kill(ctx context.Context, sig syscall.Signal, all bool) error {
	return s.t.signal(ctx, sig, all)
}
func (s createdState) setExited()               { _ = s.t.transition(stoppedState(s)) }
func (s createdState) status() tasktypes.Status { return tasktypes.Status_CREATED }

// running: the process runs.
type runningState struct{ t *task }

func (s runningState) String() string               { return "running" }
func (s runningState) start(context.Context) error  { return s.t.refuse("start") }
func (s runningState) delete(context.Context) error { return s.t.refuse("delete") }
func (s runningState) resume(context.Context) error { return s.t.refuse("resume") }
func (s runningState) exec() error                  { return nil }
func (s runningState) setExited()                   { _ = s.t.transition(stoppedState(s)) }
func (s runningState) status() tasktypes.Status     { return tasktypes.Status_RUNNING }
func (s runningState) update(ctx context.Context, r *specs.LinuxResources) error {
	return s.t.lxc.Update(ctx, r)
}
func (s runningState) kill(ctx context.Context, sig syscall.Signal, all bool) error {
	return s.t.signal(ctx, sig, all)
}

// pause freezes every process of the container and returns once they
// are frozen.
func (s runningState) pause(ctx context.Context) error {
	t := s.t
	if err := t.lxc.Freeze(ctx); err != nil {
		if errdefs.IsNotFound(err) {
			err = fmt.Errorf("cannot pause task %s: %w: %w", t.id, err, errdefs.ErrFailedPrecondition)
		}
		return err
	}
	if err := t.transition(pausedState(s)); err != nil {
		return err
	}
	t.svc.publish(ctx, runtime.TaskPausedEventTopic, &eventstypes.TaskPaused{ContainerID: t.id})
	return nil
}

// paused: the container's cgroup is frozen.
type pausedState struct{ t *task }

func (s pausedState) String() string               { return "paused" }
func (s pausedState) start(context.Context) error  { return s.t.refuse("start") }
func (s pausedState) delete(context.Context) error { return s.t.refuse("delete") }
func (s pausedState) pause(context.Context) error  { return s.t.refuse("pause") }
func (s pausedState) exec() error                  { return s.t.refuse("exec in") }
func (s pausedState) setExited()                   { _ = s.t.transition(stoppedState(s)) }
func (s pausedState) status() tasktypes.Status     { return tasktypes.Status_PAUSED }
func (s pausedState) update(ctx context.Context, r *specs.LinuxResources) error {
	return s.t.lxc.Update(ctx, r)
}

func (s pausedState) resume(ctx context.Context) error {
	t := s.t
	if err := t.lxc.Thaw(ctx); err != nil {
		return err
	}
	if err := t.transition(runningState(s)); err != nil {
		return err
	}
	t.svc.publish(ctx, runtime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: t.id})
	return nil
}

// kill signals, and for SIGKILL thaws: a frozen process does not die of
// SIGKILL (cgroup v1) until it is thawed; runc thaws too.
func (s pausedState) kill(ctx context.Context, sig syscall.Signal, all bool) error {
	if err := s.t.signal(ctx, sig, all); err != nil {
		return err
	}
	if sig == syscall.SIGKILL {
		if err := s.resume(ctx); err != nil && !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).WithField("id", s.t.id).Warn("thawing the paused container")
		}
	}
	return nil
}

// stopped: init has exited; its exit is recorded.
type stoppedState struct{ t *task }

func (s stoppedState) String() string               { return "stopped" }
func (s stoppedState) start(context.Context) error  { return s.t.refuse("start") }
func (s stoppedState) delete(context.Context) error { return s.t.transition(deletedState{s}) }
func (s stoppedState) pause(context.Context) error  { return s.t.refuse("pause") }
func (s stoppedState) resume(context.Context) error { return s.t.refuse("resume") }
func (s stoppedState) exec() error                  { return s.t.refuse("exec in") }
func (s stoppedState) setExited()                   {}
func (s stoppedState) status() tasktypes.Status     { return tasktypes.Status_STOPPED }
func (s stoppedState) update(context.Context, *specs.LinuxResources) error {
	return finishedError("task", s.t.id) // NotFound, as integration/shim's TestUpdate pins
}
func (s stoppedState) kill(context.Context, syscall.Signal, bool) error {
	return finishedError("task", s.t.id)
}

// deleted: Delete has begun (or Cleanup); the container is being, or has
// been, removed. It refuses what stopped refuses; a second Delete finishes
// what a failed one left.
type deletedState struct{ stoppedState }

func (s deletedState) String() string               { return "deleted" }
func (s deletedState) delete(context.Context) error { return nil }
