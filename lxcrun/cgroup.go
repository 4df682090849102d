package lxcrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// Pids lists the host pids of every process of the running container,
// from its cgroup (LXC's payload cgroup, found through init's
// /proc/PID/cgroup, and the cgroups below it). It reports
// errdefs.ErrNotFound once the container has ended.
func (c *Container) Pids(ctx context.Context) ([]int, error) {
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	pids, err := m.procs()
	return pids, c.goneIfMissing(err)
}

// runningPid returns init's host pid while the container runs:
// FailedPrecondition before it is created, NotFound once it has ended.
func (c *Container) runningPid() (int, error) {
	st := c.started()
	pid := 0
	if st != nil {
		pid = st.Pid()
	}
	if pid == 0 {
		return 0, fmt.Errorf("container %s is not created: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	if st.finished() {
		return 0, fmt.Errorf("container %s: process already finished: %w", c.name, errdefs.ErrNotFound)
	}
	return pid, nil
}

// goneIfMissing reports a /proc or cgroup file that vanished as the
// container having ended.
func (c *Container) goneIfMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("container %s: process already finished: %w", c.name, errdefs.ErrNotFound)
	}
	return err
}

// KillAll sends sig to every process of the container (Pids), init
// through its pidfd. The list is read once: a process forked meanwhile
// may be missed, as with runc without a frozen cgroup.
func (c *Container) KillAll(ctx context.Context, sig syscall.Signal) error {
	pids, err := c.Pids(ctx)
	if err != nil {
		return err
	}
	if err := c.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	init := c.Pid()
	var errs []error
	for _, p := range pids {
		if p == init {
			continue
		}
		if err := unix.Kill(p, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %d to %d: %w", int(sig), p, err))
		}
	}
	return errors.Join(errs...)
}

// cgroups is where a process's cgroups are: dir of the unified
// hierarchy (v2), or the directory of each v1 controller.
type cgroups struct {
	unified string            // v2: the cgroup's directory
	v1      map[string]string // v1: controller ("memory", "cpuacct", ...) -> directory
}

// Freeze freezes every process of the container (its cgroup and those
// below) and returns once they all are frozen (cgroups/v3: v1
// freezer.state FROZEN, v2 cgroup.freeze).
func (c *Container) Freeze(ctx context.Context) error {
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return c.goneIfMissing(m.freeze())
}

// Thaw lets the frozen processes of the container run again.
func (c *Container) Thaw(ctx context.Context) error {
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return c.goneIfMissing(m.thaw())
}

// Metrics returns the container's cgroup statistics: a
// *cgroup1/stats.Metrics (v1) or *cgroup2/stats.Metrics (v2), from
// containerd/cgroups/v3 as containerd's runc shim does.
func (c *Container) Metrics(ctx context.Context) (any, error) {
	m, err := c.cgroupManager()
	if err != nil {
		return nil, err
	}
	st, err := m.stat()
	return st, c.goneIfMissing(err)
}

// readUint reads a file holding one number; "max" is 0 (no limit).
func readUint(file string) (uint64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
