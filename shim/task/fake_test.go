package task

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// fakeRuntime is a Runtime whose containers are bookkeeping only: the
// service's life cycle runs against it without LXC.
type fakeRuntime struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer // guarded by mu
	nextPid    int                       // guarded by mu
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{containers: map[string]*fakeContainer{}, nextPid: 1000}
}

func (r *fakeRuntime) Prepare(ctx context.Context, dir string, spec *specs.Spec, opts lxcrun.Options) (Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextPid++
	c := &fakeContainer{rt: r, pid: r.nextPid, exited: make(chan struct{}), execs: map[string]*fakeExec{}}
	r.containers[opts.Name] = c
	return c, nil
}

func (r *fakeRuntime) container(id string) *fakeContainer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.containers[id]
}

func (r *fakeRuntime) newPid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextPid++
	return r.nextPid
}

// fakeContainer's init "exits" when it gets SIGKILL or SIGTERM, or when
// exit is called.
type fakeContainer struct {
	rt  *fakeRuntime
	pid int

	mu       sync.Mutex
	started  bool                 // guarded by mu
	released bool                 // guarded by mu
	frozen   bool                 // guarded by mu
	deleted  int                  // guarded by mu; Delete calls
	sweeps   int                  // guarded by mu; KillOrphans calls
	signals  []syscall.Signal     // guarded by mu
	execs    map[string]*fakeExec // guarded by mu
	exited   chan struct{}        // closed by exit, under mu
	status   lxcrun.Status        // written before exited is closed
}

func (c *fakeContainer) Result() *lxcconv.Result { return &lxcconv.Result{} }

func (c *fakeContainer) Start(ctx context.Context, stdio lxcrun.Stdio) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	return nil
}

func (c *fakeContainer) Pid() int          { return c.pid }
func (c *fakeContainer) Console() *os.File { return nil }

func (c *fakeContainer) ended() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// exit ends init (and with it every exec process) with st.
func (c *fakeContainer) exit(st lxcrun.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.exitLocked(st)
}

func (c *fakeContainer) exitLocked(st lxcrun.Status) {
	if c.ended() {
		return
	}
	c.status = st
	close(c.exited)
	for _, e := range c.execs {
		e.exit(lxcrun.Status{Signal: syscall.SIGKILL})
	}
}

func (c *fakeContainer) Release(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || c.ended() {
		return fmt.Errorf("fake: release: %w", errdefs.ErrFailedPrecondition)
	}
	c.released = true
	return nil
}

func (c *fakeContainer) Wait(ctx context.Context) (lxcrun.Status, error) {
	select {
	case <-c.exited:
		return c.status, nil
	case <-ctx.Done():
		return lxcrun.Status{}, ctx.Err()
	}
}

func (c *fakeContainer) Kill(ctx context.Context, sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended() {
		return fmt.Errorf("fake: %w", errdefs.ErrNotFound)
	}
	c.signals = append(c.signals, sig)
	if (sig == syscall.SIGKILL && !c.frozen) || sig == syscall.SIGTERM {
		c.exitLocked(lxcrun.Status{Signal: sig})
	}
	return nil
}

func (c *fakeContainer) KillOrphans(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweeps++
	return 0, nil
}

func (c *fakeContainer) KillAll(ctx context.Context, sig syscall.Signal) error {
	return c.Kill(ctx, sig)
}

func (c *fakeContainer) Delete(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted++
	c.exitLocked(lxcrun.Status{Signal: syscall.SIGKILL})
	return nil
}

func (c *fakeContainer) Pids(ctx context.Context) ([]int, error) {
	if c.ended() {
		return nil, errdefs.ErrNotFound
	}
	return []int{c.pid}, nil
}

func (c *fakeContainer) setFrozen(frozen bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended() {
		return fmt.Errorf("fake: %w", errdefs.ErrNotFound)
	}
	c.frozen = frozen
	if !frozen && len(c.signals) > 0 && c.signals[len(c.signals)-1] == syscall.SIGKILL {
		c.exitLocked(lxcrun.Status{Signal: syscall.SIGKILL})
	}
	return nil
}

func (c *fakeContainer) Freeze(ctx context.Context) error { return c.setFrozen(true) }
func (c *fakeContainer) Thaw(ctx context.Context) error   { return c.setFrozen(false) }

func (c *fakeContainer) Update(ctx context.Context, r *specs.LinuxResources) error {
	if c.ended() {
		return fmt.Errorf("fake: %w", errdefs.ErrNotFound)
	}
	return nil
}

func (c *fakeContainer) Metrics(ctx context.Context) (any, error) { return &v1stats.Metrics{}, nil }

func (c *fakeContainer) WatchOOM(ctx context.Context, onOOM func()) error {
	return fmt.Errorf("fake: %w", errdefs.ErrNotImplemented)
}

func (c *fakeContainer) Exec(ctx context.Context, id string, p *lxcconv.Process, stdio lxcrun.Stdio) (ExecRunner, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released || c.ended() {
		return nil, fmt.Errorf("fake: container not running: %w", errdefs.ErrFailedPrecondition)
	}
	if len(p.Args) > 0 && p.Args[0] == "missing" {
		return nil, fmt.Errorf("fake: exec %s: %w", id, lxcrun.ErrExecFailed)
	}
	e := &fakeExec{pid: c.rt.newPid(), exited: make(chan struct{})}
	c.execs[id] = e
	return e, nil
}

func (c *fakeContainer) exec(id string) *fakeExec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.execs[id]
}

// fakeExec ends on SIGKILL or SIGTERM, or with its container.
type fakeExec struct {
	pid int

	mu      sync.Mutex
	deleted bool          // guarded by mu
	exited  chan struct{} // closed by exit, under mu
	status  lxcrun.Status // written before exited is closed
}

func (e *fakeExec) Pid() int          { return e.pid }
func (e *fakeExec) Console() *os.File { return nil }

func (e *fakeExec) exit(st lxcrun.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.exited:
	default:
		e.status = st
		close(e.exited)
	}
}

func (e *fakeExec) Wait(ctx context.Context) (lxcrun.Status, error) {
	select {
	case <-e.exited:
		return e.status, nil
	case <-ctx.Done():
		return lxcrun.Status{}, ctx.Err()
	}
}

func (e *fakeExec) Kill(ctx context.Context, sig syscall.Signal) error {
	select {
	case <-e.exited:
		return fmt.Errorf("fake: %w", errdefs.ErrNotFound)
	default:
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		e.exit(lxcrun.Status{Signal: sig})
	}
	return nil
}

func (e *fakeExec) Delete(ctx context.Context) {
	e.exit(lxcrun.Status{Signal: syscall.SIGKILL})
	e.mu.Lock()
	e.deleted = true
	e.mu.Unlock()
}

// events records what the service publishes.
type events struct {
	mu     sync.Mutex
	topics []string // guarded by mu
	events []any    // guarded by mu
}

func (ev *events) Publish(ctx context.Context, topic string, event any) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.topics = append(ev.topics, topic)
	ev.events = append(ev.events, event)
}

func (ev *events) list() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]string(nil), ev.topics...)
}

func (ev *events) count(topic string) int {
	n := 0
	for _, t := range ev.list() {
		if t == topic {
			n++
		}
	}
	return n
}

// lxcStatus is an exit with code.
func lxcStatus(code int) lxcrun.Status { return lxcrun.Status{Code: code} }
