package lxcconv

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// maxSymlinks bounds symlink resolution, as the kernel's MAXSYMLINKS.
const maxSymlinks = 40

// ResolveInRoot resolves the container path p inside fsys (the container's
// root filesystem) the way the kernel would after chroot: absolute symlink
// targets restart at the root and ".." never climbs above it. Components
// that do not exist are kept as written. It returns a clean slash path
// relative to the root ("" for the root itself). With a nil fsys the path
// is only cleaned lexically.
func ResolveInRoot(fsys fs.FS, p string) (string, error) {
	clean := strings.TrimPrefix(path.Clean("/"+p), "/")
	if fsys == nil || clean == "" {
		return clean, nil
	}
	todo := strings.Split(clean, "/")
	var done []string
	links := 0
	missing := false
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := path.Join(append(slices.Clone(done), comp)...)
		if missing {
			done = append(done, comp)
			continue
		}
		fi, err := fs.Lstat(fsys, cand)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				missing = true
				done = append(done, comp)
				continue
			}
			return "", fmt.Errorf("resolving %q in rootfs: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, comp)
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("resolving %q in rootfs: too many symlinks", p)
		}
		target, err := fs.ReadLink(fsys, cand)
		if err != nil {
			return "", fmt.Errorf("resolving %q in rootfs: %w", p, err)
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return path.Join(done...), nil
}

// escapeFstab escapes a field of an lxc.mount.entry line as getmntent(3)
// decodes it (LXC parses entries with it): blank, tab, newline and
// backslash become octal escapes. CR and NUL cannot be expressed.
func escapeFstab(s string) (string, error) {
	if strings.ContainsAny(s, "\r\x00") {
		return "", errors.New("contains CR or NUL, which an fstab line cannot hold")
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case ' ':
			b.WriteString(`\040`)
		case '\t':
			b.WriteString(`\011`)
		case '\n':
			b.WriteString(`\012`)
		case '\\':
			b.WriteString(`\134`)
		default:
			if r < 0x20 || r == 0x7f || unicode.IsSpace(r) {
				return "", fmt.Errorf("contains control or blank character %q", r)
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// unsupportedMountOpts are OCI mount options LXC cannot apply: recursive
// mount attributes (mount_setattr), idmapped mounts and crun/runc
// extensions. LXC would pass unknown words to the filesystem as data and
// fail at start; refusing names the field instead.
var unsupportedMountOpts = map[string]string{
	"idmap":       "idmapped mounts",
	"ridmap":      "idmapped mounts",
	"tmpcopyup":   "tmpcopyup",
	"nosymfollow": "nosymfollow",
	"symfollow":   "symfollow",
}

func isRecursiveAttr(o string) bool {
	switch o {
	case "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
		"rnoatime", "ratime", "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime",
		"rnodiratime", "rdiratime", "rnosymfollow", "rsymfollow":
		return true
	}
	return false
}

// wellKnownFiles are base names of bind sources containerd, CRI and
// nerdctl use that are files; the fallback when Options.StatHost is nil.
var wellKnownFiles = []string{"hosts", "hostname", "resolv.conf", "null", "termination-log", "localtime", "passwd", "group"}

func (c *converter) hostIsDir(p string) (bool, error) {
	if c.opts.StatHost != nil {
		return c.opts.StatHost(p)
	}
	if c.opts.HostFS != nil {
		name := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "/")
		if name == "" {
			name = "."
		}
		fi, err := fs.Stat(c.opts.HostFS, name)
		if err != nil {
			return false, err
		}
		return fi.IsDir(), nil
	}
	return !slices.Contains(wellKnownFiles, path.Base(p)), nil
}

// parseSize reads a tmpfs size option (bytes with an optional k/m/g suffix).
func parseSize(v string) (uint64, bool) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		mult = 1 << 10
	case strings.HasSuffix(v, "m"), strings.HasSuffix(v, "M"):
		mult = 1 << 20
	case strings.HasSuffix(v, "g"), strings.HasSuffix(v, "G"):
		mult = 1 << 30
	}
	if mult != 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > (1<<63)/mult {
		return 0, false
	}
	return n * mult, true
}

// pendingEntry is a spec mount that becomes an lxc.mount.entry.
type pendingEntry struct {
	field string
	m     specs.Mount
	dest  string
	bind  bool
}

func (c *converter) mounts() error {
	plan := &mountPlan{have: map[string]bool{}}
	var pending []pendingEntry
	// The container's view as LXC builds it: lxc.mount.auto and
	// lxc.autodev before any lxc.mount.entry, then the entries in order.
	view := &mountView{rootHost: c.rootfsHost, rootFS: c.opts.RootFS, hostFS: c.opts.HostFS}
	for i, m := range c.spec.Mounts {
		field := fmt.Sprintf("mounts[%d]", i)
		dest, bind, err := c.checkMount(field, m)
		if err != nil {
			return err
		}
		if !bind {
			handled, err := c.kernelMount(plan, field, dest, m)
			if err != nil {
				return err
			}
			if handled {
				view.mounts = append(view.mounts, viewMount{dest: strings.TrimPrefix(dest, "/"), field: field})
				continue
			}
		}
		pending = append(pending, pendingEntry{field: field, m: m, dest: dest, bind: bind})
	}
	var entries []string
	for _, p := range pending {
		line, err := c.mountEntry(view, p)
		if err != nil {
			return err
		}
		entries = append(entries, line)
	}
	if err := c.addMounts(plan, entries); err != nil {
		return err
	}
	return c.specialPaths()
}

// mountPlan collects what mounts() maps to LXC's own mounts.
type mountPlan struct {
	auto       []string        // lxc.mount.auto words
	devEntries []Entry         // autodev size and devpts, written after lxc.autodev
	have       map[string]bool // kernel filesystems already mapped
}

// checkMount validates one spec mount and returns its clean absolute
// destination and whether it is a bind mount.
func (c *converter) checkMount(field string, m specs.Mount) (dest string, bind bool, err error) {
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return "", false, fieldErr(field+".uidMappings", "idmapped mounts cannot be expressed in LXC mount entries")
	}
	dest = m.Destination
	if dest == "" {
		return "", false, fieldErr(field+".destination", "empty")
	}
	if !path.IsAbs(dest) {
		c.warn(field+".destination", "%q is relative; taken relative to / as runc does", dest)
		dest = "/" + dest
	}
	dest = path.Clean(dest)
	if dest == "/" {
		return "", false, fieldErr(field+".destination", "mounting over the root is not supported; use root.path")
	}
	bind = m.Type == "bind"
	for j, o := range m.Options {
		if o == "bind" || o == "rbind" {
			bind = true
		}
		if why, bad := unsupportedMountOpts[o]; bad {
			return "", false, fieldErr(fmt.Sprintf("%s.options[%d]", field, j), "%s cannot be expressed in LXC mount entries", why)
		}
		if o == "rro" {
			continue // bind mounts only; mountEntry stages them
		}
		if isRecursiveAttr(o) {
			return "", false, fieldErr(fmt.Sprintf("%s.options[%d]", field, j), "recursive mount attribute %q cannot be expressed in LXC mount entries", o)
		}
	}
	if j := slices.Index(m.Options, "rro"); j >= 0 && !bind {
		return "", false, fieldErr(fmt.Sprintf("%s.options[%d]", field, j), "recursive read-only (rro) is supported on bind mounts only")
	}
	return dest, bind, nil
}

// kernelMount maps a kernel filesystem LXC mounts itself (proc, sys,
// cgroup through lxc.mount.auto; the /dev tmpfs through lxc.autodev;
// devpts through lxc.pty.max); handled is false for any other mount.
func (c *converter) kernelMount(plan *mountPlan, field, dest string, m specs.Mount) (handled bool, err error) {
	ro := slices.Contains(m.Options, "ro")
	switch {
	case m.Type == "proc" && dest == "/proc" && !plan.have["proc"]:
		// proc:rw mounts a plain proc; readonlyPaths and
		// maskedPaths then restrict it as under runc.
		plan.auto = append(plan.auto, "proc:rw")
		plan.have["proc"] = true
	case m.Type == "sysfs" && dest == "/sys" && !plan.have["sys"]:
		if ro {
			plan.auto = append(plan.auto, "sys:ro")
		} else {
			plan.auto = append(plan.auto, "sys:rw")
		}
		plan.have["sys"] = true
		// LXC mounts it without nosuid/nodev/noexec.
		c.res.Remounts = append(c.res.Remounts, Remount{Path: dest, Options: slices.Clone(m.Options)})
	case (m.Type == "cgroup" || m.Type == "cgroup2") && dest == "/sys/fs/cgroup" && !plan.have["cgroup"]:
		// :force: LXC otherwise skips it under a cgroup namespace.
		if ro {
			plan.auto = append(plan.auto, "cgroup:ro:force")
		} else {
			plan.auto = append(plan.auto, "cgroup:rw:force")
		}
		plan.have["cgroup"] = true
	case m.Type == "tmpfs" && dest == "/dev" && !c.autodev:
		// lxc.autodev mounts a tmpfs on /dev and creates the
		// standard nodes, as runc does for a /dev tmpfs; its
		// nosuid, strictatime... are applied afterwards.
		c.autodev = true
		c.res.Remounts = append(c.res.Remounts, Remount{Path: dest, Options: slices.Clone(m.Options)})
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "size="); ok {
				n, ok := parseSize(v)
				if !ok {
					return false, fieldErr(field+".options", "bad size %q", v)
				}
				plan.devEntries = append(plan.devEntries, Entry{"lxc.autodev.tmpfs.size", strconv.FormatUint(n, 10)})
			}
		}
	case m.Type == "devpts" && dest == "/dev/pts" && !plan.have["devpts"]:
		// LXC mounts its own devpts instance (newinstance,
		// ptmxmode=0666, mode=0620, gid=5) when pty.max is set.
		plan.devEntries = append(plan.devEntries, Entry{"lxc.pty.max", "1024"})
		plan.have["devpts"] = true
	default:
		return false, nil
	}
	return true, nil
}

// addMounts writes lxc.autodev, the /dev entries, lxc.mount.auto and the
// mount entries, in LXC's order.
func (c *converter) addMounts(plan *mountPlan, entries []string) error {
	autodev := "0"
	if c.autodev {
		autodev = "1"
	} else {
		c.warn("mounts", "no tmpfs on /dev: lxc.autodev = 0, the rootfs /dev is used as is and standard device nodes are not created")
	}
	if err := c.add("lxc.autodev", autodev); err != nil {
		return err
	}
	for _, e := range plan.devEntries {
		if err := c.add(e.Key, e.Value); err != nil {
			return err
		}
	}
	if len(plan.auto) > 0 {
		if err := c.add("lxc.mount.auto", strings.Join(plan.auto, " ")); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if err := c.add("lxc.mount.entry", e); err != nil {
			return err
		}
	}
	return nil
}

// mountEntry builds one lxc.mount.entry value for p, resolving its
// destination in view (the container as mounted so far), and adds the
// mount to view.
func (c *converter) mountEntry(view *mountView, p pendingEntry) (string, error) {
	field, m, dest, bind := p.field, p.m, p.dest, p.bind
	target, err := ResolveInRoot(view, dest)
	if err != nil {
		return "", fieldErr(field+".destination", "%v", err)
	}
	if target == "" {
		return "", fieldErr(field+".destination", "%q resolves to the root", dest)
	}
	src := m.Source
	fstype := m.Type
	var opts []string
	isDir := true // a bind of a file mounts onto a file
	if bind {
		if src == "" {
			return "", fieldErr(field+".source", "a bind mount needs a source")
		}
		if !filepath.IsAbs(src) {
			if c.opts.BundleDir == "" {
				return "", fieldErr(field+".source", "%q is relative and Options.BundleDir is empty", src)
			}
			src = filepath.Join(c.opts.BundleDir, src)
		}
		fstype = "none"
		if !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
			opts = append(opts, "bind")
		}
		if isDir, err = c.hostIsDir(src); err != nil {
			return "", fieldErr(field+".source", "%v", err)
		}
	} else {
		if fstype == "" {
			return "", fieldErr(field+".type", "empty type for a non-bind mount")
		}
		if src == "" {
			src = fstype
		}
	}
	create := "create=dir"
	if !isDir {
		create = "create=file"
	}
	// A target on a host directory is made by the runtime (MountTarget),
	// never by LXC's create=, which follows symlinks on the host.
	holder, rel := view.holder(target)
	if holder != nil && holder.file && rel != "" {
		return "", fieldErr(field+".destination", "%q lies under %s, a bind mount of the file %s", dest, holder.field, holder.host)
	}
	if holder == nil || holder.host != "" {
		root, ro := c.rootfsHost, false
		if holder != nil {
			root, ro = holder.host, holder.ro
		}
		if rel != "" {
			c.res.MountTargets = append(c.res.MountTargets, MountTarget{
				Field: field + ".destination", Dest: "/" + target, Root: root, Path: rel,
				Dir: isDir, ReadOnly: ro,
			})
		}
		create = ""
	}
	rro := slices.Contains(m.Options, "rro")
	vm := viewMount{dest: target, field: field, ro: rro || slices.Contains(m.Options, "ro")}
	if bind {
		vm.host, vm.file = filepath.Clean(src), !isDir
		shared := slices.Contains(m.Options, "shared") || slices.Contains(m.Options, "rshared")
		if shared || rro {
			if src, err = c.stageBind(field, src, isDir, slices.Contains(m.Options, "rbind"), shared, rro); err != nil {
				return "", err
			}
		}
	}
	view.mounts = append(view.mounts, vm)
	if strings.HasPrefix(src, "#") {
		return "", fieldErr(field+".source", "%q starts with '#', which an fstab line reads as a comment", src)
	}
	for j, o := range m.Options {
		if strings.HasPrefix(o, "create=") {
			return "", fieldErr(fmt.Sprintf("%s.options[%d]", field, j), "%q is an LXC option, not an OCI one", o)
		}
		if o == "" || o == "defaults" {
			continue
		}
		if o == "rro" {
			// The staged clone is read-only throughout; the entry
			// makes its top read-only as well (containerd's CRI
			// sends rro without ro).
			if !slices.Contains(m.Options, "ro") {
				opts = append(opts, "ro")
			}
			continue
		}
		opts = append(opts, o)
	}
	if create != "" {
		opts = append(opts, create)
	}
	if len(opts) == 0 {
		opts = append(opts, "defaults")
	}
	fields := []string{src, target, fstype, strings.Join(opts, ",")}
	names := []string{".source", ".destination", ".type", ".options"}
	for k, f := range fields {
		esc, err := escapeFstab(f)
		if err != nil {
			return "", fieldErr(field+names[k], "%v", err)
		}
		if esc == "" {
			return "", fieldErr(field+names[k], "empty")
		}
		fields[k] = esc
	}
	return strings.Join(fields, " ") + " 0 0", nil
}

// stageBind records a bind mount for the pre-mount hook (SharedMount says
// why) and returns the source its mount entry binds from: the staging
// point. Without the runtime's hook, a shared one stays a bind of src (a
// slave of the host's mount, with a warning) and a recursive read-only
// one (rro) is refused: LXC cannot make submounts read-only.
func (c *converter) stageBind(field, src string, isDir, recursive, shared, rro bool) (string, error) {
	if c.opts.HookCommand == "" || c.opts.SharedMountDir == "" {
		if rro {
			return "", fieldErr(field+".options", "recursive read-only (rro) needs the runtime's pre-mount hook (Options.HookCommand and SharedMountDir)")
		}
		c.warn(field+".options", "shared propagation needs the runtime's pre-mount hook (Options.HookCommand and SharedMountDir): mounted as a slave of the host's mount, so mounts made in the container do not reach the host")
		return src, nil
	}
	sm := SharedMount{
		Field:     field,
		Source:    src,
		Staging:   filepath.Join(c.opts.SharedMountDir, "shared."+strconv.Itoa(len(c.shared))),
		Recursive: recursive,
		Dir:       isDir,
		ReadOnly:  rro,
		Slave:     !shared,
	}
	c.shared = append(c.shared, sm)
	return sm.Staging, nil
}

// knownMaskedDirs are directories among the usual masked paths (runc masks
// a directory with a read-only tmpfs and a file with /dev/null).
var knownMaskedDirs = map[string]bool{
	"/proc/acpi": true, "/proc/scsi": true, "/sys/firmware": true,
	"/sys/devices/virtual/powercap": true, "/proc/asound": true, "/sys/fs/selinux": true,
}

var knownMaskedFiles = map[string]bool{
	"/proc/kcore": true, "/proc/keys": true, "/proc/latency_stats": true,
	"/proc/timer_list": true, "/proc/timer_stats": true, "/proc/sched_debug": true,
	"/proc/interrupts": true,
}

// specialPaths maps linux.readonlyPaths and linux.maskedPaths, in runc's
// order. All are optional: runc skips paths that do not exist.
func (c *converter) specialPaths() error {
	l := c.spec.Linux
	for i, p := range l.ReadonlyPaths {
		field := fmt.Sprintf("linux.readonlyPaths[%d]", i)
		rel, _, err := c.specialTarget(field, p)
		if err != nil {
			return err
		}
		// Not an lxc.mount.entry: LXC applies mount entries before
		// lxc.sysctl, so a read-only /proc/sys made every namespaced
		// sysctl fail ("Read-only file system"). runc writes the sysctls
		// first and makes these paths read-only afterwards; the runtime
		// does the same once init is ready (Result.ReadonlyPaths).
		c.res.ReadonlyPaths = append(c.res.ReadonlyPaths, "/"+rel)
	}
	for i, p := range l.MaskedPaths {
		field := fmt.Sprintf("linux.maskedPaths[%d]", i)
		_, rel, err := c.specialTarget(field, p)
		if err != nil {
			return err
		}
		clean := path.Clean(p)
		var isDir bool
		switch {
		case knownMaskedDirs[clean]:
			isDir = true
		case knownMaskedFiles[clean]:
		case strings.HasPrefix(clean, "/proc/") || strings.HasPrefix(clean, "/sys/"):
			// The container sees the host kernel's proc and sys trees.
			if c.opts.StatHost != nil {
				d, err := c.opts.StatHost(clean)
				if err == nil {
					isDir = d
				}
			}
		default:
			if c.opts.RootFS != nil {
				if fi, err := fs.Stat(c.opts.RootFS, rel); err == nil {
					isDir = fi.IsDir()
				}
			}
		}
		line := fmt.Sprintf("/dev/null %s none bind,optional 0 0", rel)
		if isDir {
			line = fmt.Sprintf("tmpfs %s tmpfs ro,optional 0 0", rel)
		}
		if err := c.add("lxc.mount.entry", line); err != nil {
			return err
		}
	}
	return nil
}

// specialTarget resolves p inside the rootfs: the path relative to the
// root, and the same escaped for an lxc.mount.entry line.
func (c *converter) specialTarget(field, p string) (rel, escaped string, err error) {
	if !path.IsAbs(p) {
		return "", "", fieldErr(field, "%q is not absolute", p)
	}
	rel, err = ResolveInRoot(c.opts.RootFS, p)
	if err != nil {
		return "", "", fieldErr(field, "%v", err)
	}
	if rel == "" {
		return "", "", fieldErr(field, "%q is the root", p)
	}
	escaped, err = escapeFstab(rel)
	if err != nil {
		return "", "", fieldErr(field, "%v", err)
	}
	return rel, escaped, nil
}
