package lxcrun

import (
	"errors"
	"fmt"

	cgv3 "github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
)

// cgroupManager is the container's cgroup through containerd/cgroups/v3,
// the library runc's shim uses: cgroup1 on a v1 or hybrid host, cgroup2
// on a unified one. Update and the OOM watch keep their own file I/O
// (update.go, oom.go): an update writes the same lxcconv keys as create.
type cgroupManager interface {
	procs() ([]int, error)
	freeze() error
	thaw() error
	stat() (any, error)
}

// cgroupManager loads the cgroup of the running container's init.
func (c *Container) cgroupManager() (cgroupManager, error) {
	pid, err := c.runningPid()
	if err != nil {
		return nil, err
	}
	m, err := loadCgroup(pid)
	if err != nil {
		return nil, c.goneIfMissing(err)
	}
	return m, nil
}

func loadCgroup(pid int) (cgroupManager, error) {
	if cgv3.Mode() == cgv3.Unified {
		path, err := cgroup2.PidGroupPath(pid)
		if err != nil {
			return nil, err
		}
		m, err := cgroup2.Load(path)
		if err != nil {
			return nil, err
		}
		return v2Manager{m}, nil
	}
	// LXC puts the container at the same path in every v1 hierarchy.
	// cgroup1.PidPath would resolve each controller against our mounts,
	// and fails ("cgroup mountpoint does not exist") on a controller the
	// container lists and this host does not mount.
	paths, _, err := cgv3.ParseCgroupFileUnified(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	path, ok := "", false
	for _, ctrl := range []string{"pids", "memory", "freezer", "cpuacct", "devices"} {
		if path, ok = paths[ctrl]; ok {
			break
		}
	}
	if !ok {
		return nil, fmt.Errorf("process %d has no pids, memory, freezer, cpuacct or devices cgroup: %w", pid, errdefs.ErrNotImplemented)
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path))
	if err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) {
			return nil, fmt.Errorf("cgroup of %d: %w: %w", pid, err, errdefs.ErrNotFound)
		}
		return nil, err
	}
	return v1Manager{cg}, nil
}

// v1Manager is a cgroup1.Cgroup.
type v1Manager struct{ cg cgroup1.Cgroup }

// procs lists the processes of the first of these hierarchies the
// container has, its cgroup and those below.
func (m v1Manager) procs() ([]int, error) {
	for _, s := range []cgroup1.Name{cgroup1.Pids, cgroup1.Cpuacct, cgroup1.Memory, cgroup1.Freezer, cgroup1.Devices} {
		ps, err := m.cg.Processes(s, true)
		if errors.Is(err, cgroup1.ErrControllerNotActive) {
			continue
		}
		if err != nil {
			return nil, err
		}
		pids := make([]int, 0, len(ps))
		for _, p := range ps {
			pids = append(pids, p.Pid)
		}
		return pids, nil
	}
	return nil, fmt.Errorf("no pids, cpuacct, memory, freezer or devices cgroup: %w", errdefs.ErrNotImplemented)
}

func (m v1Manager) freeze() error { return freezerErr(m.cg.Freeze()) }
func (m v1Manager) thaw() error   { return freezerErr(m.cg.Thaw()) }

func freezerErr(err error) error {
	if errors.Is(err, cgroup1.ErrFreezerNotSupported) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotImplemented)
	}
	return err
}

func (m v1Manager) stat() (any, error) { return m.cg.Stat(cgroup1.IgnoreNotExist) }

// v2Manager is a cgroup2.Manager.
type v2Manager struct{ m *cgroup2.Manager }

func (m v2Manager) procs() ([]int, error) {
	ps, err := m.m.Procs(true)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(ps))
	for _, p := range ps {
		pids = append(pids, int(p))
	}
	return pids, nil
}

func (m v2Manager) freeze() error      { return m.m.Freeze() }
func (m v2Manager) thaw() error        { return m.m.Thaw() }
func (m v2Manager) stat() (any, error) { return m.m.Stat() }
