package lxcconv

import (
	"errors"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRefusalMessages shows the error message of every refusal in the
// converter: each case changes baseSpec or baseOptions in one way and
// expects the exact text a user sees ("<field>: <why>"), classed as an
// invalid argument. A new refusal needs a case here.
func TestRefusalMessages(t *testing.T) {
	loopFS := fstest.MapFS{"loop": {Data: []byte("loop"), Mode: os.ModeSymlink}, "up": {Data: []byte("/"), Mode: os.ModeSymlink}}
	addMount := func(m specs.Mount) func(*specs.Spec) {
		return func(s *specs.Spec) { s.Mounts = append(s.Mounts, m) }
	}
	res := func(r specs.LinuxResources) func(*specs.Spec) {
		return func(s *specs.Spec) { s.Linux.Resources = &r }
	}
	seccomp := func(sc specs.LinuxSeccomp) func(*specs.Spec) {
		return func(s *specs.Spec) { s.Linux.Seccomp = &sc }
	}
	v1 := func(o *Options) { o.CgroupVersion = 1 }
	const nl = `value contains '\n', which LXC config cannot hold`
	tests := []struct {
		name string
		spec func(*specs.Spec)
		opts func(*Options)
		want string
	}{
		// checkTop
		{"version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, nil, `ociVersion: "2.0.0" is not a 1.x runtime spec`},
		{"windows", func(s *specs.Spec) { s.Windows = &specs.Windows{} }, nil, "windows: Windows containers are not supported"},
		{"solaris", func(s *specs.Spec) { s.Solaris = &specs.Solaris{} }, nil, "solaris: Solaris containers are not supported"},
		{"vm", func(s *specs.Spec) { s.VM = &specs.VM{} }, nil, "vm: VM-based containers are not supported"},
		{"zos", func(s *specs.Spec) { s.ZOS = &specs.ZOS{} }, nil, "zos: z/OS containers are not supported"},
		{"freebsd", func(s *specs.Spec) { s.FreeBSD = &specs.FreeBSD{} }, nil, "freebsd: FreeBSD jails are not supported"},
		{"no linux", func(s *specs.Spec) { s.Linux = nil }, nil, "linux: missing; an LXC container needs the Linux section"},
		{"no process", func(s *specs.Spec) { s.Process = nil }, nil, "process: missing; the init helper needs a process to run"},

		// checkOptions
		{"no init path", nil, func(o *Options) { o.InitPath = "" }, `Options.InitPath: must be an absolute path, got ""`},
		{"init path blank", nil, func(o *Options) { o.InitPath = "/a b" }, `Options.InitPath: "/a b" contains a blank or line break, which LXC would split on`},
		{"empty init arg", nil, func(o *Options) { o.InitArgs = []string{""} }, "Options.InitArgs[0]: empty argument cannot pass through lxc.init.cmd"},
		{"init arg blank", nil, func(o *Options) { o.InitArgs = []string{"a b"} }, `Options.InitArgs[0]: "a b" contains a blank or line break, which LXC would split on`},
		{"cgroup version", nil, func(o *Options) { o.CgroupVersion = 3 }, "Options.CgroupVersion: must be 1 or 2, got 3"},
		{"hook command line break", nil, func(o *Options) { o.HookCommand = "/bin/hook\nx" }, "Options.HookCommand: contains a line break"},
		{"monitor cgroup is the container's", func(s *specs.Spec) { s.Linux.CgroupsPath = "/pod/c1" }, func(o *Options) { o.MonitorCgroup = "pod/c1/" },
			`Options.MonitorCgroup: "pod/c1" is, or is above or below, the container's cgroup "pod/c1"`},
		{"monitor cgroup above the container's", func(s *specs.Spec) { s.Linux.CgroupsPath = "/pod/c1" }, func(o *Options) { o.MonitorCgroup = "/pod" },
			`Options.MonitorCgroup: "pod" is, or is above or below, the container's cgroup "pod/c1"`},
		{"monitor cgroup root", func(s *specs.Spec) { s.Linux.CgroupsPath = "/pod/c1" }, func(o *Options) { o.MonitorCgroup = "/" },
			`Options.MonitorCgroup: "/" is the root cgroup`},
		{"monitor cgroup blank", func(s *specs.Spec) { s.Linux.CgroupsPath = "/pod/c1" }, func(o *Options) { o.MonitorCgroup = "lxc.monitor a" },
			`Options.MonitorCgroup: "lxc.monitor a" contains a blank or line break, which LXC would split on`},

		// namespaces
		{"unknown namespace", func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "foo" }, nil, `linux.namespaces[0].type: unknown namespace type "foo"`},
		{"namespace twice", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, nil, `linux.namespaces[5].type: namespace "pid" listed twice`},
		{"relative namespace path", func(s *specs.Spec) { s.Linux.Namespaces[4].Path = "netns" }, nil, `linux.namespaces[4].path: "netns" is not absolute`},
		{"join mount namespace", func(s *specs.Spec) { s.Linux.Namespaces[3].Path = "/proc/1/ns/mnt" }, nil,
			"linux.namespaces[3].path: joining an existing mount namespace cannot be expressed in LXC (it always sets up the rootfs in a new one)"},
		{"no mount namespace", func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:3] }, nil,
			"linux.namespaces: a new mount namespace is required to set up a root filesystem"},
		{"namespace path line break", func(s *specs.Spec) { s.Linux.Namespaces[4].Path = "/run/netns/a\nb" }, nil,
			"linux.namespaces: lxc config key lxc.namespace.share.net: " + nl},

		// rootfs
		{"no root", func(s *specs.Spec) { s.Root = nil }, func(o *Options) { o.RootfsPath = "" }, "root.path: missing and Options.RootfsPath is empty"},
		{"relative root without bundle", nil, func(o *Options) { o.RootfsPath = "" }, `root.path: "rootfs" is relative and Options.BundleDir is empty`},
		{"rootfs path line break", nil, func(o *Options) { o.RootfsPath = "/b/root\nfs" }, "root.path: lxc config key lxc.rootfs.path: " + nl},
		{"rootfs propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "bogus" }, nil, `linux.rootfsPropagation: unknown propagation "bogus"`},

		// hostname, domainname
		{"hostname without uts", func(s *specs.Spec) {
			s.Hostname = "x"
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, nil, "hostname: setting a hostname requires a uts namespace"},
		{"hostname line break", func(s *specs.Spec) { s.Hostname = "a\nlxc.init.cmd = /bin/evil" }, nil, "hostname: lxc config key lxc.uts.name: " + nl},
		{"domainname without uts", func(s *specs.Spec) {
			s.Domainname = "x"
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, nil, "domainname: setting a domainname requires a uts namespace"},
		{"domainname and sysctl", func(s *specs.Spec) {
			s.Domainname = "x"
			s.Linux.Sysctl = map[string]string{"kernel.domainname": "y"}
		}, nil, "domainname: conflicts with linux.sysctl[kernel.domainname]"},
		{"domainname line break", func(s *specs.Spec) { s.Domainname = "a\nb" }, nil, "domainname: lxc config key lxc.sysctl.kernel.domainname: " + nl},

		// logging
		{"log file line break", nil, func(o *Options) { o.LogFile = "/l\nx" }, "Options.LogFile: lxc config key lxc.log.file: " + nl},
		{"log level", nil, func(o *Options) { o.LogLevel = "loud" }, `Options.LogLevel: unknown level "loud" (want trace…fatal or 0…8)`},

		// network
		{"net devices on host net", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:4]
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}}
		}, nil, "linux.netDevices: moving devices requires a new network namespace"},
		{"net devices on joined net", func(s *specs.Spec) {
			s.Linux.Namespaces[4].Path = "/run/netns/x"
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}}
		}, nil, "linux.netDevices: moving devices into a joined network namespace is not supported"},
		{"net device blank", func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth 1": {}} }, nil,
			`linux.netDevices[eth 1]: "eth 1" contains a blank or line break, which LXC would split on`},
		{"net device name blank", func(s *specs.Spec) { s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "net 0"}} }, nil,
			`linux.netDevices[eth1].name: "net 0" contains a blank or line break, which LXC would split on`},

		// idmaps, time, personality
		{"user ns without maps", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, nil, "linux.uidMappings: a new user namespace needs both uid and gid mappings"},
		{"maps without user ns", func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} }, nil,
			"linux.uidMappings: mappings given without a user namespace"},
		{"time offsets without time ns", func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}} }, nil,
			"linux.timeOffsets: requires a new time namespace"},
		{"unknown clock", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}
		}, nil, "linux.timeOffsets[realtime]: unknown clock (want boottime or monotonic)"},
		{"time nanosecs", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Nanosecs: 1e9}}
		}, nil, "linux.timeOffsets[boottime].nanosecs: 1000000000 is not below one second"},
		{"time offset too large", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1e10, Nanosecs: 1}}
		}, nil, "linux.timeOffsets[monotonic]: offset too large to express in nanoseconds"},
		{"personality flags", func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"x"}}
		}, nil, "linux.personality.flags: personality flags cannot be expressed in LXC"},
		{"personality domain", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX64"} }, nil,
			`linux.personality.domain: unknown domain "LINUX64"`},

		// mounts
		{"idmapped mount", addMount(specs.Mount{Destination: "/d", Source: "/s", Type: "bind", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}}), nil,
			"mounts[4].uidMappings: idmapped mounts cannot be expressed in LXC mount entries"},
		{"empty destination", addMount(specs.Mount{Type: "tmpfs"}), nil, "mounts[4].destination: empty"},
		{"mount over root", addMount(specs.Mount{Destination: "/", Type: "tmpfs"}), nil,
			"mounts[4].destination: mounting over the root is not supported; use root.path"},
		{"idmap option", addMount(specs.Mount{Destination: "/d", Source: "/s", Type: "bind", Options: []string{"rbind", "idmap"}}), nil,
			"mounts[4].options[1]: idmapped mounts cannot be expressed in LXC mount entries"},
		{"tmpcopyup option", addMount(specs.Mount{Destination: "/d", Type: "tmpfs", Options: []string{"tmpcopyup"}}), nil,
			"mounts[4].options[0]: tmpcopyup cannot be expressed in LXC mount entries"},
		{"recursive attribute", addMount(specs.Mount{Destination: "/d", Source: "/s", Type: "bind", Options: []string{"rbind", "rnosuid"}}), nil,
			`mounts[4].options[1]: recursive mount attribute "rnosuid" cannot be expressed in LXC mount entries`},
		{"rro without the hook", addMount(specs.Mount{Destination: "/d", Source: "/s", Type: "bind", Options: []string{"rbind", "rro"}}), nil,
			"mounts[4].options: recursive read-only (rro) needs the runtime's pre-mount hook (Options.HookCommand and SharedMountDir)"},
		{"rro on a tmpfs", addMount(specs.Mount{Destination: "/d", Type: "tmpfs", Options: []string{"rro"}}), func(o *Options) {
			o.HookCommand, o.SharedMountDir = "/shim hook", "/run/s/ct"
		}, "mounts[4].options[0]: recursive read-only (rro) is supported on bind mounts only"},
		{"dev tmpfs size", func(s *specs.Spec) { s.Mounts[1].Options = []string{"size=abc"} }, nil, `mounts[1].options: bad size "abc"`},
		{"destination symlink loop", addMount(specs.Mount{Destination: "/loop/x", Type: "tmpfs"}), func(o *Options) { o.RootFS = loopFS },
			`mounts[4].destination: resolving "/loop/x" in rootfs: too many symlinks`},
		{"destination resolves to root", addMount(specs.Mount{Destination: "/up", Type: "tmpfs"}), func(o *Options) { o.RootFS = loopFS },
			`mounts[4].destination: "/up" resolves to the root`},
		{"destination unreadable rootfs", addMount(specs.Mount{Destination: "/d", Type: "tmpfs"}), func(o *Options) { o.RootFS = errFS{} },
			`mounts[4].destination: resolving "/d" in rootfs: open d: permission denied`},
		{"bind without source", addMount(specs.Mount{Destination: "/d", Type: "bind"}), nil, "mounts[4].source: a bind mount needs a source"},
		{"relative bind source", addMount(specs.Mount{Destination: "/d", Source: "s", Type: "bind"}), nil,
			`mounts[4].source: "s" is relative and Options.BundleDir is empty`},
		{"bind source stat fails", addMount(specs.Mount{Destination: "/d", Source: "/s", Type: "bind"}),
			func(o *Options) {
				o.StatHost = func(string) (bool, error) { return false, errors.New("stat /s: boom") }
			},
			"mounts[4].source: stat /s: boom"},
		{"non-bind without type", addMount(specs.Mount{Destination: "/d", Source: "x"}), nil, "mounts[4].type: empty type for a non-bind mount"},
		{"source comment", addMount(specs.Mount{Destination: "/d", Source: "#x", Type: "tmpfs"}), nil,
			`mounts[4].source: "#x" starts with '#', which an fstab line reads as a comment`},
		{"lxc create option", addMount(specs.Mount{Destination: "/d", Type: "tmpfs", Options: []string{"create=dir"}}), nil,
			`mounts[4].options[0]: "create=dir" is an LXC option, not an OCI one`},
		{"source CR", addMount(specs.Mount{Destination: "/d", Source: "/s\r", Type: "bind"}), nil,
			"mounts[4].source: contains CR or NUL, which an fstab line cannot hold"},
		{"destination control character", addMount(specs.Mount{Destination: "/d\x01", Type: "tmpfs"}), nil,
			`mounts[4].destination: contains control or blank character '\x01'`},
		{"readonly path relative", func(s *specs.Spec) { s.Linux.ReadonlyPaths = []string{"proc/sys"} }, nil, `linux.readonlyPaths[0]: "proc/sys" is not absolute`},
		{"readonly path loop", func(s *specs.Spec) { s.Linux.ReadonlyPaths = []string{"/loop/x"} }, func(o *Options) { o.RootFS = loopFS },
			`linux.readonlyPaths[0]: resolving "/loop/x" in rootfs: too many symlinks`},
		{"masked root", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"/"} }, nil, `linux.maskedPaths[0]: "/" is the root`},
		{"masked path CR", func(s *specs.Spec) { s.Linux.MaskedPaths = []string{"/proc/a\r"} }, nil,
			"linux.maskedPaths[0]: contains CR or NUL, which an fstab line cannot hold"},

		// rlimits, security
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}} }, nil,
			`process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"`},
		{"rlimit twice", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE"}, {Type: "RLIMIT_NOFILE"}}
		}, nil, `process.rlimits[1].type: rlimit "RLIMIT_NOFILE" given twice`},
		{"rlimit soft above hard", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
		}, nil,
			"process.rlimits[0]: soft limit 10 above hard limit 5"},
		{"oom score", func(s *specs.Spec) { s.Process.OOMScoreAdj = intp(2000) }, nil, "process.oomScoreAdj: 2000 is outside -1000…1000"},
		{"apparmor line break", func(s *specs.Spec) { s.Process.ApparmorProfile = "a\nb" }, nil,
			"process.apparmorProfile: lxc config key lxc.apparmor.profile: " + nl},
		{"selinux line break", func(s *specs.Spec) { s.Process.SelinuxLabel = "a\nb" }, nil,
			"process.selinuxLabel: lxc config key lxc.selinux.context: " + nl},

		// sysctl
		{"sysctl name", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net..x": "1"} }, nil, "linux.sysctl[net..x]: invalid sysctl name"},
		{"net sysctl on host net", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:4]
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, nil, "linux.sysctl[net.ipv4.ip_forward]: net.* sysctls need a network namespace"},
		{"ipc sysctl on host ipc", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, nil, "linux.sysctl[kernel.shmmax]: ipc sysctls need an ipc namespace"},
		{"uts sysctl on host uts", func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "x"}
		}, nil, "linux.sysctl[kernel.hostname]: uts sysctls need a uts namespace"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, nil,
			"linux.sysctl[vm.swappiness]: not a namespaced sysctl; setting it would change the host"},
		{"sysctl value line break", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1\n"} }, nil,
			"linux.sysctl[net.ipv4.ip_forward]: lxc config key lxc.sysctl.net.ipv4.ip_forward: " + nl},

		// cgroups
		{"systemd slice", func(s *specs.Spec) { s.Linux.CgroupsPath = "foo:cri:abc" }, nil, `linux.cgroupsPath: invalid slice "foo"`},
		{"systemd slice empty component", func(s *specs.Spec) { s.Linux.CgroupsPath = "a--b.slice:cri:abc" }, nil, `linux.cgroupsPath: invalid slice "a--b.slice"`},
		{"root cgroup", func(s *specs.Spec) { s.Linux.CgroupsPath = "/" }, nil, `linux.cgroupsPath: "/" is the root cgroup`},
		{"cgroups path blank", func(s *specs.Spec) { s.Linux.CgroupsPath = "/a b" }, nil,
			`linux.cgroupsPath: "a b" contains a blank or line break, which LXC would split on`},
		{"device rule type", res(specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "x"}}}), nil,
			`linux.resources.devices[0].type: unknown device type "x"`},
		{"device rule access", res(specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "rx"}}}), nil,
			`linux.resources.devices[0].access: invalid access "rx"`},
		{"device rule partial all", res(specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "r"}}}), nil,
			"linux.resources.devices[0]: a rule on all device types with a major, minor or partial access cannot be expressed in LXC"},
		{"device revoke after allow", res(specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
			{Allow: false, Type: "c", Major: i64(1), Access: "w"},
		}}), nil, `linux.resources.devices[1]: denying "c 1:* w" after allowing "c 1:3 rwm" cannot be expressed in LXC's allowlist device program`},
		{"memory limit negative", res(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-2)}}), nil,
			"linux.resources.memory.limit: -2 is invalid (want -1 for unlimited or a byte count)"},
		{"swap without limit", res(specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(100)}}), nil,
			"linux.resources.memory.swap: unable to set swap limit without memory limit"},
		{"swap below limit", res(specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200), Swap: i64(100)}}), nil,
			"linux.resources.memory.swap: memory+swap limit 100 should be >= memory limit 200"},
		{"swappiness", res(specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(200)}}), v1,
			"linux.resources.memory.swappiness: 200 is above 100"},
		{"realtime on v2", res(specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1)}}), nil,
			"linux.resources.cpu.realtimeRuntime: realtime scheduling limits are not available on cgroup v2"},
		{"idle on v1", res(specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(1)}}), v1,
			"linux.resources.cpu.idle: cpu.idle is only available on cgroup v2"},
		{"cpuset cpus line break", res(specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0\n1"}}), nil,
			"linux.resources.cpu.cpus: lxc config key lxc.cgroup2.cpuset.cpus: " + nl},
		{"cpuset mems line break", res(specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "0\n1"}}), nil,
			"linux.resources.cpu.mems: lxc config key lxc.cgroup2.cpuset.mems: " + nl},
		{"blkio weight", res(specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}}), nil,
			"linux.resources.blockIO.weight: 5 is outside 10…1000"},
		{"blkio device weight", res(specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{Weight: u16(2000)}}}}), nil,
			"linux.resources.blockIO.weightDevice[0].weight: 2000 is outside 10…1000"},
		{"hugepage size", res(specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2 MB"}}}), nil,
			`linux.resources.hugepageLimits[0].pageSize: invalid page size "2 MB"`},
		{"network cgroup on v2", res(specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}}), nil,
			"linux.resources.network: net_cls/net_prio are not available on cgroup v2"},
		{"net prio name blank", res(specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "eth 0"}}}}), v1,
			`linux.resources.network.priorities[0].name: "eth 0" contains a blank or line break, which LXC would split on`},
		{"rdma device blank", res(specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx 0": {HcaHandles: u32(1)}}}), nil,
			`linux.resources.rdma[mlx 0]: "mlx 0" contains a blank or line break, which LXC would split on`},
		{"unified on v1", res(specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}), v1,
			"linux.resources.unified: needs a cgroup v2 host"},
		{"unified not a file", res(specs.LinuxResources{Unified: map[string]string{"memoryhigh": "1"}}), nil,
			"linux.resources.unified[memoryhigh]: not a controller file"},
		{"unified devices", res(specs.LinuxResources{Unified: map[string]string{"devices.allow": "a"}}), nil,
			"linux.resources.unified[devices.allow]: cgroup v2 has no devices files; use linux.resources.devices"},
		{"unified value line break", res(specs.LinuxResources{Unified: map[string]string{"memory.high": "1\n"}}), nil,
			"linux.resources.unified[memory.high]: lxc config key lxc.cgroup2.memory.high: " + nl},

		// seccomp
		{"seccomp without path", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow}), func(o *Options) { o.SeccompProfilePath = "" },
			"linux.seccomp: needs Options.SeccompProfilePath for the policy file"},
		{"seccomp listener", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/x.sock"}), nil,
			"linux.seccomp.listenerPath: seccomp notify listeners cannot be expressed in LXC"},
		{"seccomp errno 0", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(0)}), nil,
			"linux.seccomp.defaultAction: SCMP_ACT_ERRNO with errno 0 would make the denied syscall succeed"},
		{"seccomp errno range", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno, ErrnoRet: uintp(5000)}}}), nil,
			"linux.seccomp.syscalls[0].action: errno 5000 is out of range"},
		{"seccomp trace", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActTrace}), nil,
			"linux.seccomp.defaultAction: SCMP_ACT_TRACE cannot be expressed in LXC seccomp v2 policy"},
		{"seccomp notify", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}), nil,
			"linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY cannot be expressed in LXC seccomp v2 policy (no listenerPath support)"},
		{"seccomp unknown action", seccomp(specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"}), nil,
			`linux.seccomp.defaultAction: unknown seccomp action "SCMP_ACT_FOO"`},
		{"seccomp arg index", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"personality"}, Action: specs.ActKill, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}},
		}}}), nil, "linux.seccomp.syscalls[0].args[0].index: 6 is not below 6"},
		{"seccomp arg op", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"personality"}, Action: specs.ActKill, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_FOO"}},
		}}}), nil, `linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_FOO"`},
		{"seccomp syscall name", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount errno 0"}, Action: specs.ActKill}}}), nil,
			`linux.seccomp.syscalls[0].names[0]: invalid syscall name "mount errno 0"`},
		{"seccomp profile path line break", seccomp(specs.LinuxSeccomp{DefaultAction: specs.ActAllow}), func(o *Options) { o.SeccompProfilePath = "/b/sec\ncomp" },
			"Options.SeccompProfilePath: lxc config key lxc.seccomp.profile: " + nl},

		// devices
		{"device path relative", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/fuse", Type: "c"}} }, nil,
			`linux.devices[0].path: "dev/fuse" is not an absolute path`},
		{"device type", func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "x"}} }, nil,
			`linux.devices[0].type: unknown device type "x"`},
		{"wrong autodev node", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 5}}
		}, nil,
			"linux.devices[0]: /dev/null must be c 1:3 (LXC autodev creates it)"},

		// hooks
		{"relative hook path", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "true"}}} }, nil,
			`hooks.poststart[0].path: "true" is not absolute`},
		{"hook timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true", Timeout: intp(0)}}}
		}, nil,
			"hooks.prestart[0].timeout: must be positive"},
		{"createContainer without hook command", func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}} }, nil,
			"hooks.createContainer: needs Options.HookCommand to run inside the container's mount namespace"},
		{"createContainer with createRuntime", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}, CreateRuntime: []specs.Hook{{Path: "/bin/cni"}}}
		}, func(o *Options) { o.HookCommand = "/bin/hook" }, "hooks.createContainer: with prestart or createRuntime hooks: LXC would run them before those, and the OCI order is createRuntime first; not supported"},
		{"createContainer with prestart", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}, Prestart: []specs.Hook{{Path: "/bin/cni"}}}
		}, func(o *Options) { o.HookCommand = "/bin/hook" }, "hooks.createContainer: with prestart or createRuntime hooks: LXC would run them before those, and the OCI order is createRuntime first; not supported"},

		// fields LXC has no equivalent for
		{"username", func(s *specs.Spec) { s.Process.User.Username = "app" }, nil, "process.user.username: is a Windows-only field; give uid/gid"},
		{"scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther} }, nil, "process.scheduler: LXC has no scheduler setting"},
		{"io priority", func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE} }, nil,
			"process.ioPriority: LXC has no I/O priority setting"},
		{"exec cpu affinity", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0"} }, nil,
			"process.execCPUAffinity: LXC has no CPU affinity setting for the init process"},
		{"intel rdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }, nil, "linux.intelRdt: LXC has no Intel RDT support"},
		{"memory policy", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_BIND"} }, nil,
			"linux.memoryPolicy: LXC has no NUMA memory policy setting"},

		// process
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, nil, "process.args: empty"},
		{"command line", func(s *specs.Spec) { s.Process.CommandLine = "sh" }, nil, "process.commandLine: is a Windows-only field"},
		{"arg NUL", func(s *specs.Spec) { s.Process.Args = []string{"sh", "a\x00b"} }, nil, "process.args[1]: contains NUL"},
		{"env without =", func(s *specs.Spec) { s.Process.Env = []string{"FOO"} }, nil, "process.env[0]: must be KEY=VALUE without NUL"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "srv" }, nil, `process.cwd: "srv" is not an absolute path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			if tc.spec != nil {
				tc.spec(s)
			}
			o := baseOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			checkRefusal(t, s, o, tc.want)
		})
	}
	t.Run("nil spec", func(t *testing.T) { checkRefusal(t, nil, baseOptions(), "spec: missing") })
}

// errFS is a root filesystem that cannot be read.
type errFS struct{}

func (errFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}

func checkRefusal(t *testing.T, s *specs.Spec, o Options, want string) {
	t.Helper()
	res, err := Convert(s, o)
	if err == nil {
		t.Fatalf("Convert succeeded, want the refusal %q; config:\n%s", want, res.Config)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error %q is not a *FieldError", err)
	}
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("error %q is not classed as invalid argument", err)
	}
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
}
