package lxcconv

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// nsMode says what the spec asks of one namespace type.
type nsMode int

const (
	nsHost nsMode = iota // not listed: share the runtime's namespace
	nsNew                // listed without a path: create
	nsJoin               // listed with a path: join
)

// lxcNamespaces lists OCI namespace types with their LXC names (as in
// /proc/PID/ns), in LXC's own order.
var lxcNamespaces = []struct {
	oci specs.LinuxNamespaceType
	lxc string
}{
	{specs.UserNamespace, "user"},
	{specs.MountNamespace, "mnt"},
	{specs.PIDNamespace, "pid"},
	{specs.UTSNamespace, "uts"},
	{specs.IPCNamespace, "ipc"},
	{specs.NetworkNamespace, "net"},
	{specs.CgroupNamespace, "cgroup"},
	{specs.TimeNamespace, "time"},
}

type converter struct {
	spec *specs.Spec
	opts Options
	cfg  *Config
	res  *Result
	ns   map[specs.LinuxNamespaceType]nsMode
	// autodev is set when the spec mounts a tmpfs on /dev, which LXC's
	// lxc.autodev replaces (and populates with the standard nodes).
	autodev bool
	// needMountHook is set when HookCommand must run as lxc.hook.mount.
	needMountHook bool
	// shared are the bind mounts the pre-mount hook stages.
	shared []SharedMount
	// rootfsHost is the host path of the rootfs (lxc.rootfs.path).
	rootfsHost string
}

func (c *converter) add(key, value string) error {
	return c.cfg.Add(key, value)
}

func (c *converter) warn(field, format string, args ...any) {
	c.res.Warnings = append(c.res.Warnings, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Convert maps spec to an LXC configuration. It returns an error naming the
// first OCI field that LXC cannot express; it never drops a field silently.
func Convert(spec *specs.Spec, opts Options) (*Result, error) {
	if spec == nil {
		return nil, fieldErr("spec", "missing")
	}
	c := &converter{
		spec: spec,
		opts: opts,
		cfg:  &Config{},
		res:  &Result{},
		ns:   map[specs.LinuxNamespaceType]nsMode{},
	}
	c.res.Config = c.cfg
	steps := []func() error{
		c.checkTop,
		c.checkOptions,
		c.namespaces,
		c.rootfs,
		c.hostname,
		c.initCmd,
		c.logging,
		c.network,
		c.idmaps,
		c.timeOffsets,
		c.personality,
		c.console,
		c.mounts,
		c.capabilities,
		c.rlimits,
		c.security,
		c.sysctl,
		c.cgroups,
		c.seccomp,
		c.devices,
		c.hooks,
		c.refusals,
		c.process,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return c.res, nil
}

// checkTop validates the version and refuses other platforms' sections.
func (c *converter) checkTop() error {
	s := c.spec
	if s.Version != "" && !strings.HasPrefix(s.Version, "1.") {
		return fieldErr("ociVersion", "%q is not a 1.x runtime spec", s.Version)
	}
	switch {
	case s.Windows != nil:
		return fieldErr("windows", "Windows containers are not supported")
	case s.Solaris != nil:
		return fieldErr("solaris", "Solaris containers are not supported")
	case s.VM != nil:
		return fieldErr("vm", "VM-based containers are not supported")
	case s.ZOS != nil:
		return fieldErr("zos", "z/OS containers are not supported")
	case s.FreeBSD != nil:
		return fieldErr("freebsd", "FreeBSD jails are not supported")
	case s.Linux == nil:
		return fieldErr("linux", "missing; an LXC container needs the Linux section")
	case s.Process == nil:
		return fieldErr("process", "missing; the init helper needs a process to run")
	}
	return checkProcess("process", s.Process)
}

func (c *converter) checkOptions() error {
	o := c.opts
	if o.InitPath == "" || !path.IsAbs(o.InitPath) {
		return fieldErr("Options.InitPath", "must be an absolute path, got %q", o.InitPath)
	}
	if err := noBlank("Options.InitPath", o.InitPath); err != nil {
		return err
	}
	for i, a := range o.InitArgs {
		if a == "" {
			return fieldErr(fmt.Sprintf("Options.InitArgs[%d]", i), "empty argument cannot pass through lxc.init.cmd")
		}
		if err := noBlank(fmt.Sprintf("Options.InitArgs[%d]", i), a); err != nil {
			return err
		}
	}
	if o.CgroupVersion != 1 && o.CgroupVersion != 2 {
		return fieldErr("Options.CgroupVersion", "must be 1 or 2, got %d", o.CgroupVersion)
	}
	if o.HookCommand != "" && strings.ContainsAny(o.HookCommand, "\n\r\x00") {
		return fieldErr("Options.HookCommand", "contains a line break")
	}
	return nil
}

func (c *converter) namespaces() error {
	known := map[specs.LinuxNamespaceType]bool{}
	for _, n := range lxcNamespaces {
		known[n.oci] = true
	}
	paths := map[specs.LinuxNamespaceType]string{}
	for i, n := range c.spec.Linux.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		if !known[n.Type] {
			return fieldErr(field+".type", "unknown namespace type %q", n.Type)
		}
		if _, dup := c.ns[n.Type]; dup {
			return fieldErr(field+".type", "namespace %q listed twice", n.Type)
		}
		if n.Path == "" {
			c.ns[n.Type] = nsNew
			continue
		}
		if !path.IsAbs(n.Path) {
			return fieldErr(field+".path", "%q is not absolute", n.Path)
		}
		if n.Type == specs.MountNamespace {
			return fieldErr(field+".path", "joining an existing mount namespace cannot be expressed in LXC (it always sets up the rootfs in a new one)")
		}
		c.ns[n.Type] = nsJoin
		paths[n.Type] = n.Path
	}
	if c.ns[specs.MountNamespace] != nsNew {
		return fieldErr("linux.namespaces", "a new mount namespace is required to set up a root filesystem")
	}
	var clone []string
	for _, n := range lxcNamespaces {
		if c.ns[n.oci] == nsNew {
			clone = append(clone, n.lxc)
		}
	}
	// lxc.namespace.clone is explicit so LXC's defaults (which would e.g.
	// clone a user namespace under lxc.namespace.keep) never apply.
	if err := c.add("lxc.namespace.clone", strings.Join(clone, " ")); err != nil {
		return err
	}
	for _, n := range lxcNamespaces {
		if p, ok := paths[n.oci]; ok {
			// LXC 5 opens an absolute value as a namespace file.
			if err := c.add("lxc.namespace.share."+n.lxc, p); err != nil {
				return fieldErr("linux.namespaces", "%v", err)
			}
		}
	}
	return nil
}

func (c *converter) rootfs() error {
	root := c.spec.Root
	p := c.opts.RootfsPath
	if p == "" {
		if root == nil || root.Path == "" {
			return fieldErr("root.path", "missing and Options.RootfsPath is empty")
		}
		p = root.Path
		if !filepath.IsAbs(p) {
			if c.opts.BundleDir == "" {
				return fieldErr("root.path", "%q is relative and Options.BundleDir is empty", p)
			}
			p = filepath.Join(c.opts.BundleDir, p)
		}
	}
	c.rootfsHost = p
	if err := c.add("lxc.rootfs.path", "dir:"+p); err != nil {
		return fieldErr("root.path", "%v", err)
	}
	// root.readonly is not lxc.rootfs.options = ro (Result.ReadonlyRootfs).
	c.res.ReadonlyRootfs = root != nil && root.Readonly
	var mntopts []string
	if prop := c.spec.Linux.RootfsPropagation; prop != "" {
		switch prop {
		case "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
			mntopts = append(mntopts, prop)
		default:
			return fieldErr("linux.rootfsPropagation", "unknown propagation %q", prop)
		}
	}
	if len(mntopts) > 0 {
		if err := c.add("lxc.rootfs.options", strings.Join(mntopts, ",")); err != nil {
			return err
		}
	}
	// The rootfs belongs to containerd's snapshotter: LXC must not touch it.
	return c.add("lxc.rootfs.managed", "0")
}

func (c *converter) hostname() error {
	s := c.spec
	if s.Hostname != "" {
		if c.ns[specs.UTSNamespace] == nsHost {
			return fieldErr("hostname", "setting a hostname requires a uts namespace")
		}
		if err := c.add("lxc.uts.name", s.Hostname); err != nil {
			return fieldErr("hostname", "%v", err)
		}
	}
	if s.Domainname != "" {
		if c.ns[specs.UTSNamespace] == nsHost {
			return fieldErr("domainname", "setting a domainname requires a uts namespace")
		}
		if _, dup := s.Linux.Sysctl["kernel.domainname"]; dup {
			return fieldErr("domainname", "conflicts with linux.sysctl[kernel.domainname]")
		}
		// LXC has no domainname key; the uts-namespaced sysctl sets it.
		if err := c.add("lxc.sysctl.kernel.domainname", s.Domainname); err != nil {
			return fieldErr("domainname", "%v", err)
		}
	}
	return nil
}

func (c *converter) initCmd() error {
	cmd := append([]string{c.opts.InitPath}, c.opts.InitArgs...)
	if err := c.add("lxc.init.cmd", strings.Join(cmd, " ")); err != nil {
		return err
	}
	// lxc.init.cwd must exist; "/" always does. The helper chdirs (and
	// creates process.cwd) itself.
	if err := c.add("lxc.init.cwd", "/"); err != nil {
		return err
	}
	if c.opts.InitOutlivesMonitor {
		// liblxc sets this parent-death signal just before it execs
		// init; 0 clears its default (SIGKILL).
		return c.add("lxc.monitor.signal.pdeath", "0")
	}
	return nil
}

var logLevels = map[string]int{
	"trace": 0, "debug": 1, "info": 2, "notice": 3, "warn": 4, "warning": 4,
	"error": 5, "crit": 6, "critical": 6, "alert": 7, "fatal": 8,
}

func (c *converter) logging() error {
	if c.opts.LogFile != "" {
		if err := c.add("lxc.log.file", c.opts.LogFile); err != nil {
			return fieldErr("Options.LogFile", "%v", err)
		}
	}
	if l := c.opts.LogLevel; l != "" {
		n, ok := logLevels[strings.ToLower(l)]
		if !ok {
			v, err := strconv.Atoi(l)
			if err != nil || v < 0 || v > 8 {
				return fieldErr("Options.LogLevel", "unknown level %q (want trace…fatal or 0…8)", l)
			}
			n = v
		}
		if err := c.add("lxc.log.level", strconv.Itoa(n)); err != nil {
			return err
		}
	}
	return nil
}

func (c *converter) network() error {
	devs := c.spec.Linux.NetDevices
	switch c.ns[specs.NetworkNamespace] {
	case nsHost:
		if len(devs) > 0 {
			return fieldErr("linux.netDevices", "moving devices requires a new network namespace")
		}
		// Keep the host's network, as runc does without a netns entry.
		return c.add("lxc.net.0.type", "none")
	case nsJoin:
		if len(devs) > 0 {
			return fieldErr("linux.netDevices", "moving devices into a joined network namespace is not supported")
		}
		return nil
	}
	// A new netns with loopback only; nerdctl's createRuntime hook (CNI)
	// adds interfaces afterwards.
	if err := c.add("lxc.net.0.type", "empty"); err != nil {
		return err
	}
	names := make([]string, 0, len(devs))
	for n := range devs {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, host := range names {
		field := fmt.Sprintf("linux.netDevices[%s]", host)
		idx := fmt.Sprintf("lxc.net.%d.", i+1)
		if err := noBlank(field, host); err != nil {
			return err
		}
		if err := c.add(idx+"type", "phys"); err != nil {
			return err
		}
		if err := c.add(idx+"link", host); err != nil {
			return fieldErr(field, "%v", err)
		}
		if name := devs[host].Name; name != "" {
			if err := noBlank(field+".name", name); err != nil {
				return err
			}
			if err := c.add(idx+"name", name); err != nil {
				return fieldErr(field+".name", "%v", err)
			}
		}
	}
	return nil
}

func (c *converter) idmaps() error {
	l := c.spec.Linux
	hasMaps := len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0
	switch c.ns[specs.UserNamespace] {
	case nsNew:
		if len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0 {
			return fieldErr("linux.uidMappings", "a new user namespace needs both uid and gid mappings")
		}
	case nsJoin:
		if hasMaps {
			c.warn("linux.uidMappings", "ignored: the joined user namespace already has its mappings")
		}
		return nil
	default:
		if hasMaps {
			return fieldErr("linux.uidMappings", "mappings given without a user namespace")
		}
		return nil
	}
	for _, m := range l.UIDMappings {
		if err := c.add("lxc.idmap", fmt.Sprintf("u %d %d %d", m.ContainerID, m.HostID, m.Size)); err != nil {
			return err
		}
	}
	for _, m := range l.GIDMappings {
		if err := c.add("lxc.idmap", fmt.Sprintf("g %d %d %d", m.ContainerID, m.HostID, m.Size)); err != nil {
			return err
		}
	}
	return nil
}

func (c *converter) timeOffsets() error {
	offs := c.spec.Linux.TimeOffsets
	if len(offs) == 0 {
		return nil
	}
	if c.ns[specs.TimeNamespace] != nsNew {
		return fieldErr("linux.timeOffsets", "requires a new time namespace")
	}
	keys := make([]string, 0, len(offs))
	for k := range offs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var key string
		switch k {
		case "boottime":
			key = "lxc.time.offset.boot"
		case "monotonic":
			key = "lxc.time.offset.monotonic"
		default:
			return fieldErr("linux.timeOffsets["+k+"]", "unknown clock (want boottime or monotonic)")
		}
		o := offs[k]
		if o.Nanosecs >= 1e9 {
			return fieldErr("linux.timeOffsets["+k+"].nanosecs", "%d is not below one second", o.Nanosecs)
		}
		v := fmt.Sprintf("%ds", o.Secs)
		if o.Nanosecs != 0 {
			if o.Secs > 9e9 || o.Secs < -9e9 {
				return fieldErr("linux.timeOffsets["+k+"]", "offset too large to express in nanoseconds")
			}
			v = fmt.Sprintf("%dns", o.Secs*1e9+int64(o.Nanosecs))
		}
		if err := c.add(key, v); err != nil {
			return err
		}
	}
	return nil
}

func (c *converter) personality() error {
	p := c.spec.Linux.Personality
	if p == nil {
		return nil
	}
	if len(p.Flags) > 0 {
		return fieldErr("linux.personality.flags", "personality flags cannot be expressed in LXC")
	}
	switch p.Domain {
	case specs.PerLinux:
		return nil
	case specs.PerLinux32:
		// lxc.arch = linux32 makes LXC call personality(PER_LINUX32).
		return c.add("lxc.arch", "linux32")
	default:
		return fieldErr("linux.personality.domain", "unknown domain %q", p.Domain)
	}
}

func (c *converter) console() error {
	if err := c.add("lxc.tty.max", "0"); err != nil {
		return err
	}
	// Always none, process.terminal or not: a console pty of LXC's own
	// would be wired to nothing the starter is given, and the output
	// would be lost. With a terminal the shim allocates the pty and
	// passes its slave as stdio; zfslxc-init makes it the controlling
	// terminal (Result.Process.Terminal).
	return c.add("lxc.console.path", "none")
}

func (c *converter) capabilities() error {
	var keep []string
	seen := map[string]bool{}
	if caps := c.spec.Process.Capabilities; caps != nil {
		for i, name := range caps.Bounding {
			field := fmt.Sprintf("process.capabilities.bounding[%d]", i)
			up, _, known := Capability(name)
			if !known {
				// Like runc: an unknown capability is left out (and so
				// dropped, the safe side of a keep list).
				c.warn(field, "unknown capability %q not kept", name)
				continue
			}
			lxcName := strings.ToLower(strings.TrimPrefix(up, "CAP_"))
			if !seen[lxcName] {
				seen[lxcName] = true
				keep = append(keep, lxcName)
			}
		}
	}
	// LXC drops the bounding set before it execs zfslxc-init, so init's
	// permitted set is this list: without setuid and setgid it could not
	// change to the process's user, without setpcap not drop the bounding
	// set. runc drops the bounding set before it changes the user and so
	// keeps them; to match, they are kept here and zfslxc-init drops
	// whatever the spec's bounding set lacks before it execs the process.
	for _, helper := range []string{"setgid", "setuid", "setpcap"} {
		if !seen[helper] {
			keep = append(keep, helper)
		}
	}
	return c.add("lxc.cap.keep", strings.Join(keep, " "))
}

func rlimitValue(v uint64) string {
	if v == ^uint64(0) {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

func (c *converter) rlimits() error {
	for _, r := range c.spec.Process.Rlimits { // checked by checkProcess
		// LXC sets them on init from the monitor (prlimit); the payload
		// inherits them across the helper's exec.
		if err := c.add("lxc.prlimit."+rlimits[r.Type].lxc, rlimitValue(r.Soft)+":"+rlimitValue(r.Hard)); err != nil {
			return err
		}
	}
	return nil
}

func (c *converter) security() error {
	p := c.spec.Process
	if p.NoNewPrivileges {
		if err := c.add("lxc.no_new_privs", "1"); err != nil {
			return err
		}
	}
	if p.OOMScoreAdj != nil { // range checked by checkProcess
		if err := c.add("lxc.proc.oom_score_adj", strconv.Itoa(*p.OOMScoreAdj)); err != nil {
			return err
		}
	}
	profile := p.ApparmorProfile
	if profile == "" {
		profile = c.opts.DefaultAppArmorProfile
	}
	if profile != "" {
		if err := c.add("lxc.apparmor.profile", profile); err != nil {
			return fieldErr("process.apparmorProfile", "%v", err)
		}
	}
	if p.SelinuxLabel != "" {
		if err := c.add("lxc.selinux.context", p.SelinuxLabel); err != nil {
			return fieldErr("process.selinuxLabel", "%v", err)
		}
	}
	return nil
}

func validSysctlName(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
		return false
	}
	for i := 0; i < len(k); i++ {
		b := k[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

func (c *converter) sysctl() error {
	m := c.spec.Linux.Sysctl
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := "linux.sysctl[" + k + "]"
		name := strings.ReplaceAll(k, "/", ".")
		if !validSysctlName(name) {
			return fieldErr(field, "invalid sysctl name")
		}
		// The same namespace checks as runc: a sysctl outside the
		// container's namespaces would change the host.
		switch {
		case strings.HasPrefix(name, "net."):
			if c.ns[specs.NetworkNamespace] == nsHost {
				return fieldErr(field, "net.* sysctls need a network namespace")
			}
		case strings.HasPrefix(name, "fs.mqueue.") || name == "kernel.sem" ||
			strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "kernel.msg"):
			if c.ns[specs.IPCNamespace] == nsHost {
				return fieldErr(field, "ipc sysctls need an ipc namespace")
			}
		case name == "kernel.hostname" || name == "kernel.domainname":
			if c.ns[specs.UTSNamespace] == nsHost {
				return fieldErr(field, "uts sysctls need a uts namespace")
			}
		default:
			return fieldErr(field, "not a namespaced sysctl; setting it would change the host")
		}
		if err := c.add("lxc.sysctl."+name, m[k]); err != nil {
			return fieldErr(field, "%v", err)
		}
	}
	return nil
}

func (c *converter) hooks() error {
	h := c.spec.Hooks
	if h == nil {
		return nil
	}
	check := func(kind string, hooks []specs.Hook) error {
		for i, hk := range hooks {
			if !path.IsAbs(hk.Path) {
				return fieldErr(fmt.Sprintf("hooks.%s[%d].path", kind, i), "%q is not absolute", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fieldErr(fmt.Sprintf("hooks.%s[%d].timeout", kind, i), "must be positive")
			}
		}
		return nil
	}
	for kind, hooks := range map[string][]specs.Hook{
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime, "createContainer": h.CreateContainer,
		"startContainer": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	} {
		if err := check(kind, hooks); err != nil {
			return err
		}
	}
	if len(h.Prestart) > 0 {
		c.warn("hooks.prestart", "deprecated; run by the shim with the createRuntime hooks, after the container's namespaces exist")
	}
	c.res.Hooks = Hooks{
		Prestart:        slices.Clone(h.Prestart),
		CreateRuntime:   slices.Clone(h.CreateRuntime),
		CreateContainer: slices.Clone(h.CreateContainer),
		Poststart:       slices.Clone(h.Poststart),
		Poststop:        slices.Clone(h.Poststop),
	}
	if len(h.CreateContainer) > 0 {
		if c.opts.HookCommand == "" {
			return fieldErr("hooks.createContainer", "needs Options.HookCommand to run inside the container's mount namespace")
		}
		// LXC runs lxc.hook.mount while it starts the container; the
		// runtime runs prestart and createRuntime hooks once init exists,
		// after that. The OCI order is the other way round (nerdctl's
		// network set up before a createContainer hook looks at it), so
		// the two together are refused rather than run out of order.
		if len(h.Prestart)+len(h.CreateRuntime) > 0 {
			return fieldErr("hooks.createContainer", "with prestart or createRuntime hooks: LXC would run them before those, and the OCI order is createRuntime first; not supported")
		}
		c.needMountHook = true
	}
	return nil
}

// mountHook adds lxc.hook.mount for createContainer hooks (device nodes
// are made by the runtime once init is ready, not here) and
// lxc.hook.pre-mount for shared bind mounts.
// LXC splits the command on blanks, so only HookCommand and a fixed word go
// through it; the hook runner reads everything else from the shim's files.
func (c *converter) mountHook() error {
	c.res.MountHook = &MountHook{
		State: specs.State{
			Version:     c.spec.Version,
			ID:          c.opts.ContainerName,
			Status:      specs.StateCreating,
			Bundle:      c.opts.BundleDir,
			Annotations: maps.Clone(c.spec.Annotations),
		},
		CreateContainer: slices.Clone(c.res.Hooks.CreateContainer),
		SharedMounts:    c.shared,
	}
	if err := c.add("lxc.hook.version", "1"); err != nil {
		return err
	}
	if len(c.shared) > 0 {
		if err := c.add("lxc.hook.pre-mount", c.opts.HookCommand+" pre-mount"); err != nil {
			return err
		}
	}
	if !c.needMountHook {
		return nil
	}
	return c.add("lxc.hook.mount", c.opts.HookCommand+" mount")
}

// refusals handles the fields LXC has no equivalent for.
func (c *converter) refusals() error {
	s := c.spec
	l := s.Linux
	p := s.Process
	switch {
	case p.User.Username != "":
		return fieldErr("process.user.username", "is a Windows-only field; give uid/gid")
	case p.Scheduler != nil:
		return fieldErr("process.scheduler", "LXC has no scheduler setting")
	case p.IOPriority != nil:
		return fieldErr("process.ioPriority", "LXC has no I/O priority setting")
	case p.ExecCPUAffinity != nil:
		return fieldErr("process.execCPUAffinity", "LXC has no CPU affinity setting for the init process")
	case l.IntelRdt != nil:
		return fieldErr("linux.intelRdt", "LXC has no Intel RDT support")
	case l.MemoryPolicy != nil:
		return fieldErr("linux.memoryPolicy", "LXC has no NUMA memory policy setting")
	}
	if l.MountLabel != "" {
		c.warn("linux.mountLabel", "not applied: LXC has no mount label setting")
	}
	if c.needMountHook || len(c.shared) > 0 {
		return c.mountHook()
	}
	return nil
}

func (c *converter) process() error {
	proc := newProcess(c.spec.Process) // checked by checkTop
	if c.spec.Hooks != nil && len(c.spec.Hooks.StartContainer) > 0 {
		proc.StartContainerHooks = slices.Clone(c.spec.Hooks.StartContainer)
		// Only the hooks read the state; annotations can be large
		// (Kubernetes puts whole objects in them), so it is left out
		// when there are none.
		proc.State = &specs.State{
			Version:     c.spec.Version,
			ID:          c.opts.ContainerName,
			Status:      specs.StateCreated,
			Bundle:      c.opts.BundleDir,
			Annotations: maps.Clone(c.spec.Annotations),
		}
	}
	c.res.Process = proc
	return nil
}
