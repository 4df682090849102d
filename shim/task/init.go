package task

import (
	"context"
	"fmt"
	"sync"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// task is a task's init process (the container) and its exec
// processes. The fields above mu are set by create and not changed
// after; the states are in init_state.go.
type task struct {
	svc        *Service
	id, bundle string
	rootfs     string // mounted rootfs; "" when containerd gave none
	stdin      string
	stdout     string
	stderr     string
	pid        int
	lxc        Container
	io         *pipeIO
	con        *console  // nil without a terminal
	hooks      *ociHooks // runtime-namespace OCI hooks, or nil
	exit       *exitRecord
	// sweep: init's exit may leave processes behind (the container has no
	// pid namespace of its own), so waitExit kills them (lxc KillOrphans).
	sweep bool

	execs execTable // exec processes; has its own mutex

	// mu orders the state changes: each call runs with it held, so the
	// exit is recorded (and published) after Start has published the
	// start event.
	mu    sync.Mutex
	state initState // guarded by mu

	destroyMu sync.Mutex // serialises destroy
	destroyed bool       // guarded by destroyMu
}

// ID is the task id.
func (t *task) ID() string { return t.id }

// Pid is init's host pid.
func (t *task) Pid() int { return t.pid }

// Exited is init's exit record.
func (t *task) Exited() *exitRecord { return t.exit }

// Start lets the created container's process run.
func (t *task) Start(ctx context.Context) (int, error) {
	t.mu.Lock()
	err := t.state.start(ctx)
	t.mu.Unlock()
	if err != nil {
		return 0, err
	}
	// Outside t.mu: a poststart hook may ask for the task's state.
	t.hooks.started(ctx, t.pid)
	return t.pid, nil
}

// Kill signals init, or with all every process of the container.
func (t *task) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.kill(ctx, sig, all)
}

// signal is Kill in the states that allow it.
func (t *task) signal(ctx context.Context, sig syscall.Signal, all bool) error {
	if all {
		return t.lxc.KillAll(ctx, sig)
	}
	return t.lxc.Kill(ctx, sig)
}

// Delete removes a stopped (or never started) task: LXC state, rootfs
// mount, the exec processes; then it runs the poststop hooks.
func (t *task) Delete(ctx context.Context) (*taskapi.DeleteResponse, error) {
	t.mu.Lock()
	err := t.state.delete(ctx)
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	removed, err := t.destroy(ctx)
	if err != nil {
		return nil, err
	}
	resp := &taskapi.DeleteResponse{Pid: uint32(t.pid)}
	t.exit.fill(&resp.ExitStatus, &resp.ExitedAt)
	if removed {
		t.svc.publish(ctx, runtime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
			ContainerID: t.id, ID: t.id, Pid: resp.Pid, ExitStatus: resp.ExitStatus, ExitedAt: resp.ExitedAt,
		})
	}
	return resp, nil
}

// terminate is Delete whatever the state (the shim got SIGTERM): a
// paused container is thawed after SIGKILL so that it can die.
func (t *task) terminate(ctx context.Context) error {
	t.mu.Lock()
	if _, paused := t.state.(pausedState); paused {
		if err := t.state.kill(ctx, syscall.SIGKILL, false); err != nil {
			log.G(ctx).WithError(err).WithField("id", t.id).Warn("killing the paused container")
		}
	}
	t.state = deletedState{stoppedState{t}}
	t.mu.Unlock()
	_, err := t.destroy(ctx)
	return err
}

// destroy kills the container if needed, waits for its exit, removes its
// state and rootfs mount, runs the poststop hooks and forgets the task.
// removed: this call did it (a second one finds it done).
func (t *task) destroy(ctx context.Context) (removed bool, _ error) {
	t.destroyMu.Lock()
	defer t.destroyMu.Unlock()
	if t.destroyed {
		return false, nil
	}
	// lxcrun's Delete kills what still runs and removes the state dir.
	if err := t.lxc.Delete(ctx); err != nil {
		return false, err
	}
	if _, link := stateDirOf(t.bundle); link != "" {
		if err := removeStateLink(link); err != nil {
			log.G(ctx).WithError(err).Warn("removing the state directory link")
		}
	}
	// After the exit event: containerd sees exit, then delete.
	select {
	case <-t.exit.reported:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	// The exec processes ended with the container.
	for _, e := range t.execs.all() {
		e.close(ctx)
		t.execs.remove(e.id)
	}
	t.io.Close()
	if t.con != nil {
		t.con.Close()
	}
	if t.rootfs != "" {
		if err := mount.UnmountAll(t.rootfs, syscall.MNT_DETACH); err != nil {
			return false, fmt.Errorf("unmounting rootfs: %w", err)
		}
	}
	t.hooks.stopped(ctx)
	t.destroyed = true
	t.svc.forget(t.id)
	return true, nil
}

// State reports init.
func (t *task) State(ctx context.Context) *taskapi.StateResponse {
	t.mu.Lock()
	defer t.mu.Unlock()
	resp := &taskapi.StateResponse{
		ID: t.id, Bundle: t.bundle, Pid: uint32(t.pid), Status: t.state.status(),
		Stdin: t.stdin, Stdout: t.stdout, Stderr: t.stderr, Terminal: t.con != nil,
	}
	t.exit.fill(&resp.ExitStatus, &resp.ExitedAt)
	return resp
}

// Resize sets the window size of init's terminal.
func (t *task) Resize(ctx context.Context, width, height uint32) error {
	return resizeConsole(t.id, t.con, width, height)
}

// waitExit records init's exit once its output is copied.
func (t *task) waitExit() {
	ctx := log.WithLogger(context.Background(), log.L.WithField("id", t.id))
	st, err := t.lxc.Wait(ctx)
	// Before the output is drained: a process init left in a shared pid
	// namespace would hold stdout open forever. With a pid namespace of
	// its own the kernel has ended them all before init's status is
	// known, so there is nothing to look for (runc's shouldKillAllOnExit).
	if t.sweep {
		if _, kerr := t.lxc.KillOrphans(ctx); kerr != nil {
			log.G(ctx).WithError(kerr).Warn("killing what the container's init left behind")
		}
	}
	t.io.waitOutput()
	if t.con != nil {
		t.con.wait()
	}
	t.svc.recordExit(ctx, t.id, t, st, err)
}

// setExited records the exit and moves to stopped.
func (t *task) setExited(code uint32) {
	t.exit.setUnder(&t.mu, code, func() { t.state.setExited() })
}

// exitEvent is the TaskExit event of init's recorded exit.
func (t *task) exitEvent() *eventstypes.TaskExit { return t.exit.event(t.id, t.id, t.pid) }

// leavesOrphans says whether init's exit can leave processes of the
// container running: unless it has a pid namespace of its own (a new one,
// not one joined by path), they outlive init.
func leavesOrphans(spec *specs.Spec) bool {
	if spec.Linux == nil {
		return true
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path == "" {
			return false
		}
	}
	return true
}
