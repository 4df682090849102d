package task

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/runc/options"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// execOutputGrace bounds how long an exec's exit waits for its output to
// end after the process itself has ended: a process it left in the
// background may hold stdout for ever (the container's init ending ends
// them all, so init needs no such bound). The copy goes on after it.
const execOutputGrace = 5 * time.Second

// execProcess is an exec process of a task (ExecProcessRequest): added
// by Exec, run by Start through the container's Exec, ended by Wait,
// removed by Delete. Its states are in exec_state.go.
type execProcess struct {
	t                     *task
	id                    string
	stdin, stdout, stderr string
	terminal              bool
	exit                  *exitRecord

	// mu orders the state changes, as task.mu does for init; it is
	// taken before t.mu, never after.
	mu     sync.Mutex
	state  execState        // guarded by mu
	proc   *lxcconv.Process // guarded by mu; consoleSize may change before Start
	pid    int              // guarded by mu; set by Start
	runner ExecRunner       // guarded by mu; set by Start
	io     *pipeIO          // guarded by mu; set by Start
	con    *console         // guarded by mu; set by Start with a terminal
}

// execTable holds a task's exec processes.
type execTable struct {
	mu sync.Mutex              // guards m
	m  map[string]*execProcess // guarded by mu
}

func (x *execTable) get(id string) *execProcess {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.m[id]
}

func (x *execTable) add(e *execProcess) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]*execProcess{}
	}
	if _, ok := x.m[e.id]; ok {
		return false
	}
	x.m[e.id] = e
	return true
}

func (x *execTable) remove(id string) {
	x.mu.Lock()
	delete(x.m, id)
	x.mu.Unlock()
}

func (x *execTable) all() []*execProcess {
	x.mu.Lock()
	defer x.mu.Unlock()
	es := make([]*execProcess, 0, len(x.m))
	for _, e := range x.m {
		es = append(es, e)
	}
	return es
}

// pidInfo maps the pids of running exec processes to their exec ids (for
// Pids, as runc's shim reports them).
func (x *execTable) pidInfo() map[int]string {
	m := map[int]string{}
	for _, e := range x.all() {
		e.mu.Lock()
		if _, ok := e.state.(execRunningState); ok && e.pid > 0 {
			m[e.pid] = e.id
		}
		e.mu.Unlock()
	}
	return m
}

// addExec adds an exec process to t while its state allows it: the check
// and the addition under t.mu, so that Delete cannot come between.
func (t *task) addExec(e *execProcess) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.state.exec(); err != nil {
		return err
	}
	if !t.execs.add(e) {
		return fmt.Errorf("exec %s of task %s: %w", e.id, t.id, errdefs.ErrAlreadyExists)
	}
	return nil
}

// execAllowed reports whether exec processes may start now (init runs).
func (t *task) execAllowed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state.exec()
}

// Exec adds an exec process to a running task; Start runs it.
func (s *Service) Exec(ctx context.Context, r *taskapi.ExecProcessRequest) (*emptypb.Empty, error) {
	if err := s.exec(ctx, r); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) exec(ctx context.Context, r *taskapi.ExecProcessRequest) error {
	t, err := s.get(r.ID)
	if err != nil {
		return err
	}
	if r.ExecID == "" {
		return fmt.Errorf("exec id is empty: %w", errdefs.ErrInvalidArgument)
	}
	var sp specs.Process
	if r.Spec == nil {
		return fmt.Errorf("exec %s: no process spec: %w", r.ExecID, errdefs.ErrInvalidArgument)
	}
	if err := json.Unmarshal(r.Spec.GetValue(), &sp); err != nil {
		return fmt.Errorf("exec %s: process spec: %w: %w", r.ExecID, err, errdefs.ErrInvalidArgument)
	}
	proc, err := lxcrun.ExecProcess(&sp)
	if err != nil {
		return err
	}
	e := &execProcess{
		t: t, id: r.ExecID, stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr,
		terminal: r.Terminal || sp.Terminal, proc: proc, exit: newExitRecord(),
	}
	e.state = execCreatedState{e}
	proc.Terminal = e.terminal
	if err := t.addExec(e); err != nil {
		return err
	}
	s.publish(ctx, runtime.TaskExecAddedEventTopic, &eventstypes.TaskExecAdded{ContainerID: t.id, ExecID: e.id})
	return nil
}

// ID is the exec id.
func (e *execProcess) ID() string { return e.id }

// Pid is the process's host pid once started.
func (e *execProcess) Pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pid
}

// Exited is the exec's exit record.
func (e *execProcess) Exited() *exitRecord { return e.exit }

// Start runs a created exec process in the container. It returns once
// the process is set up, or with the reason it could not be: a missing
// executable fails here, as under runc.
func (e *execProcess) Start(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.state.start(ctx); err != nil {
		return 0, err
	}
	return e.pid, nil
}

// run starts the process (execCreatedState.start).
func (e *execProcess) run(ctx context.Context) error {
	t := e.t
	if err := t.execAllowed(); err != nil {
		return err
	}
	pio, err := newProcessIO(ctx, ioOwner{ID: t.id, Namespace: t.svc.cfg.Namespace}, e.stdin, e.stdout, ttyStderr(e.terminal, e.stderr))
	if err != nil {
		return err
	}
	run, err := t.lxc.Exec(ctx, e.id, e.proc, processStdio(pio, e.terminal))
	var con *console
	if err == nil && e.terminal {
		if con, err = newConsole(ctx, pio, run.Console()); err != nil {
			run.Delete(ctx)
		}
	}
	pio.closeChild()
	if err != nil {
		pio.Close()
		return err
	}
	e.runner, e.io, e.con, e.pid = run, pio, con, run.Pid()
	return nil
}

// Kill signals the process.
func (e *execProcess) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	if all {
		return fmt.Errorf("kill --all of exec %s: only for the task: %w", e.id, errdefs.ErrInvalidArgument)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.kill(ctx, sig)
}

// Delete removes an exec process that is not running.
func (e *execProcess) Delete(ctx context.Context) (*taskapi.DeleteResponse, error) {
	e.mu.Lock()
	err := e.state.delete(ctx)
	pid := e.pid
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	e.close(ctx)
	e.t.execs.remove(e.id)
	resp := &taskapi.DeleteResponse{Pid: uint32(pid)}
	e.exit.fill(&resp.ExitStatus, &resp.ExitedAt)
	return resp, nil
}

// close ends the process if it still runs and releases what it holds.
func (e *execProcess) close(ctx context.Context) {
	e.mu.Lock()
	run, pio, con := e.runner, e.io, e.con
	e.state = execDeletedState{e}
	e.mu.Unlock()
	if run != nil {
		run.Delete(ctx)
	}
	if pio != nil {
		pio.Close()
	}
	if con != nil {
		con.Close()
	}
}

// State reports the exec process.
func (e *execProcess) State(ctx context.Context) *taskapi.StateResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &taskapi.StateResponse{
		ID: e.id, ExecID: e.id, Bundle: e.t.bundle, Pid: uint32(e.pid), Status: e.state.status(),
		Stdin: e.stdin, Stdout: e.stdout, Stderr: e.stderr, Terminal: e.terminal,
	}
	e.exit.fill(&resp.ExitStatus, &resp.ExitedAt)
	return resp
}

// Resize sets the terminal's window size; before Start, the initial one.
func (e *execProcess) Resize(ctx context.Context, width, height uint32) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.resize(width, height)
}

// waitExit records the exit once the output is copied (or
// execOutputGrace has passed).
func (e *execProcess) waitExit(run ExecRunner, pio *pipeIO, con *console) {
	t := e.t
	ctx := log.WithLogger(context.Background(), log.L.WithField("id", t.id).WithField("exec", e.id))
	st, err := run.Wait(ctx)
	outDone := make(chan struct{})
	go func() {
		pio.waitOutput()
		if con != nil {
			con.wait()
		}
		close(outDone)
	}()
	select {
	case <-outDone:
	case <-time.After(execOutputGrace):
		log.G(ctx).Warn("exec process ended but its output is still open (a process in the background?); reporting the exit")
	}
	t.svc.recordExit(ctx, t.id, e, st, err)
}

// setExited records the exit and moves to stopped.
func (e *execProcess) setExited(code uint32) {
	e.exit.setUnder(&e.mu, code, func() { e.state.setExited() })
}

// exitEvent is the TaskExit event of the exec's recorded exit.
func (e *execProcess) exitEvent() *eventstypes.TaskExit { return e.exit.event(e.t.id, e.id, e.Pid()) }

// execInfo is the Info of an exec's pid in Pids: runc's ProcessDetails,
// which `ctr task ps` prints.
func execInfo(ctx context.Context, execID string) *tasktypes.ProcessInfo {
	info := &tasktypes.ProcessInfo{}
	a, err := typeurl.MarshalAnyToProto(&options.ProcessDetails{ExecID: execID})
	if err != nil {
		log.G(ctx).WithError(err).Debug("marshalling process details")
		return info
	}
	info.Info = a
	return info
}
