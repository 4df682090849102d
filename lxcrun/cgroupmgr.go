package lxcrun

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	cgv3 "github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
)

// cgroupManager is the container's cgroup through containerd/cgroups/v3,
// the library runc's shim uses: cgroup1 on a v1 or hybrid host, cgroup2
// on a unified one. Update keeps its own writes of lxcconv's keys
// (update.go, ADR 0006).
type cgroupManager interface {
	procs() ([]int, error)
	freeze() error
	thaw() error
	stat() (any, error)
	watchOOM(ctx context.Context, onOOM func()) error
	// dirs is where Update writes: the unified directory (v2) or each
	// v1 controller's directory.
	dirs() *cgroups
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
		return v2Manager{m: m, dir: filepath.Join(cgroupRoot, path)}, nil
	}
	// cgroup1.PidPath would resolve each controller against our mounts,
	// and fails ("cgroup mountpoint does not exist") on a controller the
	// container lists and this host does not mount: resolve from
	// /proc/PID/cgroup alone, a controller it lacks being inactive.
	paths, _, err := cgv3.ParseCgroupFileUnified(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	path := func(n cgroup1.Name) (string, error) {
		if p, ok := paths[string(n)]; ok {
			return p, nil
		}
		return "", cgroup1.ErrControllerNotActive
	}
	cg, err := cgroup1.Load(path)
	if err != nil {
		if errors.Is(err, cgroup1.ErrCgroupDeleted) {
			return nil, fmt.Errorf("cgroup of %d: %w: %w", pid, err, errdefs.ErrNotFound)
		}
		return nil, err
	}
	return v1Manager{cg: cg, paths: paths}, nil
}

// v1Manager is a cgroup1.Cgroup.
type v1Manager struct {
	cg    cgroup1.Cgroup
	paths map[string]string // controller -> path in its hierarchy (/proc/PID/cgroup)
}

// dirs lists the directory of each controller the library loaded (those
// whose hierarchy holds the container's path).
func (m v1Manager) dirs() *cgroups {
	cg := &cgroups{v1: map[string]string{}}
	for _, s := range m.cg.Subsystems() {
		// Every cgroup1 subsystem has Path(cgroup path) string.
		if p, ok := s.(interface{ Path(string) string }); ok {
			cg.v1[string(s.Name())] = p.Path(m.paths[string(s.Name())])
		}
	}
	return cg
}

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
type v2Manager struct {
	m   *cgroup2.Manager
	dir string // its directory
}

func (m v2Manager) dirs() *cgroups { return &cgroups{unified: m.dir} }

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
