package lxcrun

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// cgroupRemoveTimeout bounds the wait for a container's cgroups to empty
// (the kernel kills the rest of a pid namespace whose init died; reaping
// takes a moment).
const cgroupRemoveTimeout = 5 * time.Second

// ownCgroups returns the cgroup directories of init and of the starter
// (LXC's payload and monitor cgroups) that are the container's own: the
// directory, or a parent of it, named after the container as LXC names
// them (lxc.cgroup.dir.container/monitor, else lxc.payload.NAME and
// lxc.monitor.NAME). LXC removes them when its monitor exits; a monitor
// killed with SIGKILL leaves them, and LXC then refuses the same name
// ("Failed to create monitor cgroup"), so Delete removes them.
func (c *Container) ownCgroups(pids ...int) []string {
	names := []string{"lxc.payload." + c.name, "lxc.monitor." + c.name}
	for _, k := range []string{"lxc.cgroup.dir.container", "lxc.cgroup.dir.monitor"} {
		for _, v := range c.result.Config.Get(k) {
			names = append(names, filepath.Base(v))
		}
	}
	var all []hierarchyDir
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			continue
		}
		all = append(all, hierarchyDirs(string(data), cgroupRoot)...)
	}
	dirs := ownDirs(all, names)
	// The monitor's, also when the monitor is gone already (killed
	// during create): in each hierarchy of the others.
	for _, m := range c.result.Config.Get("lxc.cgroup.dir.monitor") {
		for _, h := range all {
			d := filepath.Join(h.mount, m)
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && strings.HasPrefix(d, h.mount+"/") && !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	slices.Sort(dirs)
	return dirs
}

// monitorCgroups are the monitor's among the recorded cgroups (c.cgroups):
// named lxc.monitor.NAME or after lxc.cgroup.dir.monitor. The caller holds
// c.mu.
func (c *Container) monitorCgroups() []string {
	names := []string{"lxc.monitor." + c.name}
	for _, v := range c.result.Config.Get("lxc.cgroup.dir.monitor") {
		names = append(names, filepath.Base(v))
	}
	var dirs []string
	for _, d := range c.cgroups {
		if slices.Contains(names, filepath.Base(d)) {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// ownDirs returns, for each cgroup, the directory (itself or one of its
// two nearest parents) whose base name is in names; never a hierarchy's
// root or above it.
func ownDirs(all []hierarchyDir, names []string) []string {
	var dirs []string
	for _, h := range all {
		d := h.dir
		for up := 0; up < 3 && strings.HasPrefix(d, h.mount+"/"); up++ {
			if slices.Contains(names, filepath.Base(d)) {
				if !slices.Contains(dirs, d) {
					dirs = append(dirs, d)
				}
				break
			}
			d = filepath.Dir(d)
		}
	}
	slices.Sort(dirs)
	return dirs
}

// removeCgroups removes dirs and the cgroups below them, deepest first,
// waiting up to cgroupRemoveTimeout for them to empty. Missing ones are
// fine. It never kills anything.
func removeCgroups(ctx context.Context, dirs []string) {
	deadline := time.Now().Add(cgroupRemoveTimeout)
	for _, dir := range dirs {
		if !strings.HasPrefix(dir, cgroupRoot+"/") {
			continue
		}
		for {
			err := removeCgroupTree(dir)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				log.G(ctx).WithError(err).WithField("cgroup", dir).Warn("lxcrun: removing container cgroup")
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func removeCgroupTree(dir string) error {
	var subdirs []string
	if err := walkCgroups(dir, func(p string) error {
		subdirs = append(subdirs, p)
		return nil
	}); err != nil {
		return err
	}
	for i := len(subdirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(subdirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			return &os.PathError{Op: "rmdir", Path: subdirs[i], Err: err}
		}
	}
	return nil
}

// cgroupGone reports an error of a cgroup removed meanwhile: ENOENT, or
// ENODEV while the kernel removes it (liblxc's teardown runs at the same
// time as KillOrphans and Delete).
func cgroupGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

// walkCgroups calls fn for dir and every cgroup directory below it,
// parents first; cgroups removed meanwhile are skipped (cgroupGone).
func walkCgroups(dir string, fn func(dir string) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if cgroupGone(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		return fn(p)
	})
}

// hierarchyDir is a cgroup's directory and the mount of its hierarchy.
type hierarchyDir struct{ mount, dir string }

// hierarchyDirs maps each line of a /proc/PID/cgroup file to the directory
// of that cgroup in its mounted hierarchy, every hierarchy included (named
// ones like name=systemd, and the unified one of a hybrid host, mounted at
// root/unified), since LXC makes its cgroups in all of them.
func hierarchyDirs(data, root string) []hierarchyDir {
	var dirs []hierarchyDir
	for _, l := range strings.Split(data, "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 || parts[2] == "" {
			continue
		}
		var mounts []string
		switch ctrls := parts[1]; {
		case parts[0] == "0" && ctrls == "":
			mounts = []string{"unified", ""}
		case strings.HasPrefix(ctrls, "name="):
			mounts = []string{strings.TrimPrefix(ctrls, "name=")}
		default:
			mounts = append([]string{ctrls}, strings.Split(ctrls, ",")...)
		}
		for _, m := range mounts {
			mount := filepath.Join(root, m)
			dir := filepath.Join(mount, parts[2])
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				dirs = append(dirs, hierarchyDir{mount: mount, dir: dir})
				break
			}
		}
	}
	return dirs
}
