package doctor

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/zfslxc/zfslxc/snapshotter/ondisk"
)

// zfs-fuse as zfslxc starts it (zfslxc devpool up does the same): with
// --enable-xattr its daemon mode exits at once, so it runs in the
// foreground in its own session.
const zfsFuseStart = "setsid zfs-fuse --no-daemon --enable-xattr --pidfile /run/zfs-fuse.pid >>/var/log/zfs-fuse.log 2>&1 &"

// checkZFS: zfs on PATH, and kernel OpenZFS loaded or a zfs-fuse daemon
// running, and zpool answering.
func checkZFS(s *state) []Result {
	const name = "zfs"
	for _, b := range []string{"zfs", "zpool"} {
		if _, err := s.env.LookPath(b); err != nil {
			return []Result{fail(name, "apt-get install zfsutils-linux   # kernel OpenZFS\napt-get install zfs-fuse && zfslxc devpool up   # zfs-fuse (CI, no kernel module)",
				"%s not found on PATH", b)}
		}
	}
	var impl, restart string
	if s.env.Exists("/sys/module/zfs") {
		v, _ := s.env.ReadFile("/sys/module/zfs/version")
		impl = strings.TrimSpace("kernel OpenZFS " + firstLine(string(v)))
		restart = "modprobe zfs; dmesg | grep -i zfs"
	} else {
		p, found := zfsFuse(s)
		if !found {
			fix := "modprobe zfs   # kernel OpenZFS (apt-get install zfs-dkms)\n" + zfsFuseStart + "   # or: zfslxc devpool up"
			if _, err := s.env.LookPath("zfs-fuse"); err != nil {
				fix = "modprobe zfs   # kernel OpenZFS (apt-get install zfs-dkms zfsutils-linux)\napt-get install zfs-fuse && zfslxc devpool up   # zfs-fuse"
			}
			return []Result{fail(name, fix, "no kernel ZFS module (/sys/module/zfs) and no zfs-fuse daemon running")}
		}
		impl = fmt.Sprintf("zfs-fuse (pid %d)", p.Pid)
		restart = fmt.Sprintf("kill %d; %s", p.Pid, zfsFuseStart)
	}
	if _, stderr, err := s.run("zpool", "list", "-H", "-o", "name"); err != nil {
		return []Result{fail(name, restart, "%s, but zpool does not answer: %s", impl, errText(stderr, err))}
	}
	s.zfsWorks = true
	return []Result{ok(name, "%s answers", impl)}
}

// zfsFuse finds the zfs-fuse daemon among the processes.
func zfsFuse(s *state) (Process, bool) {
	procs, err := s.env.Processes()
	if err != nil {
		return Process{}, false
	}
	for _, p := range procs {
		if len(p.Args) > 0 && filepath.Base(p.Args[0]) == "zfs-fuse" {
			return p, true
		}
	}
	return Process{}, false
}

// checkZFSFuseXattr: zfs-fuse serves xattrs (security.capability, user.*,
// which image layers carry) only with --enable-xattr; without it unpacking
// such a layer fails. Not applicable to kernel ZFS.
func checkZFSFuseXattr(s *state) []Result {
	const name = "zfs-fuse xattr"
	if s.env.Exists("/sys/module/zfs") {
		return nil
	}
	p, found := zfsFuse(s)
	if !found {
		return nil // checkZFS said it
	}
	if slices.Contains(p.Args[1:], "--enable-xattr") || slices.Contains(p.Args[1:], "-x") {
		return []Result{ok(name, "zfs-fuse (pid %d) runs with --enable-xattr", p.Pid)}
	}
	return []Result{fail(name, fmt.Sprintf("kill %d; %s", p.Pid, zfsFuseStart),
		"zfs-fuse (pid %d) runs without --enable-xattr (%s): image layers with xattrs (file capabilities) fail to unpack",
		p.Pid, strings.Join(p.Args, " "))}
}

// poolOf returns the pool of a dataset.
func poolOf(dataset string) string {
	p, _, _ := strings.Cut(dataset, "/")
	return p
}

const noDatasetFix = "zfslxc doctor --dataset POOL/zfslxc   # or set dataset = \"POOL/zfslxc\" in /etc/zfslxc/snapshotter.toml"

// checkPool: the dataset's pool exists and is ONLINE.
func checkPool(s *state) []Result {
	const name = "pool"
	if s.cfg.Dataset == "" {
		return []Result{fail(name, noDatasetFix, "no parent dataset given (--dataset) nor found in the snapshotter config")}
	}
	if !s.zfsWorks {
		return []Result{fail(name, "see the zfs check", "not checked: zfs does not work")}
	}
	pool := poolOf(s.cfg.Dataset)
	out, stderr, err := s.run("zpool", "list", "-H", "-o", "name,health", pool)
	if err != nil {
		if strings.Contains(stderr, "no such pool") {
			return []Result{fail(name, fmt.Sprintf("zpool create %s DEVICE   # or a test pool on a file: zfslxc devpool up --name %s", pool, pool),
				"pool %s (of dataset %s) does not exist", pool, s.cfg.Dataset)}
		}
		return []Result{fail(name, "zpool status "+pool, "zpool list %s: %s", pool, errText(stderr, err))}
	}
	f := strings.Split(firstLine(out), "\t")
	if len(f) < 2 {
		return []Result{fail(name, "zpool status "+pool, "zpool list %s: unexpected output %q", pool, out)}
	}
	switch health := f[1]; health {
	case "ONLINE":
		return []Result{ok(name, "pool %s is ONLINE", pool)}
	case "DEGRADED":
		return []Result{warn(name, "zpool status -x "+pool+"   # replace the failed device: zpool replace "+pool+" OLD NEW",
			"pool %s is DEGRADED", pool)}
	default:
		return []Result{fail(name, "zpool status -x "+pool+"; zpool clear "+pool, "pool %s is %s", pool, health)}
	}
}

// datasetProps reads the parent dataset's properties; found=false when it
// does not exist.
func datasetProps(s *state) (props map[string]string, found bool, res []Result) {
	if s.cfg.Dataset == "" || !s.zfsWorks {
		return nil, false, nil // checkPool said it
	}
	out, stderr, err := s.run("zfs", "get", "-H", "-o", "property,value", "type,mountpoint,mounted,com.sun:auto-snapshot", s.cfg.Dataset)
	if err != nil {
		if strings.Contains(stderr, "does not exist") || strings.Contains(stderr, "no such pool") {
			return nil, false, nil
		}
		return nil, false, []Result{fail("dataset", "zfs get all "+s.cfg.Dataset, "zfs get %s: %s", s.cfg.Dataset, errText(stderr, err))}
	}
	props = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok {
			props[k] = v
		}
	}
	return props, true, nil
}

// checkDataset: the parent dataset is a mounted filesystem (or absent, and
// the snapshotter will create it).
func checkDataset(s *state) []Result {
	const name = "dataset"
	ds := s.cfg.Dataset
	props, found, res := datasetProps(s)
	if res != nil || s.cfg.Dataset == "" || !s.zfsWorks {
		return res
	}
	if !found {
		// zfs says "dataset does not exist" also when the pool is missing:
		// that is the pool check's failure.
		if _, _, err := s.run("zpool", "list", "-H", "-o", "name", poolOf(ds)); err != nil {
			return []Result{fail(name, "see the pool check", "dataset %s: its pool does not exist", ds)}
		}
		return []Result{warn(name, fmt.Sprintf("zfslxc-snapshotter --dataset %s   # creates it, or:\nzfs create -p -o com.sun:auto-snapshot=false -o mountpoint=%s %s", ds, ondisk.ParentMountpoint(s.cfg.SnapshotterRoot), ds),
			"dataset %s does not exist yet (zfslxc-snapshotter creates it at start)", ds)}
	}
	if t := props["type"]; t != "filesystem" {
		return []Result{fail(name, "zfslxc-snapshotter --dataset POOL/OTHER   # pick a filesystem dataset", "dataset %s is a %s, not a filesystem", ds, t)}
	}
	mp := props["mountpoint"]
	if !filepath.IsAbs(mp) {
		return []Result{fail(name, fmt.Sprintf("zfs set mountpoint=%s %s", ondisk.ParentMountpoint(s.cfg.SnapshotterRoot), ds),
			"dataset %s has mountpoint=%s; snapshots need a mounted path", ds, mp)}
	}
	if props["mounted"] != "yes" {
		return []Result{fail(name, "zfs mount "+ds, "dataset %s is not mounted (mountpoint %s)", ds, mp)}
	}
	return []Result{ok(name, "dataset %s is mounted at %s", ds, mp)}
}

// checkAutoSnapshot: com.sun:auto-snapshot=false keeps zfs-auto-snapshot
// and similar tools from taking snapshots that block destroying layers.
func checkAutoSnapshot(s *state) []Result {
	const name = "auto-snapshot"
	props, found, _ := datasetProps(s)
	if !found {
		return nil
	}
	if v := props["com.sun:auto-snapshot"]; v != "false" {
		return []Result{warn(name, "zfs set com.sun:auto-snapshot=false "+s.cfg.Dataset,
			"dataset %s has com.sun:auto-snapshot=%s: snapshot tools may pin layers so they cannot be destroyed", s.cfg.Dataset, v)}
	}
	return []Result{ok(name, "com.sun:auto-snapshot=false on %s", s.cfg.Dataset)}
}

// checkLXC: the lxc tools and their version.
func checkLXC(s *state) []Result {
	const name = "lxc"
	path, err := s.env.LookPath("lxc-start")
	if err != nil {
		return []Result{fail(name, "apt-get install lxc", "lxc-start not found on PATH")}
	}
	out, stderr, err := s.run(path, "--version")
	if err != nil {
		return []Result{fail(name, "apt-get install --reinstall lxc", "%s --version: %s", path, errText(stderr, err))}
	}
	v := firstLine(out)
	if major, _ := leadingInt(v); major > 0 && major < 4 {
		return []Result{warn(name, "apt-get install lxc   # from a newer release (Debian 12 has 5.0)",
			"LXC %s (%s): zfslxc is tested with LXC 5.0", v, path)}
	}
	return []Result{ok(name, "LXC %s (%s)", v, path)}
}

// liblxcDirs are searched when ldconfig does not know liblxc.
var liblxcDirs = []string{"/usr/lib/*/liblxc.so.1*", "/usr/lib/liblxc.so.1*", "/usr/lib64/liblxc.so.1*", "/usr/local/lib/liblxc.so.1*", "/usr/local/lib/*/liblxc.so.1*"}

// checkLiblxc: liblxc, which the shim's starter links against.
func checkLiblxc(s *state) []Result {
	const name = "liblxc"
	if out, _, err := s.run("ldconfig", "-p"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "liblxc.so.1 ") || strings.HasPrefix(strings.TrimSpace(line), "liblxc.so.1\t") || strings.HasPrefix(strings.TrimSpace(line), "liblxc.so.1 ") {
				_, p, _ := strings.Cut(line, "=> ")
				return []Result{ok(name, "liblxc.so.1 at %s", strings.TrimSpace(p))}
			}
		}
	}
	for _, pat := range liblxcDirs {
		if m, _ := s.env.Glob(pat); len(m) > 0 {
			return []Result{ok(name, "liblxc.so.1 at %s", m[0])}
		}
	}
	return []Result{fail(name, "apt-get install liblxc1", "liblxc.so.1 not found (ldconfig -p, /usr/lib, /usr/local/lib)")}
}

// checkCgroups: the cgroup layout LXC and containerd will see.
func checkCgroups(s *state) []Result {
	const name = "cgroup"
	switch {
	case s.env.Exists("/sys/fs/cgroup/cgroup.controllers"):
		return []Result{ok(name, "cgroup v2 (unified) on /sys/fs/cgroup")}
	case s.env.Exists("/sys/fs/cgroup/unified/cgroup.controllers"):
		return []Result{ok(name, "hybrid: cgroup v1 controllers, cgroup v2 on /sys/fs/cgroup/unified")}
	case s.env.Exists("/sys/fs/cgroup/memory") || s.env.Exists("/sys/fs/cgroup/cpu") || s.env.Exists("/sys/fs/cgroup/pids"):
		return []Result{warn(name, "add systemd.unified_cgroup_hierarchy=1 to the kernel command line and reboot",
			"cgroup v1 only (legacy): works, but distributions and containerd are dropping it")}
	}
	return []Result{fail(name, "mount -t cgroup2 cgroup2 /sys/fs/cgroup", "no cgroup hierarchy on /sys/fs/cgroup")}
}

// leadingInt parses the number at the start of s ("5.0.2" → 5).
func leadingInt(s string) (int, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(s[:i])
	return n, err == nil
}

// helpers are the shim's binaries; containerd looks shims up on its PATH
// and beside its own binary.
var helpers = []struct{ bin, what string }{
	{"containerd-shim-lxc-v1", "the LXC runtime shim, runtime type io.containerd.lxc.v1"},
	{"zfslxc-init", "PID 1 helper inside LXC containers"},
	{"zfslxc-start", "the liblxc starter the shim runs"},
}

// checkHelpers: the shim and its helpers are installed. Warnings only: a
// host that runs only the snapshotter (with runc) needs none of them.
func checkHelpers(s *state) []Result {
	var dirs []string
	if p, err := s.env.LookPath(s.cfg.Containerd); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	var res []Result
	for _, h := range helpers {
		if p, err := s.env.LookPath(h.bin); err == nil {
			res = append(res, ok(h.bin, "%s: %s", h.what, p))
			continue
		}
		found := ""
		for _, d := range dirs {
			if p := filepath.Join(d, h.bin); s.env.Exists(p) {
				found = p
				break
			}
		}
		if found != "" {
			res = append(res, ok(h.bin, "%s: %s (beside containerd)", h.what, found))
			continue
		}
		res = append(res, warn(h.bin, "make install   # installs the binaries to /usr/local/bin",
			"%s not found on PATH or beside containerd: %s; containers of runtime %s cannot start without it", h.bin, h.what, lxcRuntimeType))
	}
	return res
}
