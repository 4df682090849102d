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
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// execOutputGrace bounds how long an exec's exit waits for its output to
// end after the process itself has ended: a process it left in the
// background may hold stdout for ever (the container's init ending ends
// them all, so init needs no such bound). The copy goes on after it.
const execOutputGrace = 5 * time.Second

// execProcess is an exec process of a task (ExecProcessRequest): created
// by Exec, run by Start through lxcrun's Container.Exec, ended by Wait,
// removed by Delete.
type execProcess struct {
	id                    string
	stdin, stdout, stderr string
	terminal              bool

	exited     chan struct{} // closed once the exit is recorded
	exitStatus uint32        // written before exited is closed
	exitedAt   time.Time     // written before exited is closed

	mu    sync.Mutex
	proc  *lxcconv.Process // guarded by mu; consoleSize may change before Start
	state state            // guarded by mu: created, running or stopped
	pid   int              // guarded by mu; set by Start
	run   *lxcrun.Process  // guarded by mu; set by Start
	io    *pipeIO          // guarded by mu; set by Start
	con   *console         // guarded by mu; set by Start with a terminal
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
		if e.state == stateRunning && e.pid > 0 {
			m[e.pid] = e.id
		}
		e.mu.Unlock()
	}
	return m
}

// getExec returns task id's exec process execID.
func (s *Service) getExec(id, execID string) (*task, *execProcess, error) {
	t, err := s.get(id, "")
	if err != nil {
		return nil, nil, err
	}
	e := t.execs.get(execID)
	if e == nil {
		return nil, nil, fmt.Errorf("exec %s of task %s: %w", execID, id, errdefs.ErrNotFound)
	}
	return t, e, nil
}

// Exec adds an exec process to a running task; Start runs it.
func (s *Service) Exec(ctx context.Context, r *taskapi.ExecProcessRequest) (*emptypb.Empty, error) {
	if err := s.exec(ctx, r); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) exec(ctx context.Context, r *taskapi.ExecProcessRequest) error {
	t, err := s.get(r.ID, "")
	if err != nil {
		return err
	}
	if r.ExecID == "" {
		return fmt.Errorf("exec id is empty: %w", errdefs.ErrInvalidArgument)
	}
	t.mu.Lock()
	st := t.state
	t.mu.Unlock()
	if st != stateRunning {
		return wrongState("exec in", t.id, st)
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
		id: r.ExecID, stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr,
		terminal: r.Terminal || sp.Terminal, proc: proc, exited: make(chan struct{}),
	}
	proc.Terminal = e.terminal
	if !t.execs.add(e) {
		return fmt.Errorf("exec %s of task %s: %w", r.ExecID, r.ID, errdefs.ErrAlreadyExists)
	}
	s.cfg.Publisher.Publish(ctx, runtime.TaskExecAddedEventTopic, &eventstypes.TaskExecAdded{ContainerID: t.id, ExecID: e.id})
	return nil
}

// execStart runs a created exec process in the container. It returns
// once the process is set up, or with the reason it could not be: a
// missing executable fails here, as under runc.
func (s *Service) execStart(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	t, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateCreated {
		return nil, fmt.Errorf("cannot start exec %s in %s state: %w", e.id, e.state, errdefs.ErrFailedPrecondition)
	}
	t.mu.Lock()
	st := t.state
	t.mu.Unlock()
	if st != stateRunning {
		return nil, wrongState("exec in", t.id, st)
	}
	pio, err := newProcessIO(ctx, ioOwner{ID: t.id, Namespace: s.cfg.Namespace}, e.stdin, e.stdout, ttyStderr(e.terminal, e.stderr))
	if err != nil {
		return nil, err
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
		if con != nil {
			con.Close()
		}
		// Wait returns, with the status runc's shim gives a process
		// that never ran; Delete removes it.
		e.exitStatus = exitUnknown
		e.exitedAt = time.Now()
		e.state = stateStopped
		close(e.exited)
		return nil, err
	}
	e.run, e.io, e.con, e.pid = run, pio, con, run.Pid()
	e.state = stateRunning
	s.cfg.Publisher.Publish(ctx, runtime.TaskExecStartedEventTopic, &eventstypes.TaskExecStarted{ContainerID: t.id, ExecID: e.id, Pid: uint32(e.pid)})
	go s.waitExecExit(t, e)
	return &taskapi.StartResponse{Pid: uint32(e.pid)}, nil
}

// waitExecExit records an exec's exit once its output is copied (or
// execOutputGrace has passed), and publishes it.
func (s *Service) waitExecExit(t *task, e *execProcess) {
	ctx := log.WithLogger(context.Background(), log.L.WithField("id", t.id).WithField("exec", e.id))
	st, err := e.run.Wait(ctx)
	code := uint32(st.ExitCode())
	if err != nil {
		log.G(ctx).WithError(err).Error("exec process ended without a status")
		code = exitUnknown
	}
	outDone := make(chan struct{})
	go func() {
		e.io.waitOutput()
		if e.con != nil {
			e.con.wait()
		}
		close(outDone)
	}()
	select {
	case <-outDone:
	case <-time.After(execOutputGrace):
		log.G(ctx).Warn("exec process ended but its output is still open (a process in the background?); reporting the exit")
	}
	e.mu.Lock()
	e.exitStatus = code
	e.exitedAt = time.Now()
	e.state = stateStopped
	close(e.exited)
	e.mu.Unlock()
	log.G(ctx).WithField("status", st.String()).Debug("exec process exited")
	s.cfg.Publisher.Publish(ctx, runtime.TaskExitEventTopic, &eventstypes.TaskExit{
		ContainerID: t.id,
		ID:          e.id,
		Pid:         uint32(e.pid),
		ExitStatus:  code,
		ExitedAt:    timestamppb.New(e.exitedAt),
	})
}

func (s *Service) execWait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	_, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.exited:
		return &taskapi.WaitResponse{ExitStatus: e.exitStatus, ExitedAt: timestamppb.New(e.exitedAt)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Service) execState(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	t, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	resp := &taskapi.StateResponse{
		ID: e.id, ExecID: e.id, Bundle: t.bundle, Pid: uint32(e.pid),
		Stdin: e.stdin, Stdout: e.stdout, Stderr: e.stderr, Terminal: e.terminal,
	}
	switch e.state {
	case stateCreated:
		resp.Status = tasktypes.Status_CREATED
	case stateRunning:
		resp.Status = tasktypes.Status_RUNNING
	default:
		resp.Status = tasktypes.Status_STOPPED
		resp.ExitStatus = e.exitStatus
		resp.ExitedAt = timestamppb.New(e.exitedAt)
	}
	return resp, nil
}

func (s *Service) execKill(ctx context.Context, r *taskapi.KillRequest) error {
	_, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	st, run := e.state, e.run
	e.mu.Unlock()
	switch {
	case st == stateCreated:
		return fmt.Errorf("exec %s is not started: %w", e.id, errdefs.ErrFailedPrecondition)
	case st == stateStopped || run == nil:
		return fmt.Errorf("exec %s: process already finished: %w", e.id, errdefs.ErrNotFound)
	}
	return run.Kill(ctx, syscall.Signal(r.Signal))
}

func (s *Service) execDelete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	t, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	st := e.state
	e.mu.Unlock()
	if st == stateRunning {
		return nil, fmt.Errorf("cannot delete exec %s in running state: %w", e.id, errdefs.ErrFailedPrecondition)
	}
	e.close(ctx)
	t.execs.remove(e.id)
	resp := &taskapi.DeleteResponse{Pid: uint32(e.pid)}
	if st == stateStopped {
		resp.ExitStatus, resp.ExitedAt = e.exitStatus, timestamppb.New(e.exitedAt)
	}
	return resp, nil
}

// close ends the process if it still runs and releases what it holds.
func (e *execProcess) close(ctx context.Context) {
	e.mu.Lock()
	run, pio, con := e.run, e.io, e.con
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

func (s *Service) execResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	_, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == stateCreated && e.terminal {
		// Before Start: the initial size (process.consoleSize).
		e.proc.ConsoleSize = &specs.Box{Width: uint(r.Width), Height: uint(r.Height)}
		return &emptypb.Empty{}, nil
	}
	if err := resizeConsole(e.id, e.con, r); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) execCloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	_, e, err := s.getExec(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	if r.Stdin {
		// As for the init process: the copy ends at the client's end of
		// file (see openInput).
		log.G(ctx).WithFields(log.Fields{"id": r.ID, "exec": e.id}).Debug("close io: stdin")
	}
	return &emptypb.Empty{}, nil
}

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
