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
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// orphanTimeout bounds how long KillOrphans waits for the processes it
// killed to leave the cgroups.
const orphanTimeout = 10 * time.Second

// cgroupDirsOf lists the directories of process pid's cgroups in every
// mounted hierarchy (hierarchyDirs), leaving out hierarchy roots.
func cgroupDirsOf(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, h := range hierarchyDirs(string(data), cgroupRoot) {
		if h.dir != h.mount && strings.HasPrefix(h.dir, h.mount+"/") {
			dirs = append(dirs, h.dir)
		}
	}
	return dirs, nil
}

// ownCgroupDirs is cgroupDirsOf(pid) without the directories this process
// is in too: KillOrphans must never sweep a cgroup the container shares
// with its shim.
func ownCgroupDirs(pid int) ([]string, error) {
	dirs, err := cgroupDirsOf(pid)
	if err != nil {
		return nil, err
	}
	self, err := cgroupDirsOf(os.Getpid())
	if err != nil {
		return nil, err
	}
	var own []string
	for _, d := range dirs {
		shared := false
		for _, s := range self {
			if s == d || strings.HasPrefix(s, d+"/") {
				shared = true
			}
		}
		if !shared {
			own = append(own, d)
		}
	}
	return own, nil
}

// KillOrphans ends what a container left behind once its init has
// exited: every process still in its cgroups gets SIGKILL, then the
// cgroup directories go. The kernel ends a pid namespace's processes only
// when its PID 1 exits, so a container that joins another's pid namespace
// (a Kubernetes pod with shareProcessNamespace: its PID 1 is the pause
// process) keeps the children of its init running after init exits, and
// LXC's teardown cannot remove their busy cgroups; runc kills them (its
// shim's kill --all on init exit), and so does this. For a container with
// its own pid namespace there is nothing left and it returns at once. It
// reports how many processes it killed; FailedPrecondition before init
// has exited. It may run while liblxc still tears the container down (the
// monitor is in a cgroup of its own, never swept).
func (c *Container) KillOrphans(ctx context.Context) (int, error) {
	st := c.started()
	if st == nil {
		return 0, fmt.Errorf("container %s is not created: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	select {
	case <-st.exited: // init reaped; liblxc may still be tearing down
	default:
		return 0, fmt.Errorf("container %s: init still runs: %w", c.name, errdefs.ErrFailedPrecondition)
	}
	c.mu.Lock()
	dirs := c.cgroupDirs
	c.mu.Unlock()
	killed := map[int]bool{}
	deadline := time.Now().Add(orphanTimeout)
	for {
		var pids []int
		for _, d := range dirs {
			p, err := procsBelow(d)
			if err != nil {
				return len(killed), err
			}
			pids = append(pids, p...)
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return len(killed), fmt.Errorf("container %s: processes %v still in its cgroups %v after SIGKILL", c.name, pids, orphanTimeout)
		}
		for _, p := range pids {
			if err := unix.Kill(p, syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				return len(killed), fmt.Errorf("container %s: killing %d: %w", c.name, p, err)
			}
			killed[p] = true
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(killed) > 0 {
		log.G(ctx).WithField("processes", len(killed)).Info("lxcrun: killed the processes init left behind (shared pid namespace)")
	}
	if len(killed) == 0 {
		return 0, nil // LXC's own teardown removes the cgroups
	}
	removeCgroups(ctx, dirs)
	return len(killed), nil
}

// procsBelow lists the pids in dir's cgroup.procs and in those of the
// cgroups below it; a cgroup removed meanwhile (ENOENT, or ENODEV while
// the kernel removes it) counts as empty.
func procsBelow(dir string) ([]int, error) {
	var pids []int
	err := walkCgroups(dir, func(p string) error {
		data, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if cgroupGone(err) {
			return nil
		}
		if err != nil {
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
