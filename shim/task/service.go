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

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/shim/config"
)

// StateDirName is the LXC state directory (lxcrun's) inside the bundle:
// config, process.json, exec fifo, status, lxc.log. Never /var/lib/lxc.
const StateDirName = "lxc"

// Config configures New.
type Config struct {
	Namespace string
	// Publisher sends the task events (a *Publisher; nil: none).
	Publisher Events
	// Shutdown is called (once) when containerd asks the shim to exit
	// and no task is left.
	Shutdown func()
	// Runtime runs the containers; nil: LXC through lxcrun.
	Runtime Runtime
}

// Service implements taskapi.TTRPCTaskService.
type Service struct {
	cfg          Config
	shutdownOnce sync.Once

	mu    sync.Mutex       // guards tasks
	tasks map[string]*task // guarded by mu; nil value: being created
}

var _ taskapi.TTRPCTaskService = (*Service)(nil)

// New returns the task service.
func New(ctx context.Context, cfg Config) *Service {
	if cfg.Runtime == nil {
		cfg.Runtime = lxcRuntime{}
	}
	return &Service{cfg: cfg, tasks: map[string]*task{}}
}

// Events is where the service sends its events (*Publisher).
type Events interface {
	Publish(ctx context.Context, topic string, event any)
}

// publish sends an event (nowhere without a publisher).
func (s *Service) publish(ctx context.Context, topic string, event any) {
	if s.cfg.Publisher != nil {
		s.cfg.Publisher.Publish(ctx, topic, event)
	}
}

// get returns task id.
func (s *Service) get(id string) (*task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	return t, nil
}

// process resolves the process a request names: the task's init
// (execID "") or one of its exec processes.
func (s *Service) process(id, execID string) (Process, error) {
	t, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if execID == "" {
		return t, nil
	}
	e := t.execs.get(execID)
	if e == nil {
		return nil, fmt.Errorf("exec %s of task %s: %w", execID, id, errdefs.ErrNotFound)
	}
	return e, nil
}

// forget removes a destroyed task.
func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.tasks, id)
	s.mu.Unlock()
}

// toGRPC is the one place errors become gRPC statuses: every method of
// the API returns through it, and nothing else calls errgrpc.
func toGRPC(err error) error { return errgrpc.ToGRPC(err) }

// Create mounts the rootfs, converts config.json and starts the container
// up to the point where init waits for Start.
func (s *Service) Create(ctx context.Context, r *taskapi.CreateTaskRequest) (*taskapi.CreateTaskResponse, error) {
	resp, err := s.create(ctx, r)
	return resp, toGRPC(err)
}

// create builds the task step by step; each step that leaves something
// behind adds its undo, run in reverse order when a later step fails.
func (s *Service) create(ctx context.Context, r *taskapi.CreateTaskRequest) (_ *taskapi.CreateTaskResponse, retErr error) {
	if r.Checkpoint != "" {
		return nil, fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented)
	}
	var undo []func()
	defer func() {
		if retErr != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := s.reserve(r.ID); err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.forget(r.ID) })
	cleanupCtx := context.WithoutCancel(ctx)

	cfg, err := loadConfig(ctx, r.Options)
	if err != nil {
		return nil, err
	}
	spec, err := readSpec(r.Bundle)
	if err != nil {
		return nil, err
	}
	t := &task{svc: s, id: r.ID, bundle: r.Bundle, stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, exit: newExitRecord(), sweep: leavesOrphans(spec)}
	t.state = createdState{t}
	if t.rootfs, err = mountRootfs(r); err != nil {
		return nil, err
	}
	if t.rootfs != "" {
		undo = append(undo, func() { unmountRootfs(cleanupCtx, t.rootfs) })
	}
	stateDir, err := prepareStateDir(ctx, cfg, r.Bundle, s.cfg.Namespace, r.ID)
	if err != nil {
		return nil, err
	}
	c, err := s.cfg.Runtime.Prepare(ctx, stateDir, spec, lxcrun.Options{
		Name: r.ID, Convert: convertOptions(cfg, r.Bundle, spec, t.rootfs, monitorCgroup(s.cfg.Namespace, r.ID)),
		Reaper: cfg.Init == config.InitReaper, BinDir: cfg.BinDir,
	})
	if err != nil {
		return nil, err
	}
	t.lxc = c
	undo = append(undo, func() {
		if err := c.Delete(cleanupCtx); err != nil {
			log.G(ctx).WithError(err).Warn("removing LXC state")
		}
		t.hooks.stopped(cleanupCtx)
	})
	// containerd sets both; either one asks for a pty.
	terminal := r.Terminal || (spec.Process != nil && spec.Process.Terminal)
	if err := t.startInit(ctx, terminal); err != nil {
		return nil, err
	}
	undo = append(undo, func() {
		t.io.Close()
		if t.con != nil {
			t.con.Close()
		}
	})
	// nerdctl's networking: init exists, its namespaces too.
	t.hooks = newOCIHooks(r.ID, r.Bundle, spec, c.Result().Hooks)
	if err := t.hooks.created(ctx, t.pid); err != nil {
		return nil, err
	}
	go t.waitExit()
	s.watchOOM(ctx, t)

	s.mu.Lock()
	s.tasks[r.ID] = t
	s.mu.Unlock()
	s.publish(ctx, runtime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: terminal},
		Pid:         uint32(t.pid),
	})
	return &taskapi.CreateTaskResponse{Pid: uint32(t.pid)}, nil
}

// reserve claims id for a task being created.
func (s *Service) reserve(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tasks[id]; ok {
		return fmt.Errorf("task %s: %w", id, errdefs.ErrAlreadyExists)
	}
	s.tasks[id] = nil
	return nil
}

// readSpec reads the bundle's config.json.
func readSpec(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", bundle, classify(err))
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("config.json: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	return &spec, nil
}

// mountRootfs mounts the request's rootfs at <bundle>/rootfs; "" when
// containerd gave none (the spec's root is used as it is).
func mountRootfs(r *taskapi.CreateTaskRequest) (string, error) {
	if len(r.Rootfs) == 0 {
		return "", nil
	}
	rootfs := filepath.Join(r.Bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o711); err != nil {
		return "", classify(err)
	}
	if err := mount.All(mount.FromProto(r.Rootfs), rootfs); err != nil {
		return "", fmt.Errorf("mounting rootfs: %w", classify(err))
	}
	return rootfs, nil
}

func unmountRootfs(ctx context.Context, rootfs string) {
	if err := mount.UnmountAll(rootfs, syscall.MNT_DETACH); err != nil {
		log.G(ctx).WithError(err).Warn("unmounting rootfs")
	}
}

// classify gives an OS error the errdefs class of its errno, so that it
// reaches containerd as more than Unknown.
func classify(err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %w", err, errdefs.ErrPermissionDenied)
	case errors.As(err, &errno) && (errno == syscall.EINVAL || errno == syscall.ENOTDIR):
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	case errors.As(err, &errno) && errno == syscall.EBUSY:
		return fmt.Errorf("%w: %w", err, errdefs.ErrUnavailable)
	}
	return err
}

// convertOptions are lxcconv's options for the task's spec.
func convertOptions(cfg config.Config, bundle string, spec *specs.Spec, rootfs, monitor string) lxcconv.Options {
	co := lxcconv.Options{BundleDir: bundle, DefaultAppArmorProfile: defaultAppArmor(cfg), RootfsPath: rootfs, HookCommand: hookCommand(), StatHost: statHostDir, MonitorCgroup: monitor}
	if spec.Root != nil {
		root := spec.Root.Path
		if !filepath.IsAbs(root) {
			root = filepath.Join(bundle, root)
		}
		co.RootFS = lxcconv.DirFS(root)
	}
	return co
}

// monitorCgroup is the cgroup of a task's LXC monitor (its zfslxc-start):
// one of its own at the top of each hierarchy, where LXC puts a monitor by
// default, named after the namespace and the id so that it is unique on
// the host. Not beside the container's cgroup: under CRI that is inside
// the pod's cgroup parent, and the monitor was charged to the pod. The
// monitor lives only while the task is created (ADR 0007); lxcrun removes
// this cgroup when it ends it.
func monitorCgroup(namespace, id string) string {
	return "lxc.monitor." + namespace + "." + id
}

// startInit opens the task's IO and starts init up to "ready" (OCI
// create); on failure nothing of it is left open.
func (t *task) startInit(ctx context.Context, terminal bool) error {
	pio, err := newProcessIO(ctx, ioOwner{ID: t.id, Namespace: t.svc.cfg.Namespace}, t.stdin, t.stdout, ttyStderr(terminal, t.stderr))
	if err != nil {
		return err
	}
	var con *console
	err = t.lxc.Start(ctx, processStdio(pio, terminal))
	if err == nil && terminal {
		con, err = newConsole(ctx, pio, t.lxc.Console())
	}
	pio.closeChild()
	if err != nil {
		pio.Close()
		return err
	}
	t.io, t.con, t.pid = pio, con, t.lxc.Pid()
	return nil
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

// Start runs the task's init (OCI start) or a created exec process.
func (s *Service) Start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	pid, err := p.Start(ctx)
	if err != nil {
		return nil, toGRPC(err)
	}
	return &taskapi.StartResponse{Pid: uint32(pid)}, nil
}

// Wait returns the exit status; callers may come before Start and
// concurrently.
func (s *Service) Wait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	resp, err := p.Exited().wait(ctx)
	return resp, toGRPC(err)
}

// State reports the task's init or an exec process.
func (s *Service) State(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	return p.State(ctx), nil
}

// Kill signals the container's init (with All every process of the
// container, see Pids) or an exec process.
func (s *Service) Kill(ctx context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := p.Kill(ctx, syscall.Signal(r.Signal), r.All); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// Delete removes a stopped (or never started) task or exec process.
func (s *Service) Delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	resp, err := p.Delete(ctx)
	return resp, toGRPC(err)
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
		if err := t.terminate(ctx); err != nil {
			log.G(ctx).WithError(err).WithField("id", t.id).Warn("cleanup")
		}
	}
}

// CleanupBundle removes what a shim that is gone left in bundle (the
// `delete` action), as runc's shim does: each step is logged and the next
// one runs whatever happened. It kills the container if it still runs
// (init, then zfslxc-start, identified by the pids and start times
// lxcrun recorded in the state directory), removes the LXC state
// directory, unmounts the rootfs and runs the poststop hooks the shim did
// not run. It returns init's exit status as recorded, nil if none was.
func CleanupBundle(ctx context.Context, bundle string) *lxcrun.Status {
	dir, link := stateDirOf(bundle)
	logger := log.G(ctx).WithField("bundle", bundle)
	// The state directory is gone once the shim's destroy ran, and with
	// it the poststop hooks.
	_, stateErr := os.Stat(dir)
	status, err := lxcrun.Cleanup(ctx, dir)
	if err != nil {
		logger.WithError(err).Warn("delete: stopping the container and removing its state")
	} else if err := removeStateLink(link); err != nil {
		logger.WithError(err).Warn("delete: removing the state directory link")
	}
	rootfs := filepath.Join(bundle, "rootfs")
	if err := mount.UnmountAll(rootfs, syscall.MNT_DETACH); err != nil && !errors.Is(err, os.ErrNotExist) {
		logger.WithError(err).Warn("delete: unmounting the rootfs")
	}
	if stateErr == nil {
		if err := runBundlePoststop(ctx, bundle); err != nil {
			logger.WithError(err).Warn("delete: poststop hooks")
		}
	}
	logger.WithField("status", status).Info("delete: cleaned up after the shim")
	return status
}

// Pids lists every process of the container (host pids, from its
// cgroup; exec processes with their exec id, as runc's shim). Once the
// task has exited it answers FailedPrecondition, as runc's shim does (its
// `runc ps` fails): neither NotFound nor an empty list, which containerd
// 2.x's restart takes for a leaked shim and deletes, losing the exit
// status of a task that ended while containerd was down.
func (s *Service) Pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	resp, err := s.pids(ctx, r)
	return resp, toGRPC(err)
}

func (s *Service) pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	exited := fmt.Errorf("task %s has exited: no processes: %w", t.id, errdefs.ErrFailedPrecondition)
	if t.exit.exited() {
		return nil, exited
	}
	pids, err := t.lxc.Pids(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, exited
		}
		return nil, err
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
	if t, err := s.get(r.ID); err == nil {
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

// Pause freezes every process of a running task (its cgroup) and
// returns once they are frozen; State then reports PAUSED.
func (s *Service) Pause(ctx context.Context, r *taskapi.PauseRequest) (*emptypb.Empty, error) {
	return s.withInit(r.ID, func(t *task) error { return t.state.pause(ctx) })
}

// Resume thaws a paused task.
func (s *Service) Resume(ctx context.Context, r *taskapi.ResumeRequest) (*emptypb.Empty, error) {
	return s.withInit(r.ID, func(t *task) error { return t.state.resume(ctx) })
}

// withInit runs fn on task id's init with its mutex held.
func (s *Service) withInit(id string, fn func(t *task) error) (*emptypb.Empty, error) {
	t, err := s.get(id)
	if err != nil {
		return nil, toGRPC(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := fn(t); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// Checkpoint is not implemented.
func (s *Service) Checkpoint(ctx context.Context, r *taskapi.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, toGRPC(fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented))
}

// ResizePty sets the window size of the terminal of the task's init
// (ExecID "") or of an exec process.
func (s *Service) ResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	if err := p.Resize(ctx, r.Width, r.Height); err != nil {
		return nil, toGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// CloseIO ends the stdin of the task's init or of an exec process.
func (s *Service) CloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	p, err := s.process(r.ID, r.ExecID)
	if err != nil {
		return nil, toGRPC(err)
	}
	if r.Stdin {
		// The stdin copy ends at the FIFO's end of file, once the client
		// has closed its writer (see openInput); nothing of ours is open
		// for writing.
		log.G(ctx).WithFields(log.Fields{"id": r.ID, "exec": r.ExecID, "process": p.ID()}).Debug("close io: stdin")
	}
	return &emptypb.Empty{}, nil
}

// Update applies new resource limits (a specs.LinuxResources in an Any,
// as containerd sends for runc) to the container's cgroups.
func (s *Service) Update(ctx context.Context, r *taskapi.UpdateTaskRequest) (*emptypb.Empty, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, toGRPC(err)
	}
	res, err := linuxResources(t.id, r)
	if err != nil {
		return nil, toGRPC(err)
	}
	return s.withInit(r.ID, func(t *task) error { return t.state.update(ctx, res) })
}

// linuxResources decodes an update's resources.
func linuxResources(id string, r *taskapi.UpdateTaskRequest) (*specs.LinuxResources, error) {
	if r.Resources == nil {
		return nil, fmt.Errorf("update %s: no resources: %w", id, errdefs.ErrInvalidArgument)
	}
	v, err := typeurl.UnmarshalAny(r.Resources)
	if err != nil {
		return nil, fmt.Errorf("update %s: resources: %w: %w", id, err, errdefs.ErrInvalidArgument)
	}
	res, ok := v.(*specs.LinuxResources)
	if !ok {
		return nil, fmt.Errorf("update %s: resources of type %s, want LinuxResources: %w", id, r.Resources.GetTypeUrl(), errdefs.ErrInvalidArgument)
	}
	return res, nil
}

// Stats returns the container's cgroup metrics, as containerd's runc
// shim does: a cgroup1/stats.Metrics (cgroup v1) or cgroup2/stats.Metrics
// (v2) in an Any.
func (s *Service) Stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	resp, err := s.stats(ctx, r)
	return resp, toGRPC(err)
}

func (s *Service) stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if t.exit.exited() {
		return nil, finishedError("task", t.id)
	}
	m, err := t.lxc.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	data, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		return nil, err
	}
	return &taskapi.StatsResponse{Stats: data}, nil
}
