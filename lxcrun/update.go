package lxcrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// Update applies new resource limits to the running (or created, or
// paused) container, as `runc update` does: r is converted with
// lxcconv.ResourceEntries, the same mapping as at create, and each value
// is written into the container's cgroup (v1: the controller's
// directory; v2: the unified one). Fields left nil or 0 keep their
// value; device rules are not changed. An error names the OCI field or
// the cgroup file that could not be applied; it reports
// errdefs.ErrNotFound once the container has ended.
func (c *Container) Update(ctx context.Context, r *specs.LinuxResources) error {
	if r == nil {
		return fmt.Errorf("update %s: no resources: %w", c.name, errdefs.ErrInvalidArgument)
	}
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	return updateCgroups(ctx, m.dirs(), r, writeCgroupFile)
}

// writeFunc writes a cgroup file (writeCgroupFile; tests pass a fake that
// behaves like the kernel's checks).
type writeFunc func(path, value string) error

// writeCgroupFile writes value to an existing file: a cgroup file that is
// missing (a controller option not enabled, as memsw without swap
// accounting) must fail, not be created.
func writeCgroupFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func updateCgroups(ctx context.Context, cg *cgroups, r *specs.LinuxResources, write writeFunc) error {
	version := 1
	if cg.unified != "" {
		version = 2
	}
	r = updateDefaults(r, version)
	entries, warnings, err := lxcconv.ResourceEntries(r, version)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	for _, w := range warnings {
		if strings.HasSuffix(w.Field, ".checkBeforeUpdate") {
			continue // applied below
		}
		log.G(ctx).WithField("field", w.Field).Warn(w.Message)
	}
	if m := r.Memory; version == 2 && m != nil && m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate && m.Limit != nil && *m.Limit > 0 {
		// As runc: refuse a limit below the current usage instead of
		// letting the kernel reclaim or OOM-kill.
		if cur, err := readUint(filepath.Join(cg.unified, "memory.current")); err == nil && cur > uint64(*m.Limit) {
			return fmt.Errorf("linux.resources.memory.limit: %d is below the current usage %d (checkBeforeUpdate): %w", *m.Limit, cur, errdefs.ErrFailedPrecondition)
		}
	}
	writes := make([]cgroupWrite, 0, len(entries))
	for _, e := range entries {
		w, err := cgroupFile(cg, e)
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		writes = append(writes, w)
	}
	return applyWrites(writes, write)
}

// updateDefaults copies r with what runc's update implies: on cgroup v1 an
// unlimited memory limit without a swap value makes memory+swap
// unlimited too (else the kernel refuses memory above memsw).
func updateDefaults(r *specs.LinuxResources, version int) *specs.LinuxResources {
	if version != 1 || r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit != -1 || r.Memory.Swap != nil {
		return r
	}
	cp := *r
	mem := *r.Memory
	unlimited := int64(-1)
	mem.Swap = &unlimited
	cp.Memory = &mem
	return &cp
}

// cgroupWrite is one value for one cgroup file.
type cgroupWrite struct {
	path, value string
}

// cgroupFile maps an lxc.cgroup.FILE / lxc.cgroup2.FILE entry to the file
// in the container's cgroup: v2, the unified directory; v1, the directory
// of the controller that prefixes the file name (memory.limit_in_bytes in
// memory).
func cgroupFile(cg *cgroups, e lxcconv.Entry) (cgroupWrite, error) {
	var file string
	switch {
	case strings.HasPrefix(e.Key, "lxc.cgroup2."):
		file = strings.TrimPrefix(e.Key, "lxc.cgroup2.")
	case strings.HasPrefix(e.Key, "lxc.cgroup."):
		file = strings.TrimPrefix(e.Key, "lxc.cgroup.")
	default:
		return cgroupWrite{}, fmt.Errorf("%s is not a cgroup key", e.Key)
	}
	if file == "" || strings.Contains(file, "/") {
		return cgroupWrite{}, fmt.Errorf("cgroup file %q: %w", file, errdefs.ErrInvalidArgument)
	}
	if cg.unified != "" {
		return cgroupWrite{path: filepath.Join(cg.unified, file), value: e.Value}, nil
	}
	ctrl, _, _ := strings.Cut(file, ".")
	dir, ok := cg.v1[ctrl]
	if !ok {
		return cgroupWrite{}, fmt.Errorf("cgroup file %s: the container has no %s cgroup (controller not mounted?): %w", file, ctrl, errdefs.ErrNotImplemented)
	}
	return cgroupWrite{path: filepath.Join(dir, file), value: e.Value}, nil
}

// applyWrites writes every value in order, then retries once those the
// kernel refused: some pairs must be written in the order that keeps them
// consistent (memory.limit_in_bytes <= memory.memsw.limit_in_bytes,
// cpu.cfs_quota_us against cpu.cfs_period_us), which depends on the old
// values; runc orders them by reading the old ones, one retry does the
// same for any pair.
func applyWrites(writes []cgroupWrite, write writeFunc) error {
	var failed []cgroupWrite
	for _, w := range writes {
		if err := write(w.path, w.value); err != nil {
			failed = append(failed, w)
		}
	}
	var errs []error
	for _, w := range failed {
		if err := write(w.path, w.value); err != nil {
			if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EBUSY) {
				err = fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
			}
			errs = append(errs, fmt.Errorf("writing %s to %s: %w", strconv.Quote(w.value), w.path, err))
		}
	}
	return errors.Join(errs...)
}

// finishCreate does what LXC cannot do before init runs, once init has
// reported ready (runc's init and runc do the same at that point):
// write Result.LateCgroup into the container's cgroup, give LXC's own
// mounts the spec's flags (Result.Remounts) and make the root read-only
// (Result.ReadonlyRootfs).
func (c *Container) finishCreate(pid int) error {
	if len(c.result.LateCgroup) > 0 {
		m, err := loadCgroup(pid)
		if err != nil {
			return fmt.Errorf("container %s: finding its cgroup: %w", c.name, err)
		}
		cg := m.dirs()
		writes := make([]cgroupWrite, 0, len(c.result.LateCgroup))
		for _, e := range c.result.LateCgroup {
			w, err := cgroupFile(cg, e)
			if err != nil {
				return fmt.Errorf("container %s: %w", c.name, err)
			}
			writes = append(writes, w)
		}
		if err := applyWrites(writes, writeCgroupFile); err != nil {
			return fmt.Errorf("container %s: %w", c.name, err)
		}
	}
	if c.result.ReadonlyRootfs || len(c.result.Remounts) > 0 || len(c.result.ReadonlyPaths) > 0 || len(c.result.Devices) > 0 {
		// Device nodes first: the root may be made read-only after.
		fix := func() error {
			if err := makeDevices(c.result.Devices); err != nil {
				return err
			}
			return fixMounts(c.result)
		}
		if err := inMountNamespace(pid, fix); err != nil {
			return fmt.Errorf("container %s: %w", c.name, err)
		}
	}
	return nil
}

// fixMounts runs in the container's mount namespace: the spec's flags on
// the mounts LXC made without them (Result.Remounts), the read-only paths
// (Result.ReadonlyPaths, after LXC wrote the sysctls), then the read-only
// root (Result.ReadonlyRootfs).
func fixMounts(res *lxcconv.Result) error {
	for _, m := range res.Remounts {
		if err := unix.Mount("", m.Path, "", unix.MS_REMOUNT|unix.MS_BIND|remountFlags(m.Options), ""); err != nil {
			return fmt.Errorf("remounting %s with %v: %w", m.Path, m.Options, err)
		}
	}
	for _, p := range res.ReadonlyPaths {
		// As runc: a recursive bind of the path onto itself, remounted
		// read-only; a path that does not exist is skipped.
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("linux.readonlyPaths: binding %s: %w", p, err)
		}
		if err := remountReadonly(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths: %w", err)
		}
	}
	if res.ReadonlyRootfs {
		if err := remountReadonly("/"); err != nil {
			return fmt.Errorf("read-only rootfs: %w", err)
		}
	}
	return nil
}

// remountReadonly makes the mount at p read-only, keeping its nosuid,
// nodev, noexec and atime flags (a bind remount that omits a locked flag
// fails, one that omits another clears it).
func remountReadonly(p string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", p, err)
	}
	// statfs's ST_* flags have the values of the MS_* mount flags.
	keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	if err := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|keep, ""); err != nil {
		return fmt.Errorf("remounting %s read-only: %w", p, err)
	}
	return nil
}

// remountFlags maps mount options to the per-mount flags a bind remount
// can set. Without an atime option the remount keeps the current one.
func remountFlags(opts []string) uintptr {
	var f uintptr
	for _, o := range opts {
		switch o {
		case "ro":
			f |= unix.MS_RDONLY
		case "nosuid":
			f |= unix.MS_NOSUID
		case "nodev":
			f |= unix.MS_NODEV
		case "noexec":
			f |= unix.MS_NOEXEC
		case "noatime":
			f |= unix.MS_NOATIME
		case "nodiratime":
			f |= unix.MS_NODIRATIME
		case "relatime":
			f |= unix.MS_RELATIME
		case "strictatime":
			f |= unix.MS_STRICTATIME
		}
	}
	return f
}

// inMountNamespace runs fn on a thread that has joined pid's mount
// namespace (root and cwd: the container's /), so no seccomp profile or
// capability set of the container applies. The thread is never unlocked:
// it ends with the goroutine and so serves no other goroutine there.
// Never the main thread: Go does not end it but wedges it, and it would
// stay in the container's namespace, where /proc/self (the main thread's
// view: mountinfo, which containerd/cgroups and core/mount read) shows the
// container's mounts for the rest of the process's life.
func inMountNamespace(pid int, fn func() error) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return err
	}
	defer ns.Close()
	errc := make(chan error, 1)
	var work func()
	work = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread while another one does it.
			done := make(chan struct{})
			go func() {
				work()
				close(done)
			}()
			<-done
			runtime.UnlockOSThread()
			return
		}
		// setns(CLONE_NEWNS) needs a thread that shares no fs_struct.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_FS): %w", err)
			return
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("setns(mnt of %d): %w", pid, err)
			return
		}
		errc <- fn()
	}
	go work()
	return <-errc
}
