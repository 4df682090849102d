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
	"time"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
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
	pid, err := c.runningPid()
	if err != nil {
		return nil, err
	}
	dir, err := cgroupDir(pid)
	if err != nil {
		return nil, c.goneIfMissing(err)
	}
	return cgroupProcs(dir)
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

// freezePoll is how often Freeze and Thaw check the freezer's state.
const freezePoll = 10 * time.Millisecond

// Freeze freezes every process of the container (its cgroup and those
// below) and returns once they all are frozen: cgroup v1 freezer.state
// FROZEN, v2 cgroup.freeze 1 until cgroup.events says frozen 1.
func (c *Container) Freeze(ctx context.Context) error {
	cg, err := c.runningCgroups()
	if err != nil {
		return err
	}
	return setFrozen(ctx, cg, true)
}

// Thaw lets the frozen processes of the container run again.
func (c *Container) Thaw(ctx context.Context) error {
	cg, err := c.runningCgroups()
	if err != nil {
		return err
	}
	return setFrozen(ctx, cg, false)
}

func setFrozen(ctx context.Context, cg *cgroups, frozen bool) error {
	if cg.unified != "" {
		return setFrozenV2(ctx, cg.unified, frozen)
	}
	dir, ok := cg.v1["freezer"]
	if !ok {
		return fmt.Errorf("no freezer cgroup: %w", errdefs.ErrNotImplemented)
	}
	return setFrozenV1(ctx, dir, frozen)
}

func setFrozenV1(ctx context.Context, dir string, frozen bool) error {
	want := "THAWED"
	if frozen {
		want = "FROZEN"
	}
	file := filepath.Join(dir, "freezer.state")
	for {
		// Writing again matters: a freeze can stay FREEZING while
		// processes fork, and rewriting FROZEN retries it.
		if err := os.WriteFile(file, []byte(want), 0); err != nil {
			return fmt.Errorf("writing %s to %s: %w", want, file, err)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(data)) == want {
			return nil
		}
		if err := sleepCtx(ctx, freezePoll); err != nil {
			_ = os.WriteFile(file, []byte("THAWED"), 0) // don't leave it half-frozen
			return fmt.Errorf("%s: still %s: %w", file, strings.TrimSpace(string(data)), err)
		}
	}
}

func setFrozenV2(ctx context.Context, dir string, frozen bool) error {
	val := "0"
	if frozen {
		val = "1"
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(val), 0); err != nil {
		return fmt.Errorf("writing %s to cgroup.freeze of %s: %w", val, dir, err)
	}
	for {
		kv, err := readKV(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return err
		}
		if v, ok := kv["frozen"]; !ok || strconv.FormatUint(v, 10) == val {
			return nil
		}
		if err := sleepCtx(ctx, freezePoll); err != nil {
			if frozen {
				_ = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
			}
			return fmt.Errorf("%s: frozen is not %s: %w", dir, val, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Metrics returns the container's cgroup statistics: a
// *cgroup1/stats.Metrics (v1) or *cgroup2/stats.Metrics (v2), as
// containerd's runc shim does. A controller whose files are missing is
// left out.
func (c *Container) Metrics(ctx context.Context) (any, error) {
	cg, err := c.runningCgroups()
	if err != nil {
		return nil, err
	}
	if cg.unified != "" {
		return metricsV2(cg.unified)
	}
	return metricsV1(cg.v1)
}

func metricsV1(dirs map[string]string) (*v1stats.Metrics, error) {
	m := &v1stats.Metrics{}
	if dir, ok := dirs["pids"]; ok {
		if cur, err := readUint(filepath.Join(dir, "pids.current")); err == nil {
			m.Pids = &v1stats.PidsStat{Current: cur}
			m.Pids.Limit, _ = readUint(filepath.Join(dir, "pids.max")) // "max" -> 0
		}
	}
	if dir, ok := dirs["cpuacct"]; ok {
		if total, err := readUint(filepath.Join(dir, "cpuacct.usage")); err == nil {
			u := &v1stats.CPUUsage{Total: total}
			if data, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage_percpu")); err == nil {
				for _, f := range strings.Fields(string(data)) {
					if n, err := strconv.ParseUint(f, 10, 64); err == nil {
						u.PerCPU = append(u.PerCPU, n)
					}
				}
			}
			// cpuacct.stat is in USER_HZ (100 on Linux) ticks.
			if kv, err := readKV(filepath.Join(dir, "cpuacct.stat")); err == nil {
				const nsPerTick = uint64(time.Second / 100)
				u.User = kv["user"] * nsPerTick
				u.Kernel = kv["system"] * nsPerTick
			}
			m.CPU = &v1stats.CPUStat{Usage: u}
		}
	}
	if dir, ok := dirs["cpu"]; ok {
		if kv, err := readKV(filepath.Join(dir, "cpu.stat")); err == nil {
			if m.CPU == nil {
				m.CPU = &v1stats.CPUStat{}
			}
			m.CPU.Throttling = &v1stats.Throttle{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
		}
	}
	if dir, ok := dirs["memory"]; ok {
		if usage, err := readUint(filepath.Join(dir, "memory.usage_in_bytes")); err == nil {
			mem := &v1stats.MemoryStat{}
			mem.Usage = memEntryV1(dir, "memory.", usage)
			if u, err := readUint(filepath.Join(dir, "memory.memsw.usage_in_bytes")); err == nil {
				mem.Swap = memEntryV1(dir, "memory.memsw.", u)
			}
			if u, err := readUint(filepath.Join(dir, "memory.kmem.usage_in_bytes")); err == nil {
				mem.Kernel = memEntryV1(dir, "memory.kmem.", u)
			}
			if u, err := readUint(filepath.Join(dir, "memory.kmem.tcp.usage_in_bytes")); err == nil {
				mem.KernelTCP = memEntryV1(dir, "memory.kmem.tcp.", u)
			}
			if kv, err := readKV(filepath.Join(dir, "memory.stat")); err == nil {
				mem.Cache, mem.RSS, mem.RSSHuge, mem.MappedFile = kv["cache"], kv["rss"], kv["rss_huge"], kv["mapped_file"]
				mem.Dirty, mem.Writeback = kv["dirty"], kv["writeback"]
				mem.PgPgIn, mem.PgPgOut, mem.PgFault, mem.PgMajFault = kv["pgpgin"], kv["pgpgout"], kv["pgfault"], kv["pgmajfault"]
				mem.InactiveAnon, mem.ActiveAnon, mem.InactiveFile, mem.ActiveFile = kv["inactive_anon"], kv["active_anon"], kv["inactive_file"], kv["active_file"]
				mem.Unevictable = kv["unevictable"]
				mem.HierarchicalMemoryLimit, mem.HierarchicalSwapLimit = kv["hierarchical_memory_limit"], kv["hierarchical_memsw_limit"]
				mem.TotalCache, mem.TotalRSS, mem.TotalRSSHuge, mem.TotalMappedFile = kv["total_cache"], kv["total_rss"], kv["total_rss_huge"], kv["total_mapped_file"]
				mem.TotalDirty, mem.TotalWriteback = kv["total_dirty"], kv["total_writeback"]
				mem.TotalPgPgIn, mem.TotalPgPgOut, mem.TotalPgFault, mem.TotalPgMajFault = kv["total_pgpgin"], kv["total_pgpgout"], kv["total_pgfault"], kv["total_pgmajfault"]
				mem.TotalInactiveAnon, mem.TotalActiveAnon, mem.TotalInactiveFile, mem.TotalActiveFile = kv["total_inactive_anon"], kv["total_active_anon"], kv["total_inactive_file"], kv["total_active_file"]
				mem.TotalUnevictable = kv["total_unevictable"]
			}
			m.Memory = mem
		}
	}
	if m.Pids == nil && m.CPU == nil && m.Memory == nil {
		return nil, fmt.Errorf("no pids, cpuacct or memory statistics in %v", dirs)
	}
	return m, nil
}

func memEntryV1(dir, prefix string, usage uint64) *v1stats.MemoryEntry {
	e := &v1stats.MemoryEntry{Usage: usage}
	e.Limit, _ = readUint(filepath.Join(dir, prefix+"limit_in_bytes"))
	e.Max, _ = readUint(filepath.Join(dir, prefix+"max_usage_in_bytes"))
	e.Failcnt, _ = readUint(filepath.Join(dir, prefix+"failcnt"))
	return e
}

func metricsV2(dir string) (*v2stats.Metrics, error) {
	m := &v2stats.Metrics{}
	if cur, err := readUint(filepath.Join(dir, "pids.current")); err == nil {
		m.Pids = &v2stats.PidsStat{Current: cur}
		m.Pids.Limit, _ = readUint(filepath.Join(dir, "pids.max"))
	}
	if kv, err := readKV(filepath.Join(dir, "cpu.stat")); err == nil {
		m.CPU = &v2stats.CPUStat{
			UsageUsec: kv["usage_usec"], UserUsec: kv["user_usec"], SystemUsec: kv["system_usec"],
			NrPeriods: kv["nr_periods"], NrThrottled: kv["nr_throttled"], ThrottledUsec: kv["throttled_usec"],
			NrBursts: kv["nr_bursts"], BurstUsec: kv["burst_usec"],
		}
	}
	if usage, err := readUint(filepath.Join(dir, "memory.current")); err == nil {
		mem := &v2stats.MemoryStat{Usage: usage}
		mem.UsageLimit, _ = readUint(filepath.Join(dir, "memory.max"))
		mem.MaxUsage, _ = readUint(filepath.Join(dir, "memory.peak"))
		mem.SwapUsage, _ = readUint(filepath.Join(dir, "memory.swap.current"))
		mem.SwapLimit, _ = readUint(filepath.Join(dir, "memory.swap.max"))
		mem.SwapMaxUsage, _ = readUint(filepath.Join(dir, "memory.swap.peak"))
		if kv, err := readKV(filepath.Join(dir, "memory.stat")); err == nil {
			mem.Anon, mem.File, mem.KernelStack, mem.Slab, mem.Sock, mem.Shmem = kv["anon"], kv["file"], kv["kernel_stack"], kv["slab"], kv["sock"], kv["shmem"]
			mem.FileMapped, mem.FileDirty, mem.FileWriteback, mem.AnonThp = kv["file_mapped"], kv["file_dirty"], kv["file_writeback"], kv["anon_thp"]
			mem.InactiveAnon, mem.ActiveAnon, mem.InactiveFile, mem.ActiveFile = kv["inactive_anon"], kv["active_anon"], kv["inactive_file"], kv["active_file"]
			mem.Unevictable, mem.SlabReclaimable, mem.SlabUnreclaimable = kv["unevictable"], kv["slab_reclaimable"], kv["slab_unreclaimable"]
			mem.Pgfault, mem.Pgmajfault = kv["pgfault"], kv["pgmajfault"]
			mem.WorkingsetRefault, mem.WorkingsetActivate, mem.WorkingsetNodereclaim = kv["workingset_refault"], kv["workingset_activate"], kv["workingset_nodereclaim"]
			mem.Pgrefill, mem.Pgscan, mem.Pgsteal, mem.Pgactivate, mem.Pgdeactivate = kv["pgrefill"], kv["pgscan"], kv["pgsteal"], kv["pgactivate"], kv["pgdeactivate"]
			mem.Pglazyfree, mem.Pglazyfreed, mem.ThpFaultAlloc, mem.ThpCollapseAlloc = kv["pglazyfree"], kv["pglazyfreed"], kv["thp_fault_alloc"], kv["thp_collapse_alloc"]
		}
		m.Memory = mem
	}
	if kv, err := readKV(filepath.Join(dir, "memory.events")); err == nil {
		m.MemoryEvents = &v2stats.MemoryEvents{Low: kv["low"], High: kv["high"], Max: kv["max"], Oom: kv["oom"], OomKill: kv["oom_kill"], OomGroupKill: kv["oom_group_kill"]}
	}
	if m.Pids == nil && m.CPU == nil && m.Memory == nil {
		return nil, fmt.Errorf("no pids, cpu or memory statistics in %s", dir)
	}
	return m, nil
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
