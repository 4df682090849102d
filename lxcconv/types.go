package lxcconv

import (
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Options carries what Convert needs besides the spec: paths chosen by the
// shim and facts about the host, passed in so the converter stays pure.
type Options struct {
	// ContainerName is the LXC container name (used in warnings and, when
	// the spec has no cgroupsPath, left to LXC's default cgroup naming).
	ContainerName string
	// RootfsPath is the host path of the mounted root filesystem; it
	// becomes lxc.rootfs.path = dir:<RootfsPath>. When empty, spec.root.path
	// is used (made absolute against BundleDir when relative).
	RootfsPath string
	// BundleDir is the OCI bundle directory, used to resolve a relative
	// spec.root.path.
	BundleDir string
	// RootFS gives read access to the root filesystem; mount destinations
	// that cross symlinks are resolved inside it, never escaping it. When
	// nil, destinations are only cleaned lexically (LXC still confines
	// mount targets to the rootfs).
	RootFS fs.FS
	// StatHost reports whether a host path is a directory. It decides
	// create=dir / create=file for bind mounts and /dev/null vs tmpfs for
	// masked paths. When nil, bind sources are assumed to be directories
	// unless they look like well-known files.
	StatHost func(hostPath string) (isDir bool, err error)
	// HostFS gives read access to the host's file tree, rooted at /
	// (os.DirFS("/")). A destination under an earlier bind mount is then
	// resolved through that mount's source as the container will see it
	// (a symlink there resolves inside the container, as under runc), and
	// bind sources are stat'ed through it when StatHost is nil. When nil,
	// such destinations are kept as written; the runtime's creation of
	// MountTargets still refuses any symlink on the way.
	HostFS fs.FS
	// InitPath is the host-side absolute path, inside the container, of the
	// static zfslxc-init helper; it becomes lxc.init.cmd. Required.
	InitPath string
	// InitArgs are extra arguments for the helper (e.g. the path of the
	// process file). LXC splits lxc.init.cmd on blanks with no quoting, so
	// each must be free of blanks.
	InitArgs []string
	// LogFile and LogLevel become lxc.log.file and lxc.log.level.
	LogFile  string
	LogLevel string
	// CgroupVersion is the host's cgroup version: 1 (legacy or hybrid,
	// lxc.cgroup.* keys) or 2 (unified, lxc.cgroup2.* keys). Required.
	CgroupVersion int
	// MonitorCgroup is the cgroup, relative to each hierarchy's root as
	// linux.cgroupsPath is, that LXC moves the container's monitor
	// (zfslxc-start) into when the spec has a cgroupsPath; LXC creates it
	// (it must not exist) and removes it when the monitor exits. Empty:
	// lxc.monitor.<name> beside the container's cgroup, which under CRI
	// is inside the pod's cgroup parent and charges the monitor to the pod.
	MonitorCgroup string
	// InitOutlivesMonitor keeps the container's init alive when LXC's
	// monitor (zfslxc-start) exits: lxc.monitor.signal.pdeath = 0, so
	// liblxc clears the parent-death signal (SIGKILL by default) before
	// it execs init. The shim's runtime ends the monitor once init is set
	// up and adopts init (docs/adr/0007-no-monitor.md); standalone
	// containers keep liblxc's default.
	InitOutlivesMonitor bool
	// SeccompProfilePath is where the shim writes Result.SeccompProfile;
	// required when the spec has linux.seccomp.
	SeccompProfilePath string
	// HookCommand is the command line LXC runs as lxc.hook.mount for work
	// that must happen inside the container's mount namespace before
	// pivot_root (createContainer hooks). LXC splits it
	// on blanks; Convert appends the word "mount". Required only when the
	// spec has createContainer hooks.
	HookCommand string
	// SharedMountDir is a host directory of the runtime's (its state
	// directory) where Convert names a staging point for each bind mount
	// with shared or rshared propagation (MountHook.SharedMounts). With
	// HookCommand it makes such a mount a peer of the host's, so that
	// mounts propagate both ways; without either, the mount is a slave of
	// the host's (host to container only) and Convert warns.
	SharedMountDir string
	// DefaultAppArmorProfile is used when process.apparmorProfile is empty
	// ("unconfined" on hosts where LXC's default profile is missing, as on
	// Debian here). Empty leaves LXC's default.
	DefaultAppArmorProfile string
}

// Warning reports an OCI field that was applied only in part, as runc too
// treats it as best effort.
type Warning struct {
	Field   string
	Message string
}

func (w Warning) String() string { return w.Field + ": " + w.Message }

// Process is what the zfslxc-init helper applies inside the container
// before it execs the payload. None of it goes through LXC config: LXC 5.0
// splits lxc.init.cmd on blanks with no quoting, cannot carry newlines,
// and chdirs to lxc.init.cwd before init runs (failing if it is missing).
type Process struct {
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	// Cwd is created by the helper if missing, as runc does.
	Cwd            string   `json:"cwd"`
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	Umask          *uint32  `json:"umask,omitempty"`
	Terminal       bool     `json:"terminal,omitempty"`
	// ConsoleSize is the initial terminal size when Terminal is set.
	ConsoleSize *specs.Box `json:"consoleSize,omitempty"`
	// Capabilities: LXC applies lxc.cap.keep (the bounding set plus the
	// setuid, setgid and setpcap the helper needs) before the helper runs;
	// the helper drops the bounding set to Bounding, then sets effective,
	// permitted, inheritable and ambient after it changes uid/gid, which
	// only it can do.
	Capabilities *specs.LinuxCapabilities `json:"capabilities,omitempty"`
	// StartContainerHooks run in the container after setup, just before
	// the payload is executed (OCI startContainer).
	StartContainerHooks []specs.Hook `json:"startContainerHooks,omitempty"`
	// State is the OCI state the helper gives the startContainer hooks on
	// stdin: ociVersion (the spec's), id (Options.ContainerName), status
	// "created", bundle (Options.BundleDir) and annotations. The helper
	// sets pid to its own pid in the container's pid namespace, as runc's
	// init does for these hooks (1 unless the pid namespace is shared).
	// Set only when there are startContainer hooks.
	State *specs.State `json:"state,omitempty"`
	// Rlimits are set by the helper with setrlimit before it changes the
	// user. Only exec processes have them here: for init, LXC sets the
	// spec's (lxc.prlimit), and an attached process would not inherit
	// those.
	Rlimits []specs.POSIXRlimit `json:"rlimits,omitempty"`
	// NoNewPrivileges makes the helper set no_new_privs before it execs.
	// Only exec processes have it here: for init, LXC sets the spec's
	// (lxc.no_new_privs), and an attached process gets the container's
	// from liblxc.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// OOMScoreAdj of an exec process: zfslxc-start --attach sets it on
	// itself (as host root: lowering it needs CAP_SYS_RESOURCE, which the
	// container lacks) and the attached process inherits it; the helper
	// ignores it. LXC sets init's (lxc.proc.oom_score_adj).
	OOMScoreAdj *int `json:"oomScoreAdj,omitempty"`
	// StopSignal is the image's stop signal (0 when unset); the shim uses
	// it, the helper ignores it.
	StopSignal syscall.Signal `json:"stopSignal,omitempty"`
}

// Device is a device node the hook runner creates under the container's
// /dev (LXC has no key for arbitrary device nodes).
type Device struct {
	Path     string       `json:"path"`
	Type     string       `json:"type"`
	Major    int64        `json:"major"`
	Minor    int64        `json:"minor"`
	FileMode *fs.FileMode `json:"fileMode,omitempty"`
	UID      *uint32      `json:"uid,omitempty"`
	GID      *uint32      `json:"gid,omitempty"`
}

// Hooks are the OCI hooks sorted by who runs them.
type Hooks struct {
	// Runtime holds prestart and createRuntime hooks: the shim runs them
	// in the runtime namespace, with the OCI state on stdin, once the
	// container's init exists and before Create returns (nerdctl's
	// networking depends on these).
	Prestart      []specs.Hook `json:"prestart,omitempty"`
	CreateRuntime []specs.Hook `json:"createRuntime,omitempty"`
	// CreateContainer hooks are run by HookCommand from lxc.hook.mount, in
	// the container's mount namespace before pivot_root.
	CreateContainer []specs.Hook `json:"createContainer,omitempty"`
	// Poststart and Poststop hooks are run by the shim in the runtime
	// namespace.
	Poststart []specs.Hook `json:"poststart,omitempty"`
	Poststop  []specs.Hook `json:"poststop,omitempty"`
}

// Result is the outcome of Convert.
type Result struct {
	Config   *Config
	Warnings []Warning
	// Process is for the init helper; the shim writes it to a file.
	Process *Process
	// SeccompProfile is the LXC seccomp v2 policy text, to be written to
	// Options.SeccompProfilePath; empty when the spec has no seccomp.
	SeccompProfile string
	// Hooks lists the OCI hooks; startContainer hooks are in Process.
	Hooks Hooks
	// Devices are extra device nodes (linux.devices) the runtime creates
	// in the container's mount namespace once init is ready, before the
	// process runs: mknod with the spec's mode and owner; a path that
	// exists is kept, as runc does.
	Devices []Device
	// MountHook is what HookCommand needs when LXC runs it as
	// lxc.hook.mount (createContainer hooks) or lxc.hook.pre-mount
	// (shared mounts); the runtime writes it as JSON where the hook finds
	// it. Nil: no hook.
	MountHook *MountHook
	// LateCgroup are cgroup keys (lxc.cgroup.* / lxc.cgroup2.*, as in
	// Config) that the runtime writes into the container's cgroup once
	// init has reported ready, not through LXC: pids.max, which LXC would
	// set before the helper (a Go program) has started its threads, so
	// that a low limit kills it. runc too sets the resources only after
	// its init's setup.
	LateCgroup []Entry
	// ReadonlyRootfs (root.readonly): the runtime remounts the
	// container's / read-only once init has reported ready, as runc's
	// init does after the mounts. Not lxc.rootfs.options = ro: LXC's dir
	// backend would make the rootfs read-only before it creates the mount
	// targets (an image without /run fails), and the helper cannot do it
	// itself under a seccomp profile that denies mount(2).
	ReadonlyRootfs bool
	// MountTargets are the mount points on host directories (the rootfs,
	// earlier bind mounts) the runtime creates before LXC runs; their
	// lxc.mount.entry lines carry no create= (see MountTarget).
	MountTargets []MountTarget
	// Remounts are mounts LXC makes itself (lxc.autodev's /dev tmpfs,
	// lxc.mount.auto's sys) without the spec's per-mount flags; the
	// runtime remounts them with the flags of Options (ro, nosuid, nodev,
	// noexec, atime options) once init is ready.
	Remounts []Remount
	// ReadonlyPaths (linux.readonlyPaths, resolved inside the rootfs) are
	// bound onto themselves read-only by the runtime once init is ready,
	// after LXC has written the sysctls (runc's order). As LXC mount
	// entries they came first and made /proc/sys read-only before
	// lxc.sysctl, so every namespaced sysctl failed.
	ReadonlyPaths []string
}

// MountHook is the work of lxc.hook.mount (Options.HookCommand), run by
// LXC in the container's mount namespace once its mounts are made and
// before pivot_root: the createContainer hooks, as runc runs them there.
type MountHook struct {
	// State is the OCI state the createContainer hooks get on stdin:
	// ociVersion (the spec's), id, status "creating", bundle,
	// annotations; the hook runner sets pid to init's pid in the
	// container's pid namespace, as runc's init does (1 unless the pid
	// namespace is shared).
	State specs.State `json:"state"`
	// CreateContainer hooks, in order; the first failure fails the start.
	CreateContainer []specs.Hook `json:"createContainer,omitempty"`
	// SharedMounts are the bind mounts with shared or rshared
	// propagation or the rro option, in spec order; lxc.hook.pre-mount (HookCommand
	// pre-mount) stages them.
	SharedMounts []SharedMount `json:"sharedMounts,omitempty"`
}

// SharedMount is a bind mount whose propagation is shared or rshared
// (CRI's Bidirectional, docker's :rshared). runc binds the source in the
// container's mount namespace, where it is still a peer of the host's
// mount, so mounts made on either side reach the other. LXC first turns
// every shared mount of the new namespace into a slave
// (turn_into_dependent_mounts), so a bind from there only receives. So the
// runtime clones Source in the host's namespace (open_tree), passes the
// clone down to the container, and LXC's pre-mount hook, which runs in the
// container's namespace after that demotion and before the mount entries,
// attaches it at Staging; the mount entry binds from Staging, which yields
// a peer of the host's mount, in the spec's order among the other mounts.
type SharedMount struct {
	// Field names the spec mount ("mounts[3]").
	Field string `json:"field"`
	// Source is the bind source on the host.
	Source string `json:"source"`
	// Staging is a file or directory (Dir) the runtime creates under
	// Options.SharedMountDir; the mount entry's source.
	Staging string `json:"staging"`
	// Recursive: rbind (submounts come along).
	Recursive bool `json:"recursive,omitempty"`
	// Dir: Source is a directory, else a file.
	Dir bool `json:"dir,omitempty"`
	// ReadOnly: the spec asks for rro, recursive read-only (runc's
	// mount_setattr MOUNT_ATTR_RDONLY with AT_RECURSIVE): the runtime
	// makes every mount of the clone read-only before it is passed on;
	// the entry's plain ro reaches only its top mount.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Slave: the propagation is not shared (an rro mount is staged for
	// its read-only submounts only): the runtime makes the clone a slave
	// of the source's mount, what LXC makes of every other bind source,
	// so mounts made in the container do not reach the host.
	Slave bool `json:"slave,omitempty"`
}

// Remount is a mount point and the spec's options for it.
type Remount struct {
	Path    string
	Options []string
}

// FieldError is a refusal: the OCI field (or Options field) cannot be
// expressed in LXC or is invalid. It matches errdefs.ErrInvalidArgument, so
// the shim reports it to containerd with the right gRPC code.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap classifies every refusal as an invalid argument.
func (e *FieldError) Unwrap() error { return errdefs.ErrInvalidArgument }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// noBlank reports an error if s holds a blank, which LXC would split on.
func noBlank(field, s string) error {
	if strings.ContainsAny(s, " \t\n\r\x00") {
		return fieldErr(field, "%q contains a blank or line break, which LXC would split on", s)
	}
	return nil
}
