// Package task is the containerd task API v2 (ttrpc) of
// containerd-shim-lxc-v1: one LXC container per task, run with lxcrun.
// This file is the only place errors become gRPC statuses (errgrpc), so
// errdefs classes (NotFound, NotImplemented, ...) survive the wire.
package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/shim/config"
)

// StateDirName is the LXC state directory (lxcrun's) inside the bundle:
// config, process.json, exec fifo, status, lxc.log. Never /var/lib/lxc.
const StateDirName = "lxc"

// exitUnknown is the status reported when the starter gave none.
const exitUnknown = 255

// Config configures New.
type Config struct {
	Namespace string
	Publisher *Publisher
	// Shutdown is called (once) when containerd asks the shim to exit
	// and no task is left.
	Shutdown func()
}

// Service implements taskapi.TTRPCTaskService.
type Service struct {
	cfg          Config
	shutdownOnce sync.Once

	mu    sync.Mutex       // guards tasks
	tasks map[string]*task // guarded by mu
}

var _ taskapi.TTRPCTaskService = (*Service)(nil)

// New returns the task service.
func New(ctx context.Context, cfg Config) *Service {
	return &Service{cfg: cfg, tasks: map[string]*task{}}
}

// task states (the init process's).
type state int

const (
	stateCreated state = iota
	stateRunning
	statePaused // running, cgroup frozen
	stateStopped
)

func (st state) String() string {
	switch st {
	case stateCreated:
		return "created"
	case stateRunning:
		return "running"
	case statePaused:
		return "paused"
	case stateStopped:
		return "stopped"
	}
	return fmt.Sprintf("state(%d)", int(st))
}

// wrongState is the error for an operation the task's state does not allow.
func wrongState(op, id string, st state) error {
	return fmt.Errorf("cannot %s task %s in %s state: %w", op, id, st, errdefs.ErrFailedPrecondition)
}

type task struct {
	id, bundle string
	rootfs     string // mounted rootfs; "" when containerd gave none
	stdin      string
	stdout     string
	stderr     string
	pid        int
	lxc        *lxcrun.Container
	io         *pipeIO
	con        *console  // nil without a terminal
	hooks      *ociHooks // runtime-namespace OCI hooks, or nil

	execs execTable // exec processes

	exited     chan struct{} // closed once the exit is recorded
	exitStatus uint32        // written before exited is closed
	exitedAt   time.Time     // written before exited is closed

	// mu orders Start and the exit: the exit event is published after
	// the start event.
	mu    sync.Mutex
	state state // guarded by mu
}

// get returns task id's init; exec processes are getExec's (exec.go).
func (s *Service) get(id, execID string) (*task, error) {
	if execID != "" {
		return nil, fmt.Errorf("exec %s: %w", execID, errdefs.ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	return t, nil
}

func toGRPC(err error) error { return errgrpc.ToGRPC(err) }

// Create mounts the rootfs, converts config.json and starts the container
// up to the point where init waits for Start.
func (s *Service) Create(ctx context.Context, r *taskapi.CreateTaskRequest) (*taskapi.CreateTaskResponse, error) {
	resp, err := s.create(ctx, r)
	return resp, toGRPC(err)
}

func (s *Service) create(ctx context.Context, r *taskapi.CreateTaskRequest) (_ *taskapi.CreateTaskResponse, retErr error) {
	if r.Checkpoint != "" {
		return nil, fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented)
	}
	s.mu.Lock()
	if _, ok := s.tasks[r.ID]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("task %s: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	s.tasks[r.ID] = nil // reserved
	s.mu.Unlock()
	defer func() {
		if retErr != nil {
			s.mu.Lock()
			delete(s.tasks, r.ID)
			s.mu.Unlock()
		}
	}()

	cfg, err := loadConfig(ctx, r.Options)
	if err != nil {
		return nil, err
	}
	t := &task{id: r.ID, bundle: r.Bundle, stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, exited: make(chan struct{})}
	data, err := os.ReadFile(filepath.Join(r.Bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("config.json: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	// containerd sets both; either one asks for a pty.
	terminal := r.Terminal || (spec.Process != nil && spec.Process.Terminal)

	rootfs := filepath.Join(r.Bundle, "rootfs")
	if len(r.Rootfs) > 0 {
		if err := os.MkdirAll(rootfs, 0o711); err != nil {
			return nil, err
		}
		if err := mount.All(mount.FromProto(r.Rootfs), rootfs); err != nil {
			return nil, fmt.Errorf("mounting rootfs: %w", err)
		}
		t.rootfs = rootfs
		defer func() {
			if retErr != nil {
				if err := mount.UnmountAll(rootfs, syscall.MNT_DETACH); err != nil {
					log.G(ctx).WithError(err).Warn("unmounting rootfs")
				}
			}
		}()
	}

	co := lxcconv.Options{BundleDir: r.Bundle, DefaultAppArmorProfile: defaultAppArmor(cfg), StatHost: statHostDir}
	if t.rootfs != "" {
		co.RootfsPath = t.rootfs
	}
	if spec.Root != nil {
		root := spec.Root.Path
		if !filepath.IsAbs(root) {
			root = filepath.Join(r.Bundle, root)
		}
		co.RootFS = lxcconv.DirFS(root)
	}
	stateDir, err := prepareStateDir(ctx, cfg, r.Bundle, s.cfg.Namespace, r.ID)
	if err != nil {
		return nil, err
	}
	c, err := lxcrun.Prepare(ctx, stateDir, &spec, lxcrun.Options{
		Name: r.ID, Convert: co, Reaper: cfg.Init == config.InitReaper, BinDir: cfg.BinDir,
	})
	if err != nil {
		return nil, err
	}
	t.lxc = c
	defer func() {
		if retErr != nil {
			t.hooks.stopped(context.WithoutCancel(ctx)) // after c.Delete
		}
	}()
	defer func() {
		if retErr != nil {
			if err := c.Delete(context.WithoutCancel(ctx)); err != nil {
				log.G(ctx).WithError(err).Warn("removing LXC state")
			}
		}
	}()
	pio, err := newProcessIO(ctx, ioOwner{ID: r.ID, Namespace: s.cfg.Namespace}, r.Stdin, r.Stdout, ttyStderr(terminal, r.Stderr))
	if err != nil {
		return nil, err
	}
	var con *console
	defer func() {
		if retErr != nil && con != nil {
			con.Close()
		}
	}()
	err = c.Start(ctx, processStdio(pio, terminal))
	if err == nil && terminal {
		con, err = newConsole(ctx, pio, c.Console())
	}
	pio.closeChild()
	if err != nil {
		pio.Close()
		return nil, err
	}
	// nerdctl's networking: init exists, its namespaces too.
	t.hooks = newOCIHooks(r.ID, r.Bundle, &spec, c.Result().Hooks)
	if err := t.hooks.created(ctx, c.Pid()); err != nil {
		pio.Close()
		return nil, err
	}
	t.io = pio
	t.con = con
	t.pid = c.Pid()
	go s.waitExit(t)
	s.watchOOM(ctx, t)

	s.mu.Lock()
	s.tasks[r.ID] = t
	s.mu.Unlock()
	s.cfg.Publisher.Publish(ctx, runtime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: terminal},
		Pid:         uint32(t.pid),
	})
	return &taskapi.CreateTaskResponse{Pid: uint32(t.pid)}, nil
}

// statHostDir tells lxcconv whether a bind source on the host is a
// directory (create=dir) or a file (create=file). Without it lxcconv
// guesses from well-known names, and a file with another name — the
// kubelet's termination-log is /var/lib/kubelet/pods/<uid>/containers/
// <name>/<random> — was taken for a directory: LXC then failed to mount a
// file on the directory it made ("Not a directory").
func statHostDir(p string) (bool, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

// defaultAppArmor is the AppArmor profile of a spec that names none: the
// configured one, else "unconfined". An OCI spec without a profile runs
// unconfined under runc, and CRI relies on it: an unconfined pod (and
// every privileged container) gets no apparmorProfile, RuntimeDefault gets
// a named one. LXC's own default would confine those.
func defaultAppArmor(cfg config.Config) string {
	if cfg.AppArmorProfile != "" {
		return cfg.AppArmorProfile
	}
	return "unconfined"
}

// waitExit records the container's exit once its output is copied, and
// publishes it (after the start event, if Start is under way).
func (s *Service) waitExit(t *task) {
	ctx := log.WithLogger(context.Background(), log.L.WithField("id", t.id))
	st, err := t.lxc.Wait(ctx)
	code := uint32(st.ExitCode())
	if err != nil {
		log.G(ctx).WithError(err).Error("container ended without a status")
		code = exitUnknown
	}
	// Before the output is drained: a process init left in a shared pid
	// namespace would hold stdout open forever.
	if _, err := t.lxc.KillOrphans(ctx); err != nil {
		log.G(ctx).WithError(err).Warn("killing what the container's init left behind")
	}
	t.io.waitOutput()
	if t.con != nil {
		t.con.wait()
	}
	t.mu.Lock()
	t.exitStatus = code
	t.exitedAt = time.Now()
	t.state = stateStopped
	close(t.exited)
	t.mu.Unlock()
	log.G(ctx).WithField("status", st.String()).Debug("container exited")
	s.cfg.Publisher.Publish(ctx, runtime.TaskExitEventTopic, &eventstypes.TaskExit{
		ContainerID: t.id,
		ID:          t.id,
		Pid:         uint32(t.pid),
		ExitStatus:  code,
		ExitedAt:    timestamppb.New(t.exitedAt),
	})
}

// Start lets the created container's process run.
func (s *Service) Start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	resp, err := s.start(ctx, r)
	return resp, toGRPC(err)
}

func (s *Service) start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	if r.ExecID != "" {
		return s.execStart(ctx, r)
	}
	t, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if err := func() error {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.state != stateCreated {
			return wrongState("start", t.id, t.state)
		}
		if err := t.lxc.Release(ctx); err != nil {
			return err
		}
		t.state = stateRunning
		s.cfg.Publisher.Publish(ctx, runtime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: t.id, Pid: uint32(t.pid)})
		return nil
	}(); err != nil {
		return nil, err
	}
	// Outside t.mu: a poststart hook may ask for the task's state.
	t.hooks.started(ctx, t.pid)
	return &taskapi.StartResponse{Pid: uint32(t.pid)}, nil
}

// Wait returns the exit status; callers may come before Start and
// concurrently.
func (s *Service) Wait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	if r.ExecID != "" {
		resp, err := s.execWait(ctx, r)
		return resp, toGRPC(err)
	}
	t, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	select {
	case <-t.exited:
		return &taskapi.WaitResponse{ExitStatus: t.exitStatus, ExitedAt: timestamppb.New(t.exitedAt)}, nil
	case <-ctx.Done():
		return nil, toGRPC(ctx.Err())
	}
}

// State reports the task.
func (s *Service) State(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	if r.ExecID != "" {
		resp, err := s.execState(ctx, r)
		return resp, toGRPC(err)
	}
	t, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	resp := &taskapi.StateResponse{
		ID: t.id, Bundle: t.bundle, Pid: uint32(t.pid),
		Stdin: t.stdin, Stdout: t.stdout, Stderr: t.stderr, Terminal: t.con != nil,
	}
	switch t.state {
	case stateCreated:
		resp.Status = tasktypes.Status_CREATED
	case stateRunning:
		resp.Status = tasktypes.Status_RUNNING
	case statePaused:
		resp.Status = tasktypes.Status_PAUSED
	case stateStopped:
		resp.Status = tasktypes.Status_STOPPED
		resp.ExitStatus = t.exitStatus
		resp.ExitedAt = timestamppb.New(t.exitedAt)
	}
	return resp, nil
}

// Kill signals the container's init, or with All every process of the
// container (see Pids).
func (s *Service) Kill(ctx context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	if r.ExecID != "" {
		if err := s.execKill(ctx, r); err != nil {
			return nil, toGRPC(err)
		}
		return &emptypb.Empty{}, nil
	}
	t, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	select {
	case <-t.exited:
		return nil, toGRPC(fmt.Errorf("task %s: process already finished: %w", t.id, errdefs.ErrNotFound))
	default:
	}
	kill := t.lxc.Kill
	if r.All {
		kill = t.lxc.KillAll
	}
	if err := kill(ctx, syscall.Signal(r.Signal)); err != nil {
		return nil, toGRPC(err)
	}
	if syscall.Signal(r.Signal) == syscall.SIGKILL {
		// A frozen process does not die of SIGKILL (cgroup v1) until
		// it is thawed; runc thaws too.
		s.thawIfPaused(ctx, t)
	}
	return &emptypb.Empty{}, nil
}

// Delete removes a stopped (or never started) task: LXC state, rootfs
// mount.
func (s *Service) Delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	resp, err := s.delete(ctx, r)
	return resp, toGRPC(err)
}

func (s *Service) delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	if r.ExecID != "" {
		return s.execDelete(ctx, r)
	}
	t, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	st := t.state
	t.mu.Unlock()
	if st == stateRunning || st == statePaused {
		return nil, wrongState("delete", t.id, st)
	}
	if err := s.destroy(ctx, t); err != nil {
		return nil, err
	}
	s.cfg.Publisher.Publish(ctx, runtime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
		ContainerID: t.id, ID: t.id, Pid: uint32(t.pid),
		ExitStatus: t.exitStatus, ExitedAt: timestamppb.New(t.exitedAt),
	})
	return &taskapi.DeleteResponse{Pid: uint32(t.pid), ExitStatus: t.exitStatus, ExitedAt: timestamppb.New(t.exitedAt)}, nil
}

// destroy kills the container if needed, waits for its exit, removes its
// state and rootfs mount, and forgets it.
func (s *Service) destroy(ctx context.Context, t *task) error {
	t.mu.Lock()
	paused := t.state == statePaused
	t.mu.Unlock()
	if paused {
		// Frozen processes would not die of lxcrun's SIGKILL: signal,
		// then thaw.
		if err := t.lxc.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).WithField("id", t.id).Warn("killing the paused container")
		}
		s.thawIfPaused(ctx, t)
	}
	// lxcrun's Delete kills what still runs and removes the state dir.
	if err := t.lxc.Delete(ctx); err != nil {
		return err
	}
	if _, link := stateDirOf(t.bundle); link != "" {
		if err := removeStateLink(link); err != nil {
			log.G(ctx).WithError(err).Warn("removing the state directory link")
		}
	}
	select {
	case <-t.exited:
	case <-ctx.Done():
		return ctx.Err()
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
			return fmt.Errorf("unmounting rootfs: %w", err)
		}
	}
	t.hooks.stopped(ctx)
	s.mu.Lock()
	delete(s.tasks, t.id)
	s.mu.Unlock()
	return nil
}

// Cleanup destroys every task (the shim got SIGTERM).
func (s *Service) Cleanup(ctx context.Context) {
	s.mu.Lock()
	var ts []*task
	for _, t := range s.tasks {
		if t != nil {
			ts = append(ts, t)
		}
	}
	s.mu.Unlock()
	for _, t := range ts {
		if err := s.destroy(ctx, t); err != nil {
			log.G(ctx).WithError(err).WithField("id", t.id).Warn("cleanup")
		}
	}
}

// CleanupBundle removes what a shim that is gone left in bundle (the
// `delete` action): it kills the container if it still runs (init, then
// zfslxc-start, identified by the pids and start times lxcrun recorded in
// the state directory), removes the LXC state directory, unmounts the
// rootfs and runs the poststop hooks the shim did not run.
func CleanupBundle(ctx context.Context, bundle string) error {
	var errs []error
	dir, link := stateDirOf(bundle)
	// The state directory is gone once the shim's destroy ran, and with
	// it the poststop hooks.
	_, stateErr := os.Stat(dir)
	if err := lxcrun.Cleanup(ctx, dir); err != nil {
		errs = append(errs, fmt.Errorf("stopping the container: %w", err))
	} else if err := removeStateLink(link); err != nil {
		errs = append(errs, fmt.Errorf("state directory link: %w", err))
	}
	rootfs := filepath.Join(bundle, "rootfs")
	if err := mount.UnmountAll(rootfs, syscall.MNT_DETACH); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("unmounting rootfs: %w", err))
	}
	if stateErr == nil {
		if err := runBundlePoststop(ctx, bundle); err != nil {
			errs = append(errs, fmt.Errorf("poststop hooks: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Pids lists every process of the container (host pids, from its
// cgroup; exec processes with their exec id, as runc's shim). Once the
// task has exited it answers FailedPrecondition, as runc's shim does (its
// `runc ps` fails): neither NotFound nor an empty list, which containerd
// 2.x's restart takes for a leaked shim and deletes, losing the exit
// status of a task that ended while containerd was down.
func (s *Service) Pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	t, err := s.get(r.ID, "")
	if err != nil {
		return nil, toGRPC(err)
	}
	exited := func() error {
		return fmt.Errorf("task %s has exited: no processes: %w", t.id, errdefs.ErrFailedPrecondition)
	}
	select {
	case <-t.exited:
		return nil, toGRPC(exited())
	default:
	}
	pids, err := t.lxc.Pids(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, toGRPC(exited())
		}
		return nil, toGRPC(err)
	}
	resp := &taskapi.PidsResponse{}
	execs := t.execs.pidInfo()
	for _, p := range pids {
		info := &tasktypes.ProcessInfo{}
		if id, ok := execs[p]; ok {
			info = execInfo(ctx, id)
		}
		info.Pid = uint32(p)
		resp.Processes = append(resp.Processes, info)
	}
	return resp, nil
}

// Connect reports the shim's and the task's pids.
func (s *Service) Connect(ctx context.Context, r *taskapi.ConnectRequest) (*taskapi.ConnectResponse, error) {
	resp := &taskapi.ConnectResponse{ShimPid: uint32(os.Getpid())}
	if t, err := s.get(r.ID, ""); err == nil {
		resp.TaskPid = uint32(t.pid)
	}
	return resp, nil
}

// Shutdown makes the shim exit once no task is left.
func (s *Service) Shutdown(ctx context.Context, r *taskapi.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	n := len(s.tasks)
	s.mu.Unlock()
	if n > 0 && !r.Now {
		return &emptypb.Empty{}, nil
	}
	s.shutdownOnce.Do(func() {
		if s.cfg.Shutdown != nil {
			s.cfg.Shutdown()
		}
	})
	return &emptypb.Empty{}, nil
}

func notImplemented(what string) error {
	return toGRPC(fmt.Errorf("%s: %w", what, errdefs.ErrNotImplemented))
}

// Pause freezes every process of a running task (its cgroup) and
// returns once they are frozen; State then reports PAUSED.
func (s *Service) Pause(ctx context.Context, r *taskapi.PauseRequest) (*emptypb.Empty, error) {
	t, err := s.get(r.ID, "")
	if err != nil {
		return nil, toGRPC(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != stateRunning {
		return nil, toGRPC(wrongState("pause", t.id, t.state))
	}
	if err := t.lxc.Freeze(ctx); err != nil {
		if errdefs.IsNotFound(err) {
			err = fmt.Errorf("cannot pause task %s: %w: %w", t.id, err, errdefs.ErrFailedPrecondition)
		}
		return nil, toGRPC(err)
	}
	t.state = statePaused
	s.cfg.Publisher.Publish(ctx, runtime.TaskPausedEventTopic, &eventstypes.TaskPaused{ContainerID: t.id})
	return &emptypb.Empty{}, nil
}

// Resume thaws a paused task.
func (s *Service) Resume(ctx context.Context, r *taskapi.ResumeRequest) (*emptypb.Empty, error) {
	t, err := s.get(r.ID, "")
	if err != nil {
		return nil, toGRPC(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != statePaused {
		return nil, toGRPC(wrongState("resume", t.id, t.state))
	}
	if err := t.lxc.Thaw(ctx); err != nil {
		return nil, toGRPC(err)
	}
	t.state = stateRunning
	s.cfg.Publisher.Publish(ctx, runtime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: t.id})
	return &emptypb.Empty{}, nil
}

// thawIfPaused thaws a paused task (to let SIGKILL take effect); the
// task is RUNNING again until its exit is recorded.
func (s *Service) thawIfPaused(ctx context.Context, t *task) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != statePaused {
		return
	}
	if err := t.lxc.Thaw(ctx); err != nil {
		if !errdefs.IsNotFound(err) {
			log.G(ctx).WithError(err).WithField("id", t.id).Warn("thawing the paused container")
		}
		return
	}
	t.state = stateRunning
	s.cfg.Publisher.Publish(ctx, runtime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: t.id})
}

// Checkpoint is not implemented.
func (s *Service) Checkpoint(ctx context.Context, r *taskapi.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, notImplemented("checkpoint")
}

// ResizePty sets the window size of the terminal of the task's init
// (ExecID "") or of an exec process.
func (s *Service) ResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	if r.ExecID != "" {
		return s.execResizePty(ctx, r)
	}
	t, err := s.get(r.ID, "")
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := resizeConsole(t.id, t.con, r); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// CloseIO ends the stdin of the task's init or of an exec process.
func (s *Service) CloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	if r.ExecID != "" {
		return s.execCloseIO(ctx, r)
	}
	t, err := s.get(r.ID, "")
	if err != nil {
		return nil, toGRPC(err)
	}
	if r.Stdin {
		// The stdin copy ends at the FIFO's end of file, once the client
		// has closed its writer (see openInput); nothing of ours is open
		// for writing.
		log.G(ctx).WithField("id", t.id).Debug("close io: stdin")
	}
	return &emptypb.Empty{}, nil
}

// Update applies new resource limits (a specs.LinuxResources in an Any,
// as containerd sends for runc) to the container's cgroups.
func (s *Service) Update(ctx context.Context, r *taskapi.UpdateTaskRequest) (*emptypb.Empty, error) {
	t, err := s.get(r.ID, "")
	if err != nil {
		return nil, toGRPC(err)
	}
	if r.Resources == nil {
		return nil, toGRPC(fmt.Errorf("update %s: no resources: %w", t.id, errdefs.ErrInvalidArgument))
	}
	v, err := typeurl.UnmarshalAny(r.Resources)
	if err != nil {
		return nil, toGRPC(fmt.Errorf("update %s: resources: %w: %w", t.id, err, errdefs.ErrInvalidArgument))
	}
	res, ok := v.(*specs.LinuxResources)
	if !ok {
		return nil, toGRPC(fmt.Errorf("update %s: resources of type %s, want LinuxResources: %w", t.id, r.Resources.GetTypeUrl(), errdefs.ErrInvalidArgument))
	}
	if err := t.lxc.Update(ctx, res); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// Stats returns the container's cgroup metrics, as containerd's runc
// shim does: a cgroup1/stats.Metrics (cgroup v1) or cgroup2/stats.Metrics
// (v2) in an Any.
func (s *Service) Stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	t, err := s.get(r.ID, "")
	if err != nil {
		return nil, toGRPC(err)
	}
	select {
	case <-t.exited:
		return nil, toGRPC(fmt.Errorf("task %s: process already finished: %w", t.id, errdefs.ErrNotFound))
	default:
	}
	m, err := t.lxc.Metrics(ctx)
	if err != nil {
		return nil, toGRPC(err)
	}
	data, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		return nil, toGRPC(err)
	}
	return &taskapi.StatsResponse{Stats: data}, nil
}
