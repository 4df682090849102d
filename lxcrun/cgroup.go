package lxcrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// cgroupsOf reads /proc/pid/cgroup. On a v2 host only the unified
// hierarchy counts; on a v1 host each controller's directory is the one
// that exists, under the hierarchy's mount (named after its controller
// list, e.g. cpu,cpuacct) or a controller's own name.
func cgroupsOf(pid int) (*cgroups, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	v, err := CgroupVersion()
	if err != nil {
		return nil, err
	}
	return parseCgroups(string(data), cgroupRoot, v)
}

func parseCgroups(data, root string, version int) (*cgroups, error) {
	cg := &cgroups{v1: map[string]string{}}
	for _, l := range strings.Split(data, "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			if version == 2 {
				cg.unified = filepath.Join(root, parts[2])
			}
			continue
		}
		if version == 2 || strings.HasPrefix(parts[1], "name=") {
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			for _, mnt := range []string{parts[1], ctrl} {
				dir := filepath.Join(root, mnt, parts[2])
				if _, err := os.Stat(dir); err == nil {
					cg.v1[ctrl] = dir
					break
				}
			}
		}
	}
	if cg.unified == "" && len(cg.v1) == 0 {
		return nil, fmt.Errorf("no cgroup found in %s", root)
	}
	return cg, nil
}

// runningCgroups returns the cgroups of the running container's init.
func (c *Container) runningCgroups() (*cgroups, error) {
	pid, err := c.runningPid()
	if err != nil {
		return nil, err
	}
	cg, err := cgroupsOf(pid)
	if err != nil {
		return nil, c.goneIfMissing(err)
	}
	return cg, nil
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

// readKV reads a flat keyed file ("key value" lines); values that are
// not unsigned numbers are skipped.
func readKV(file string) (map[string]uint64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	kv := map[string]uint64{}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			kv[f[0]] = n
		}
	}
	return kv, nil
}
