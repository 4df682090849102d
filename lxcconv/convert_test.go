package lxcconv

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }
func uintp(v uint) *uint   { return &v }
func boolp(v bool) *bool   { return &v }
func intp(v int) *int      { return &v }

// baseSpec is a trimmed containerd default spec.
func baseSpec() *specs.Spec {
	return &specs.Spec{
		Version: "1.3.0",
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			Args: []string{"sh"},
			Env:  []string{"PATH=/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: []string{"CAP_CHOWN", "CAP_KILL"},
			},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts"},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
		},
	}
}

func baseOptions() Options {
	return Options{
		RootfsPath:         "/bundle/rootfs",
		InitPath:           "/.zfslxc/init",
		InitArgs:           []string{"/.zfslxc/process.json"},
		CgroupVersion:      2,
		SeccompProfilePath: "/bundle/seccomp",
	}
}

func TestConvertMappings(t *testing.T) {
	tests := []struct {
		name string
		spec func(*specs.Spec)
		opts func(*Options)
		want []string // "key = value" lines that must appear
		not  []string // keys or lines that must not appear
		warn string   // a warning field that must appear
	}{
		{name: "base", want: []string{
			"lxc.namespace.clone = mnt pid uts ipc net",
			"lxc.rootfs.path = dir:/bundle/rootfs",
			"lxc.init.cmd = /.zfslxc/init /.zfslxc/process.json",
			"lxc.init.cwd = /",
			"lxc.net.0.type = empty",
			"lxc.tty.max = 0",
			"lxc.console.path = none",
			"lxc.autodev = 1",
			"lxc.autodev.tmpfs.size = 67108864",
			"lxc.pty.max = 1024",
			"lxc.mount.auto = proc:rw sys:ro",
			"lxc.cap.keep = chown kill setgid setuid setpcap",
			"lxc.cgroup2.devices.deny = a",
			"lxc.cgroup2.devices.allow = c 1:3 rwm",
		}, not: []string{"lxc.environment", "lxc.seccomp.profile", "lxc.apparmor.profile", "lxc.hook.mount", "lxc.monitor.signal.pdeath"}},
		{name: "relative root with bundle", spec: func(s *specs.Spec) {}, opts: func(o *Options) { o.RootfsPath = ""; o.BundleDir = "/b" },
			want: []string{"lxc.rootfs.path = dir:/b/rootfs"}},
		{name: "readonly root and propagation", spec: func(s *specs.Spec) { s.Root.Readonly = true; s.Linux.RootfsPropagation = "rslave" },
			want: []string{"lxc.rootfs.options = rslave"}},
		{name: "hostname and domainname", spec: func(s *specs.Spec) { s.Hostname = "web"; s.Domainname = "example.org" },
			want: []string{"lxc.uts.name = web", "lxc.sysctl.kernel.domainname = example.org"}},
		{name: "terminal: the shim's pty, not LXC's console", spec: func(s *specs.Spec) { s.Process.Terminal = true },
			want: []string{"lxc.console.path = none"}},
		{name: "host network", spec: func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:4] },
			want: []string{"lxc.namespace.clone = mnt pid uts ipc", "lxc.net.0.type = none"}},
		{name: "joined network", spec: func(s *specs.Spec) { s.Linux.Namespaces[4].Path = "/var/run/netns/cni-1" },
			want: []string{"lxc.namespace.clone = mnt pid uts ipc", "lxc.namespace.share.net = /var/run/netns/cni-1"}, not: []string{"lxc.net.0.type"}},
		{name: "user namespace", spec: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}, want: []string{"lxc.namespace.clone = user mnt pid uts ipc net", "lxc.idmap = u 0 100000 65536", "lxc.idmap = g 0 100000 65536"}},
		{name: "time namespace offsets", spec: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 10}, "monotonic": {Secs: -1, Nanosecs: 5}}
		}, want: []string{"lxc.time.offset.boot = 10s", "lxc.time.offset.monotonic = -999999995ns"}},
		{name: "net devices", spec: func(s *specs.Spec) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {Name: "net0"}}
		}, want: []string{"lxc.net.1.type = phys", "lxc.net.1.link = eth1", "lxc.net.1.name = net0"}},
		{name: "linux32", spec: func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} },
			want: []string{"lxc.arch = linux32"}},
		{name: "capabilities none", spec: func(s *specs.Spec) { s.Process.Capabilities = nil }, want: []string{"lxc.cap.keep = setgid setuid setpcap"}},
		{name: "unknown capability warns", spec: func(s *specs.Spec) {
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_FUTURE")
		},
			want: []string{"lxc.cap.keep = chown kill setgid setuid setpcap"}, warn: "process.capabilities.bounding[2]"},
		{name: "rlimits", spec: func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_CORE", Soft: ^uint64(0), Hard: ^uint64(0)}}
		}, want: []string{"lxc.prlimit.nofile = 1024:4096", "lxc.prlimit.core = unlimited:unlimited"}},
		{name: "security", spec: func(s *specs.Spec) {
			s.Process.NoNewPrivileges = true
			s.Process.OOMScoreAdj = intp(-500)
			s.Process.ApparmorProfile = "docker-default"
			s.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
		}, want: []string{"lxc.no_new_privs = 1", "lxc.proc.oom_score_adj = -500", "lxc.apparmor.profile = docker-default", "lxc.selinux.context = system_u:system_r:container_t:s0"}},
		{name: "default apparmor", opts: func(o *Options) { o.DefaultAppArmorProfile = "unconfined" }, want: []string{"lxc.apparmor.profile = unconfined"}},
		{name: "sysctl", spec: func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"}
		},
			want: []string{"lxc.sysctl.kernel.shmmax = 1000", "lxc.sysctl.net.ipv4.ip_forward = 1"}},
		{name: "log", opts: func(o *Options) { o.LogFile = "/b/lxc.log"; o.LogLevel = "DEBUG" }, want: []string{"lxc.log.file = /b/lxc.log", "lxc.log.level = 1"}},
		{name: "bind mount with blanks", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/my data", Type: "bind", Source: "/srv/a b\\c", Options: []string{"rbind", "ro"}})
		}, want: []string{`lxc.mount.entry = /srv/a\040b\134c my\040data none rbind,ro 0 0`}},
		{name: "bind file via StatHost", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/cfg", Source: "/etc/app.cfg", Options: []string{"bind"}})
		}, opts: func(o *Options) { o.StatHost = func(string) (bool, error) { return false, nil } },
			want: []string{"lxc.mount.entry = /etc/app.cfg cfg none bind 0 0"}},
		{name: "type bind adds bind", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Type: "bind", Source: "/src"})
		}, want: []string{"lxc.mount.entry = /src d none bind 0 0"}},
		{name: "cgroup mount", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro"}})
		}, want: []string{"lxc.mount.auto = proc:rw sys:ro cgroup:ro:force"}},
		{name: "no dev tmpfs", spec: func(s *specs.Spec) { s.Mounts = s.Mounts[:1] }, want: []string{"lxc.autodev = 0"}, warn: "mounts"},
		{name: "destination symlink resolved inside rootfs", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: "/r", Options: []string{"bind"}})
		}, opts: func(o *Options) {
			o.RootFS = fstest.MapFS{"etc/resolv.conf": {Data: []byte("../../../../run/x"), Mode: os.ModeSymlink}}
		}, want: []string{"lxc.mount.entry = /r run/x none bind 0 0"}},
		{name: "masked and readonly paths", spec: func(s *specs.Spec) {
			s.Linux.MaskedPaths = []string{"/proc/kcore", "/proc/acpi", "/proc/other"}
			s.Linux.ReadonlyPaths = []string{"/proc/sys"}
		}, opts: func(o *Options) {
			o.StatHost = func(p string) (bool, error) { return p == "/proc/other", nil }
		}, want: []string{
			"lxc.mount.entry = /dev/null proc/kcore none bind,optional 0 0",
			"lxc.mount.entry = tmpfs proc/acpi tmpfs ro,optional 0 0",
			"lxc.mount.entry = tmpfs proc/other tmpfs ro,optional 0 0",
		}},
		{name: "cgroups path", spec: func(s *specs.Spec) { s.Linux.CgroupsPath = "/default/c1" },
			want: []string{"lxc.cgroup.dir.container = default/c1", "lxc.cgroup.dir.monitor = default/lxc.monitor.c1"}},
		// The shim's: a cgroup of the monitor's own, out of the pod's parent.
		{name: "monitor cgroup", spec: func(s *specs.Spec) { s.Linux.CgroupsPath = "/kubepods/pod1/c1" },
			opts: func(o *Options) { o.MonitorCgroup = "/lxc.monitor.k8s.io.c1" },
			want: []string{"lxc.cgroup.dir.container = kubepods/pod1/c1", "lxc.cgroup.dir.monitor = lxc.monitor.k8s.io.c1"}},
		// The shim's: init is adopted by the shim when the monitor ends.
		{name: "init outlives monitor", spec: func(s *specs.Spec) {},
			opts: func(o *Options) { o.InitOutlivesMonitor = true },
			want: []string{"lxc.monitor.signal.pdeath = 0"}},
		{name: "systemd cgroups path", spec: func(s *specs.Spec) { s.Linux.CgroupsPath = "kubepods-besteffort-pod1.slice:cri-containerd:abc" },
			want: []string{"lxc.cgroup.dir.container = kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope"},
			warn: "linux.cgroupsPath"},
		{name: "resources v2", spec: func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{
				Memory:         &specs.LinuxMemory{Limit: i64(1 << 30), Reservation: i64(1 << 29), Swap: i64(2 << 30), Swappiness: u64(10)},
				CPU:            &specs.LinuxCPU{Shares: u64(1024), Quota: i64(-1), Period: u64(100000), Cpus: "0,1", Mems: "0", Burst: u64(1000), Idle: i64(1)},
				Pids:           &specs.LinuxPids{Limit: i64(-1)},
				BlockIO:        &specs.LinuxBlockIO{Weight: u16(500), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1000}}},
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}},
				Rdma:           map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: u32(3)}},
				Unified:        map[string]string{"memory.high": "900000000", "cpu.max": "10000 100000"},
			}
		}, want: []string{
			"lxc.cgroup2.memory.max = 1073741824", "lxc.cgroup2.memory.low = 536870912", "lxc.cgroup2.memory.swap.max = 1073741824",
			"lxc.cgroup2.cpu.weight = 39", "lxc.cgroup2.cpu.max = max 100000", "lxc.cgroup2.cpu.max.burst = 1000", "lxc.cgroup2.cpu.idle = 1",
			"lxc.cgroup2.cpuset.cpus = 0,1", "lxc.cgroup2.cpuset.mems = 0", "lxc.cgroup2.pids.max = max",
			"lxc.cgroup2.io.weight = 4950", "lxc.cgroup2.io.max = 8:0 rbps=1000", "lxc.cgroup2.hugetlb.2MB.max = 2097152",
			"lxc.cgroup2.rdma.max = mlx5_0 hca_handle=3", "lxc.cgroup2.memory.high = 900000000", "lxc.cgroup2.cpu.max = 10000 100000",
		}, warn: "linux.resources.memory.swappiness"},
		{name: "resources v1", spec: func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{
				Memory:  &specs.LinuxMemory{Limit: i64(1 << 30), Reservation: i64(1 << 29), Swap: i64(2 << 30), Swappiness: u64(10), DisableOOMKiller: boolp(true), Kernel: i64(1)},
				CPU:     &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), RealtimeRuntime: i64(950000), RealtimePeriod: u64(1000000)},
				Pids:    &specs.LinuxPids{Limit: i64(64)},
				BlockIO: &specs.LinuxBlockIO{Weight: u16(500), WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(200)}}},
				Network: &specs.LinuxNetwork{ClassID: u32(0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
			}
		}, opts: func(o *Options) { o.CgroupVersion = 1 }, want: []string{
			"lxc.cgroup.devices.deny = a",
			"lxc.cgroup.memory.limit_in_bytes = 1073741824", "lxc.cgroup.memory.soft_limit_in_bytes = 536870912",
			"lxc.cgroup.memory.memsw.limit_in_bytes = 2147483648", "lxc.cgroup.memory.swappiness = 10", "lxc.cgroup.memory.oom_control = 1",
			"lxc.cgroup.cpu.shares = 1024", "lxc.cgroup.cpu.cfs_quota_us = 50000", "lxc.cgroup.cpu.cfs_period_us = 100000",
			"lxc.cgroup.cpu.rt_runtime_us = 950000", "lxc.cgroup.cpu.rt_period_us = 1000000", "lxc.cgroup.pids.max = 64",
			"lxc.cgroup.blkio.weight = 500", "lxc.cgroup.blkio.weight_device = 8:0 200",
			"lxc.cgroup.net_cls.classid = 1048577", "lxc.cgroup.net_prio.ifpriomap = eth0 5",
		}, warn: "linux.resources.memory.kernel"},
		{name: "device rules allowlist", spec: func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(10), Minor: i64(229), Access: "rwm"},
				{Allow: false, Type: "b", Major: i64(8), Access: "rw"},
			}}
		}, want: []string{"lxc.cgroup2.devices.deny = a", "lxc.cgroup2.devices.allow = c 10:229 rwm", "lxc.cgroup2.devices.allow = c 136:* rwm"}},
		{name: "device rules privileged", spec: func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}
		}, want: []string{"lxc.cgroup2.devices.allow = a"}, not: []string{"lxc.cgroup2.devices.allow = c 1:3 rwm"}},
		// Made by the runtime once init is ready (Result.Devices), no hook.
		{name: "extra device node for the runtime", spec: func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}, {Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}
		}, not: []string{"lxc.hook.mount"}},
		{name: "createContainer hook", spec: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}, Poststop: []specs.Hook{{Path: "/bin/cni"}}}
		}, opts: func(o *Options) { o.HookCommand = "/bin/hook" }, want: []string{"lxc.hook.mount = /bin/hook mount"}},
		{name: "runtime hooks stay out of LXC", spec: func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/cni"}}, Poststop: []specs.Hook{{Path: "/bin/cni"}}, StartContainer: []specs.Hook{{Path: "/bin/x"}}}
		}, not: []string{"lxc.hook.mount", "lxc.hook.version"}},
		{name: "mount label warns", spec: func(s *specs.Spec) { s.Linux.MountLabel = "system_u:object_r:container_file_t:s0" }, warn: "linux.mountLabel"},
		{name: "relative mount destination warns", spec: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "data", Type: "tmpfs", Source: "tmpfs"})
		}, want: []string{"lxc.mount.entry = tmpfs data tmpfs defaults 0 0"}, warn: "mounts[4].destination"},
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
			res, err := Convert(s, o)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			out := res.Config.String()
			for _, e := range res.LateCgroup { // written by the runtime, checked alike
				out += e.Key + " = " + e.Value + "\n"
			}
			lines := strings.Split(out, "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				for _, l := range lines {
					if l == n || strings.HasPrefix(l, n+" ") {
						t.Errorf("unexpected %q", l)
					}
				}
			}
			if tc.warn != "" && !slices.ContainsFunc(res.Warnings, func(w Warning) bool { return w.Field == tc.warn }) {
				t.Errorf("no warning for %s; got %v", tc.warn, res.Warnings)
			}
		})
	}
}

// TestReadonlyPathsAfterSysctls: readonlyPaths are not LXC mount entries,
// which LXC applies before lxc.sysctl (a read-only /proc/sys made every
// namespaced sysctl fail); the runtime binds them read-only later.
func TestReadonlyPathsAfterSysctls(t *testing.T) {
	s := baseSpec()
	s.Linux.ReadonlyPaths = []string{"/proc/sys", "/proc/irq", "/etc/../proc/bus"}
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
	res, err := Convert(s, baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/proc/sys", "/proc/irq", "/proc/bus"}; !slices.Equal(res.ReadonlyPaths, want) {
		t.Errorf("ReadonlyPaths = %q, want %q", res.ReadonlyPaths, want)
	}
	out := res.Config.String()
	if strings.Contains(out, "proc/sys proc/sys") || !strings.Contains(out, "lxc.sysctl.net.ipv4.ip_unprivileged_port_start = 0") {
		t.Errorf("config:\n%s", out)
	}
}

func TestConvertProcess(t *testing.T) {
	s := baseSpec()
	s.Process.Args = []string{"/bin/app", "two words", "new\nline"}
	s.Process.Env = []string{"A=b c", "PATH=/bin"}
	s.Process.Cwd = "/srv/my app"
	s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{44}, Umask: u32(0o22)}
	s.Process.Terminal = true
	s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/start"}}, CreateRuntime: []specs.Hook{{Path: "/bin/cni"}}, Poststop: []specs.Hook{{Path: "/bin/cni"}}}
	res, err := Convert(s, baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := res.Process
	if !slices.Equal(p.Args, s.Process.Args) || !slices.Equal(p.Env, s.Process.Env) || p.Cwd != "/srv/my app" ||
		p.UID != 1000 || p.GID != 1000 || !slices.Equal(p.AdditionalGids, []uint32{44}) || *p.Umask != 0o22 || !p.Terminal {
		t.Errorf("process = %+v", p)
	}
	if len(p.StartContainerHooks) != 1 || len(res.Hooks.CreateRuntime) != 1 || len(res.Hooks.Poststop) != 1 {
		t.Errorf("hooks = %+v / %+v", p.StartContainerHooks, res.Hooks)
	}
	// Nothing of the process may reach the LXC config.
	out := res.Config.String()
	for _, bad := range []string{"two words", "/srv/my app", "A=b c", "lxc.environment", "lxc.init.uid"} {
		if strings.Contains(out, bad) {
			t.Errorf("config holds %q:\n%s", bad, out)
		}
	}
}

func TestConvertRefusals(t *testing.T) {
	tests := []struct {
		name  string
		spec  func(*specs.Spec)
		opts  func(*Options)
		field string
	}{
		{"nil linux", func(s *specs.Spec) { s.Linux = nil }, nil, "linux"},
		{"nil process", func(s *specs.Spec) { s.Process = nil }, nil, "process"},
		{"version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, nil, "ociVersion"},
		{"windows section", func(s *specs.Spec) { s.Windows = &specs.Windows{} }, nil, "windows"},
		{"no init path", nil, func(o *Options) { o.InitPath = "" }, "Options.InitPath"},
		{"init arg with blank", nil, func(o *Options) { o.InitArgs = []string{"a b"} }, "Options.InitArgs[0]"},
		{"bad cgroup version", nil, func(o *Options) { o.CgroupVersion = 3 }, "Options.CgroupVersion"},
		{"relative root without bundle", nil, func(o *Options) { o.RootfsPath = "" }, "root.path"},
		{"no mount namespace", func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:3] }, nil, "linux.namespaces"},
		{"join mount namespace", func(s *specs.Spec) { s.Linux.Namespaces[3].Path = "/proc/1/ns/mnt" }, nil, "linux.namespaces[3].path"},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, nil, "linux.namespaces[5].type"},
		{"unknown namespace", func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "foo" }, nil, "linux.namespaces[0].type"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Hostname = "x"
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
		}, nil, "hostname"},
		{"user ns without maps", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		}, nil, "linux.uidMappings"},
		{"maps without user ns", func(s *specs.Spec) { s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}} }, nil, "linux.uidMappings"},
		{"time offsets without time ns", func(s *specs.Spec) { s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}} }, nil, "linux.timeOffsets"},
		{"net devices with host net", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:4]
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"eth1": {}}
		}, nil, "linux.netDevices"},
		{"personality flags", func(s *specs.Spec) {
			s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"x"}}
		}, nil, "linux.personality.flags"},
		{"username", func(s *specs.Spec) { s.Process.User.Username = "app" }, nil, "process.user.username"},
		{"scheduler", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther} }, nil, "process.scheduler"},
		{"io priority", func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE} }, nil, "process.ioPriority"},
		{"exec cpu affinity", func(s *specs.Spec) { s.Process.ExecCPUAffinity = &specs.CPUAffinity{Initial: "0"} }, nil, "process.execCPUAffinity"},
		{"intel rdt", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }, nil, "linux.intelRdt"},
		{"memory policy", func(s *specs.Spec) { s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: "MPOL_BIND"} }, nil, "linux.memoryPolicy"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, nil, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "srv" }, nil, "process.cwd"},
		{"env without =", func(s *specs.Spec) { s.Process.Env = []string{"FOO"} }, nil, "process.env[0]"},
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FOO"}} }, nil, "process.rlimits[0].type"},
		{"duplicate rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE"}, {Type: "RLIMIT_NOFILE"}}
		}, nil, "process.rlimits[1].type"},
		{"oom score out of range", func(s *specs.Spec) { s.Process.OOMScoreAdj = intp(2000) }, nil, "process.oomScoreAdj"},
		{"apparmor newline", func(s *specs.Spec) { s.Process.ApparmorProfile = "a\nb" }, nil, "process.apparmorProfile"},
		{"hostname newline", func(s *specs.Spec) { s.Hostname = "a\nlxc.init.cmd = /bin/evil" }, nil, "hostname"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, nil, "linux.sysctl[vm.swappiness]"},
		{"net sysctl on host net", func(s *specs.Spec) {
			s.Linux.Namespaces = s.Linux.Namespaces[:4]
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, nil, "linux.sysctl[net.ipv4.ip_forward]"},
		{"idmapped mount", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Source: "/s", Type: "bind", UIDMappings: []specs.LinuxIDMapping{{Size: 1}}})
		}, nil, "mounts[4].uidMappings"},
		{"recursive nosuid", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Source: "/s", Type: "bind", Options: []string{"rbind", "rnosuid"}})
		}, nil, "mounts[4].options[1]"},
		{"mount over root", func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "/", Type: "tmpfs"}) }, nil, "mounts[4].destination"},
		{"mount source CR", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Source: "/s\r", Type: "bind"})
		}, nil, "mounts[4].source"},
		{"relative bind source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/d", Source: "s", Type: "bind"})
		}, nil, "mounts[4].source"},
		{"swap without limit", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(100)}}
		}, nil, "linux.resources.memory.swap"},
		{"realtime on v2", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1)}}
		}, nil, "linux.resources.cpu.realtimeRuntime"},
		{"network cgroup on v2", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}}
		}, nil, "linux.resources.network"},
		{"unified on v1", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}
		}, func(o *Options) { o.CgroupVersion = 1 }, "linux.resources.unified"},
		{"unified devices", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Unified: map[string]string{"devices.allow": "a"}}
		}, nil, "linux.resources.unified[devices.allow]"},
		{"device revoke after allow", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
				{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
				{Allow: false, Type: "c", Major: i64(1), Access: "w"},
			}}
		}, nil, "linux.resources.devices[1]"},
		{"device partial wildcard", func(s *specs.Spec) {
			s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "r"}}}
		}, nil, "linux.resources.devices[0]"},
		{"wrong autodev node", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 5}}
		}, nil, "linux.devices[0]"},
		{"createContainer without hook command", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
		}, nil, "hooks.createContainer"},
		{"relative hook path", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "true"}}}
		}, nil, "hooks.poststart[0].path"},
		{"seccomp without path", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
		}, func(o *Options) { o.SeccompProfilePath = "" }, "linux.seccomp"},
		{"seccomp trace default", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActTrace}
		}, nil, "linux.seccomp.defaultAction"},
		{"seccomp notify rule", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}
		}, nil, "linux.seccomp.syscalls[0].action"},
		{"seccomp errno 0", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(0)}
		}, nil, "linux.seccomp.defaultAction"},
		{"seccomp listener", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/x.sock"}
		}, nil, "linux.seccomp.listenerPath"},
		{"seccomp bad name", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount errno 0"}, Action: specs.ActKill}}}
		}, nil, "linux.seccomp.syscalls[0].names[0]"},
		{"seccomp arg index", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"personality"}, Action: specs.ActKill, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}},
			}}}
		}, nil, "linux.seccomp.syscalls[0].args[0].index"},
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
			_, err := Convert(s, o)
			if err == nil {
				t.Fatal("Convert succeeded, want a refusal")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %v is not classed as invalid argument", err)
			}
			if fe.Field != tc.field {
				t.Errorf("refused field %q (%v), want %q", fe.Field, err, tc.field)
			}
		})
	}
}

func TestSeccompPolicy(t *testing.T) {
	s := baseSpec()
	s.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Flags:         []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_LOG"},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"mkdir"}, Action: specs.ActErrno},                      // same as default: skipped
			{Names: []string{"chmod"}, Action: specs.ActErrno, ErrnoRet: uintp(13)}, // EACCES
			{Names: []string{"ptrace"}, Action: specs.ActKillProcess},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 2114060288, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 0, Value: 2, Op: specs.OpEqualTo}}},
			{Names: []string{"syslog"}, Action: specs.ActLog},
		},
	}
	res, err := Convert(s, baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := `2
allowlist errno 1
read allow
write allow
chmod errno 13
ptrace kill
personality allow [0,0,SCMP_CMP_EQ]
clone allow [0,0,SCMP_CMP_MASKED_EQ,2114060288]
socket allow [0,1,SCMP_CMP_EQ]
socket allow [0,2,SCMP_CMP_EQ]
syslog allow
`
	if res.SeccompProfile != want {
		t.Errorf("policy:\n%s\nwant:\n%s", res.SeccompProfile, want)
	}
	if got := res.Config.Get("lxc.seccomp.profile"); !slices.Equal(got, []string{"/bin/../bundle/seccomp"}) && !slices.Equal(got, []string{"/bundle/seccomp"}) {
		t.Errorf("lxc.seccomp.profile = %v", got)
	}
	for _, f := range []string{"linux.seccomp.flags[0]", "linux.seccomp.syscalls[3].action", "linux.seccomp.syscalls[7].action"} {
		if !slices.ContainsFunc(res.Warnings, func(w Warning) bool { return w.Field == f }) {
			t.Errorf("no warning for %s: %v", f, res.Warnings)
		}
	}
	// A default allow policy is a denylist.
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kexec_load"}, Action: specs.ActErrno}}}
	res, err = Convert(s, baseOptions())
	if err != nil {
		t.Fatal(err)
	}
	if want := "2\ndenylist allow\nkexec_load errno 1\n"; res.SeccompProfile != want {
		t.Errorf("policy:\n%s\nwant:\n%s", res.SeccompProfile, want)
	}
}

func TestResolveInRoot(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/resolv.conf": {Data: []byte("/run/resolv.conf"), Mode: os.ModeSymlink},
		"escape":          {Data: []byte("../../../../../etc"), Mode: os.ModeSymlink},
		"loop":            {Data: []byte("loop"), Mode: os.ModeSymlink},
		"var/run":         {Data: []byte("../run"), Mode: os.ModeSymlink},
		"run/dir":         {Mode: os.ModeDir | 0o755},
	}
	tests := []struct{ in, want string }{
		{"/etc/resolv.conf", "run/resolv.conf"},
		{"/escape/passwd", "etc/passwd"},
		{"/var/run/dir/x", "run/dir/x"},
		{"/../../x", "x"},
		{"/missing/../etc", "etc"},
		{"/", ""},
	}
	for _, tc := range tests {
		got, err := ResolveInRoot(fsys, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ResolveInRoot(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := ResolveInRoot(fsys, "/loop/x"); err == nil {
		t.Error("symlink loop: want an error")
	}
	if got, _ := ResolveInRoot(nil, "/a/../../b/"); got != "b" {
		t.Errorf("nil fs: %q", got)
	}
}
