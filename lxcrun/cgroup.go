package lxcrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	c.mu.Lock()
	pid, done := c.pid, c.finished()
	c.mu.Unlock()
	if pid == 0 {
		return nil, fmt.Errorf("container %s is not created: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	if done {
		return nil, fmt.Errorf("container %s: process already finished: %w", c.name, errdefs.ErrNotFound)
	}
	dir, err := cgroupDir(pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %s: process already finished: %w", c.name, errdefs.ErrNotFound)
		}
		return nil, err
	}
	return cgroupProcs(dir)
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

// cgroupDir is the directory of pid's cgroup in one hierarchy: the
// unified one (v2), else pids, else cpu,cpuacct, else the first one
// mounted (v1).
func cgroupDir(pid int) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	paths := map[string]string{} // controllers (as in the file) -> path
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			if v, err := CgroupVersion(); err == nil && v == 2 {
				return filepath.Join(cgroupRoot, parts[2]), nil
			}
			continue
		}
		paths[parts[1]] = parts[2]
		order = append(order, parts[1])
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	prefer := []string{"pids", "cpu,cpuacct", "memory"}
	for _, ctrl := range order {
		prefer = append(prefer, ctrl)
	}
	for _, ctrl := range prefer {
		p, ok := paths[ctrl]
		if !ok || strings.HasPrefix(ctrl, "name=") {
			continue
		}
		dir := filepath.Join(cgroupRoot, ctrl, p)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no cgroup of process %d found under %s", pid, cgroupRoot)
}

// cgroupProcs lists the pids in dir's cgroup.procs and in those of its
// descendants.
func cgroupProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return nil
	})
	return pids, err
}
