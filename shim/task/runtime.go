package task

import (
	"context"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// Runtime prepares containers. The service talks to LXC only through it
// (lxcRuntime, package lxcrun), so that its life cycle can be tested with
// a fake.
type Runtime interface {
	// Prepare converts spec and writes the container's state into dir;
	// nothing runs yet (lxcrun.Prepare).
	Prepare(ctx context.Context, dir string, spec *specs.Spec, opts lxcrun.Options) (Container, error)
}

// Container is one container as the service uses it: the methods of
// *lxcrun.Container, with Exec returning an ExecRunner.
type Container interface {
	Result() *lxcconv.Result
	Start(ctx context.Context, stdio lxcrun.Stdio) error
	Pid() int
	Console() *os.File
	Release(ctx context.Context) error
	Wait(ctx context.Context) (lxcrun.Status, error)
	Kill(ctx context.Context, sig syscall.Signal) error
	KillAll(ctx context.Context, sig syscall.Signal) error
	KillOrphans(ctx context.Context) (int, error)
	Delete(ctx context.Context) error
	Pids(ctx context.Context) ([]int, error)
	Freeze(ctx context.Context) error
	Thaw(ctx context.Context) error
	Update(ctx context.Context, r *specs.LinuxResources) error
	Metrics(ctx context.Context) (any, error)
	WatchOOM(ctx context.Context, onOOM func()) error
	Exec(ctx context.Context, id string, p *lxcconv.Process, stdio lxcrun.Stdio) (ExecRunner, error)
}

// ExecRunner is a started exec process (*lxcrun.Process).
type ExecRunner interface {
	Pid() int
	Console() *os.File
	Wait(ctx context.Context) (lxcrun.Status, error)
	Kill(ctx context.Context, sig syscall.Signal) error
	Delete(ctx context.Context)
}

// lxcRuntime is the Runtime of package lxcrun.
type lxcRuntime struct{}

func (lxcRuntime) Prepare(ctx context.Context, dir string, spec *specs.Spec, opts lxcrun.Options) (Container, error) {
	c, err := lxcrun.Prepare(ctx, dir, spec, opts)
	if err != nil {
		return nil, err
	}
	return lxcContainer{c}, nil
}

// lxcContainer adapts *lxcrun.Container to Container.
type lxcContainer struct{ *lxcrun.Container }

func (c lxcContainer) Exec(ctx context.Context, id string, p *lxcconv.Process, stdio lxcrun.Stdio) (ExecRunner, error) {
	run, err := c.Container.Exec(ctx, id, p, stdio)
	if err != nil {
		return nil, err
	}
	return run, nil
}
