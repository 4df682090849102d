package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/containerd/errdefs"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
)

const (
	testDataset = "tank/zfslxc"
	testSock    = "/run/zfslxc/snapshotter.sock"
	testCtrSock = "/run/containerd/containerd.sock"
	testConfig  = "/etc/containerd/config.toml"
)

// cmdResult is the answer of a faked command.
type cmdResult struct {
	out, stderr string
	fail        bool
}

// fake is a host made of maps; env() turns it into an Env.
type fake struct {
	files      map[string]string
	exists     map[string]bool
	globs      map[string][]string
	path       map[string]string // LookPath
	cmds       map[string]cmdResult
	procs      []Process
	sockets    map[string]bool // accept connections
	snapErr    error
	ctrVersion string
	// images: ref in the k8s.io namespace -> unpacked in zfslxc; absent:
	// NotFound.
	images map[string]bool
}

func (f *fake) env() *Env {
	return &Env{
		ReadFile: func(name string) ([]byte, error) {
			if s, ok := f.files[name]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
		Exists: func(name string) bool {
			_, file := f.files[name]
			return file || f.exists[name]
		},
		Glob: func(pattern string) ([]string, error) { return f.globs[pattern], nil },
		LookPath: func(name string) (string, error) {
			if p, ok := f.path[name]; ok {
				return p, nil
			}
			if strings.HasPrefix(name, "/") {
				if _, ok := f.files[name]; ok || f.exists[name] {
					return name, nil
				}
			}
			return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
		},
		Run: func(_ context.Context, name string, args ...string) ([]byte, []byte, error) {
			key := strings.Join(append([]string{filepath.Base(name)}, args...), " ")
			r, ok := f.cmds[key]
			if !ok {
				return nil, []byte("fake: no such command: " + key), errors.New("exit status 127")
			}
			if r.fail {
				return []byte(r.out), []byte(r.stderr), errors.New("exit status 1")
			}
			return []byte(r.out), []byte(r.stderr), nil
		},
		Processes: func() ([]Process, error) { return f.procs, nil },
		Dial: func(_ context.Context, address string) (net.Conn, error) {
			if !f.sockets[address] {
				return nil, fmt.Errorf("dial unix %s: connect: connection refused", address)
			}
			a, b := net.Pipe()
			b.Close()
			return a, nil
		},
		ProbeSnapshotter: func(context.Context, string, string) (int, error) { return 3, f.snapErr },
		ContainerdVersion: func(context.Context, string) (string, error) {
			return f.ctrVersion, nil
		},
		ImageUnpacked: func(_ context.Context, _, ns, ref, sn string) (bool, error) {
			u, ok := f.images[ref]
			if !ok || ns != "k8s.io" {
				return false, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
			}
			return u && sn == "zfslxc", nil
		},
	}
}

// criOptions is the CRI setup of the good host, as `zfslxc config
// containerd` prints it with Debian's CNI plugins.
func criOptions(v int) containerdconfig.CRIOptions {
	return containerdconfig.CRIOptions{ConfigVersion: v, SandboxImage: testPause, CNIBinDir: "/usr/lib/cni", CNIConfDir: "/etc/cni/net.d"}
}

func mustCRI(o containerdconfig.CRIOptions) string {
	s, err := containerdconfig.CRI(o)
	if err != nil {
		panic(err)
	}
	return s
}

func v3Config(address string) string {
	return "version = 3\n" + containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: 3, SnapshotterAddress: address, Platform: "linux/amd64"}) +
		mustCRI(criOptions(3))
}

func v2Config(address string) string {
	return "version = 2\n" + containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: 2, SnapshotterAddress: address}) +
		mustCRI(criOptions(2))
}

const (
	testPause   = "registry.example/pause:1"
	testCNIConf = "/etc/cni/net.d/10-bridge.conflist"
)

// goodHost is a host where every check passes: zfs-fuse with xattrs,
// containerd 2.4 with a version 3 config as `zfslxc config containerd`
// prints it, the snapshotter answering.
func goodHost() *fake {
	return &fake{
		files: map[string]string{
			testConfig:  v3Config(testSock),
			testCNIConf: `{"cniVersion": "1.0.0", "name": "pods", "plugins": [{"type": "bridge"}, {"type": "portmap"}]}`,
		},
		exists: map[string]bool{
			"/sys/fs/cgroup/cgroup.controllers": true,
			testSock:                            true,
			"/usr/lib/cni/bridge":               true, "/usr/lib/cni/portmap": true, "/usr/lib/cni/loopback": true,
		},
		globs:  map[string][]string{"/etc/cni/net.d/*.conflist": {testCNIConf}},
		images: map[string]bool{testPause: true},
		path: map[string]string{
			"zfs": "/usr/sbin/zfs", "zpool": "/usr/sbin/zpool", "zfs-fuse": "/usr/sbin/zfs-fuse",
			"lxc-start": "/usr/bin/lxc-start", "containerd": "/usr/local/bin/containerd",
			"containerd-shim-lxc-v1": "/usr/local/bin/containerd-shim-lxc-v1",
			"zfslxc-init":            "/usr/local/bin/zfslxc-init", "zfslxc-start": "/usr/local/bin/zfslxc-start",
		},
		cmds: map[string]cmdResult{
			"zpool list -H -o name":             {out: "tank\n"},
			"zpool list -H -o name tank":        {out: "tank\n"},
			"zpool list -H -o name,health tank": {out: "tank\tONLINE\n"},
			"zfs get -H -o property,value type,mountpoint,mounted,com.sun:auto-snapshot tank/zfslxc": {
				out: "type\tfilesystem\nmountpoint\t/var/lib/zfslxc-snapshotter/datasets\nmounted\tyes\ncom.sun:auto-snapshot\tfalse\n"},
			"lxc-start --version":  {out: "5.0.2\n"},
			"ldconfig -p":          {out: "123 libs found in cache `/etc/ld.so.cache'\n\tliblxc.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/liblxc.so.1\n"},
			"containerd --version": {out: "containerd github.com/containerd/containerd/v2 v2.4.2 abcdef\n"},
		},
		procs: []Process{
			{Pid: 1, Args: []string{"/sbin/init"}},
			{Pid: 42, Args: []string{"/usr/sbin/zfs-fuse", "--no-daemon", "--enable-xattr", "--pidfile", "/run/zfs-fuse.pid"}},
		},
		sockets:    map[string]bool{testSock: true, testCtrSock: true},
		ctrVersion: "v2.4.2",
	}
}

func testConfigFor() Config {
	return Config{Dataset: testDataset, SnapshotterAddress: testSock, ContainerdConfig: testConfig, ContainerdAddress: testCtrSock}
}

func TestGoodHost(t *testing.T) {
	rep := Run(context.Background(), goodHost().env(), testConfigFor())
	for _, r := range rep.Results {
		if r.Status != OK {
			t.Errorf("%s: %s: %s (fix: %s)", r.Check, r.Status, r.Message, r.Fix)
		}
	}
	if rep.Failed() || len(rep.Results) < 15 {
		t.Fatalf("failed=%v, %d results", rep.Failed(), len(rep.Results))
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    func(*Config)
		break_ func(*fake)
		check  string
		status Status // of the first result of check; "" = no result
		want   []string
	}{
		{name: "zfs not installed", break_: func(f *fake) { delete(f.path, "zfs") },
			check: "zfs", status: Fail, want: []string{"zfs not found", "apt-get install zfsutils-linux"}},
		{name: "no kernel zfs and no zfs-fuse", break_: func(f *fake) { f.procs = f.procs[:1] },
			check: "zfs", status: Fail, want: []string{"no zfs-fuse daemon", "zfs-fuse --no-daemon --enable-xattr"}},
		{name: "no zfs-fuse installed", break_: func(f *fake) { f.procs = f.procs[:1]; delete(f.path, "zfs-fuse") },
			check: "zfs", status: Fail, want: []string{"apt-get install zfs-fuse"}},
		{name: "kernel zfs", break_: func(f *fake) {
			f.procs = f.procs[:1]
			f.files["/sys/module/zfs/version"] = "2.2.2-1\n"
			f.exists["/sys/module/zfs"] = true
		}, check: "zfs", status: OK, want: []string{"kernel OpenZFS 2.2.2-1 answers"}},
		{name: "kernel zfs: no xattr check", break_: func(f *fake) { f.exists["/sys/module/zfs"] = true },
			check: "zfs-fuse xattr", status: ""},
		{name: "zfs-fuse without xattr", break_: func(f *fake) { f.procs[1].Args = []string{"zfs-fuse", "--pidfile", "/run/zfs-fuse.pid"} },
			check: "zfs-fuse xattr", status: Fail, want: []string{"without --enable-xattr", "kill 42;", "--enable-xattr"}},
		{name: "zfs-fuse with -x", break_: func(f *fake) { f.procs[1].Args = []string{"zfs-fuse", "-x"} },
			check: "zfs-fuse xattr", status: OK},
		{name: "zfs-fuse does not answer", break_: func(f *fake) {
			f.cmds["zpool list -H -o name"] = cmdResult{fail: true, stderr: "connect: Connection refused\nPlease make sure that the zfs-fuse daemon is running."}
		}, check: "zfs", status: Fail, want: []string{"zpool does not answer", "kill 42"}},
		{name: "pool unchecked when zfs is broken", break_: func(f *fake) { delete(f.path, "zpool") },
			check: "pool", status: Fail, want: []string{"zfs does not work"}},
		{name: "no dataset given", cfg: func(c *Config) { c.Dataset = "" },
			check: "pool", status: Fail, want: []string{"no parent dataset", "--dataset"}},
		{name: "pool missing", break_: func(f *fake) {
			f.cmds["zpool list -H -o name,health tank"] = cmdResult{fail: true, stderr: "cannot open 'tank': no such pool"}
		}, check: "pool", status: Fail, want: []string{"pool tank (of dataset tank/zfslxc) does not exist", "zpool create tank DEVICE", "zfslxc devpool up --name tank"}},
		{name: "pool missing: dataset defers", break_: func(f *fake) {
			f.cmds["zpool list -H -o name tank"] = cmdResult{fail: true, stderr: "cannot open 'tank': no such pool"}
			f.cmds["zfs get -H -o property,value type,mountpoint,mounted,com.sun:auto-snapshot tank/zfslxc"] = cmdResult{fail: true, stderr: "cannot open 'tank/zfslxc': dataset does not exist"}
		}, check: "dataset", status: Fail, want: []string{"see the pool check"}},
		{name: "pool degraded", break_: func(f *fake) { f.cmds["zpool list -H -o name,health tank"] = cmdResult{out: "tank\tDEGRADED\n"} },
			check: "pool", status: Warn, want: []string{"DEGRADED", "zpool status -x tank"}},
		{name: "pool faulted", break_: func(f *fake) { f.cmds["zpool list -H -o name,health tank"] = cmdResult{out: "tank\tFAULTED\n"} },
			check: "pool", status: Fail, want: []string{"FAULTED"}},
		{name: "dataset missing", break_: func(f *fake) {
			f.cmds["zfs get -H -o property,value type,mountpoint,mounted,com.sun:auto-snapshot tank/zfslxc"] = cmdResult{fail: true, stderr: "cannot open 'tank/zfslxc': dataset does not exist"}
		}, check: "dataset", status: Warn, want: []string{"does not exist yet", "zfs create -p -o com.sun:auto-snapshot=false"}},
		{name: "dataset not mounted", break_: func(f *fake) {
			f.cmds["zfs get -H -o property,value type,mountpoint,mounted,com.sun:auto-snapshot tank/zfslxc"] = cmdResult{
				out: "type\tfilesystem\nmountpoint\t/d\nmounted\tno\ncom.sun:auto-snapshot\tfalse\n"}
		}, check: "dataset", status: Fail, want: []string{"not mounted", "zfs mount tank/zfslxc"}},
		{name: "dataset legacy mountpoint", break_: func(f *fake) {
			f.cmds["zfs get -H -o property,value type,mountpoint,mounted,com.sun:auto-snapshot tank/zfslxc"] = cmdResult{
				out: "type\tfilesystem\nmountpoint\tlegacy\nmounted\tno\ncom.sun:auto-snapshot\tfalse\n"}
		}, check: "dataset", status: Fail, want: []string{"mountpoint=legacy", "zfs set mountpoint="}},
		{name: "dataset is a volume", break_: func(f *fake) {
			f.cmds["zfs get -H -o property,value type,mountpoint,mounted,com.sun:auto-snapshot tank/zfslxc"] = cmdResult{
				out: "type\tvolume\nmountpoint\t-\nmounted\t-\ncom.sun:auto-snapshot\t-\n"}
		}, check: "dataset", status: Fail, want: []string{"volume, not a filesystem"}},
		{name: "auto-snapshot unset", break_: func(f *fake) {
			f.cmds["zfs get -H -o property,value type,mountpoint,mounted,com.sun:auto-snapshot tank/zfslxc"] = cmdResult{
				out: "type\tfilesystem\nmountpoint\t/d\nmounted\tyes\ncom.sun:auto-snapshot\t-\n"}
		}, check: "auto-snapshot", status: Warn, want: []string{"com.sun:auto-snapshot=-", "zfs set com.sun:auto-snapshot=false tank/zfslxc"}},
		{name: "lxc missing", break_: func(f *fake) { delete(f.path, "lxc-start") },
			check: "lxc", status: Fail, want: []string{"apt-get install lxc"}},
		{name: "lxc 3", break_: func(f *fake) { f.cmds["lxc-start --version"] = cmdResult{out: "3.0.3\n"} },
			check: "lxc", status: Warn, want: []string{"LXC 3.0.3"}},
		{name: "liblxc missing", break_: func(f *fake) { f.cmds["ldconfig -p"] = cmdResult{out: "0 libs found\n"} },
			check: "liblxc", status: Fail, want: []string{"apt-get install liblxc1"}},
		{name: "liblxc outside the cache", break_: func(f *fake) {
			delete(f.cmds, "ldconfig -p")
			f.globs["/usr/local/lib/liblxc.so.1*"] = []string{"/usr/local/lib/liblxc.so.1.8.0"}
		}, check: "liblxc", status: OK, want: []string{"/usr/local/lib/liblxc.so.1.8.0"}},
		{name: "cgroup hybrid", break_: func(f *fake) {
			delete(f.exists, "/sys/fs/cgroup/cgroup.controllers")
			f.exists["/sys/fs/cgroup/unified/cgroup.controllers"] = true
		}, check: "cgroup", status: OK, want: []string{"hybrid"}},
		{name: "cgroup v1", break_: func(f *fake) {
			delete(f.exists, "/sys/fs/cgroup/cgroup.controllers")
			f.exists["/sys/fs/cgroup/memory"] = true
		}, check: "cgroup", status: Warn, want: []string{"v1 only", "systemd.unified_cgroup_hierarchy=1"}},
		{name: "no cgroups", break_: func(f *fake) { delete(f.exists, "/sys/fs/cgroup/cgroup.controllers") },
			check: "cgroup", status: Fail, want: []string{"mount -t cgroup2"}},
		{name: "containerd missing", break_: func(f *fake) { delete(f.path, "containerd") },
			check: "containerd", status: Fail, want: []string{"apt-get install containerd"}},
		{name: "containerd 1.5", break_: func(f *fake) {
			f.cmds["containerd --version"] = cmdResult{out: "containerd github.com/containerd/containerd v1.5.9 1407cab\n"}
		}, check: "containerd", status: Fail, want: []string{"1.6 or later"}},
		{name: "containerd given by path", cfg: func(c *Config) { c.Containerd = "/opt/ctr/bin/containerd" }, break_: func(f *fake) {
			f.exists["/opt/ctr/bin/containerd"] = true
		}, check: "containerd", status: OK, want: []string{"containerd 2.4.2 (/opt/ctr/bin/containerd)"}},
		{name: "containerd daemon down", break_: func(f *fake) { delete(f.sockets, testCtrSock) },
			check: "containerd daemon", status: Warn, want: []string{"systemctl start containerd"}},
		{name: "config file missing", break_: func(f *fake) { delete(f.files, testConfig) },
			check: "containerd config", status: Fail, want: []string{"does not exist", "zfslxc config containerd --version 2 --address " + testSock}},
		{name: "config syntax error", break_: func(f *fake) { f.files[testConfig] = "version = 3\n[proxy_plugins.zfslxc\n" },
			check: "containerd config", status: Fail, want: []string{"fix the TOML syntax"}},
		{name: "plugin not registered", break_: func(f *fake) {
			f.files[testConfig] = "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\"]\n"
		}, check: "containerd config", status: Fail, want: []string{"[proxy_plugins.zfslxc] is not in", "zfslxc config containerd --version 2"}},
		{name: "plugin not registered on 1.6", break_: func(f *fake) {
			f.files[testConfig] = "version = 2\n"
			f.cmds["containerd --version"] = cmdResult{out: "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n"}
		}, check: "containerd config", status: Fail, want: []string{"zfslxc config containerd --version 1"}},
		{name: "plugin at another address", break_: func(f *fake) { f.files[testConfig] = v3Config("/run/other.sock") },
			check: "containerd config", status: Fail, want: []string{`address = "/run/other.sock"`, `set address = "` + testSock + `"`}},
		{name: "plugin address with scheme", break_: func(f *fake) { f.files[testConfig] = v3Config("unix://" + testSock) },
			check: "containerd config", status: OK},
		{name: "plugin of the wrong type", break_: func(f *fake) {
			f.files[testConfig] = "version = 2\n[proxy_plugins.zfslxc]\n  type = \"content\"\n  address = \"" + testSock + "\"\n"
		}, check: "containerd config", status: Fail, want: []string{`type = "content"`}},
		{name: "config version 3 on containerd 1.6", break_: func(f *fake) {
			f.cmds["containerd --version"] = cmdResult{out: "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n"}
		}, check: "containerd config", status: Fail, want: []string{"containerd 1.x cannot read", "--version 1"}},
		{name: "unpack_config missing on v3", break_: func(f *fake) {
			f.files[testConfig] = "version = 3\n[proxy_plugins.zfslxc]\n  type = \"snapshot\"\n  address = \"" + testSock + "\"\n"
		}, check: "unpack_config", status: Fail, want: []string{"no [[plugins.\"io.containerd.transfer.v1.local\".unpack_config]] entry for zfslxc", "zfslxc config containerd --version 2"}},
		{name: "unpack_config without overlayfs", break_: func(f *fake) {
			f.files[testConfig] = "version = 3\n" + containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: 2, SnapshotterAddress: testSock}) +
				containerdconfig.UnpackConfig(3, "linux/amd64", "zfslxc")
		}, check: "unpack_config", status: Warn, want: []string{"not overlayfs"}},
		{name: "unpack_config not needed on 1.6", break_: func(f *fake) {
			f.files[testConfig] = v2Config(testSock)
			f.cmds["containerd --version"] = cmdResult{out: "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n"}
		}, check: "unpack_config", status: OK, want: []string{"not needed"}},
		{name: "config version 2 on containerd 2", break_: func(f *fake) { f.files[testConfig] = v2Config(testSock) },
			check: "unpack_config", status: Warn, want: []string{"containerd 2.x with config version 2"}},
		{name: "no lxc runtime", break_: func(f *fake) {
			f.files[testConfig] = "version = 3\n" + containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: 3, SnapshotterAddress: testSock})
		},
			check: "cri runtime", status: Warn, want: []string{"io.containerd.lxc.v1", "zfslxc config containerd --version 2"}},
		{name: "cri disabled", break_: func(f *fake) {
			f.files[testConfig] = "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n" + v2Config(testSock)
		},
			check: "cri", status: OK, want: []string{"disabled"}},
		{name: "cri on 1.6", break_: func(f *fake) {
			f.files[testConfig] = v2Config(testSock)
			f.cmds["containerd --version"] = cmdResult{out: "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n"}
		}, check: "cri snapshotter", status: OK, want: []string{"the CRI's snapshotter is zfslxc"}},
		{name: "cri on 1.6: runtime snapshotter only", break_: func(f *fake) {
			f.files[testConfig] = "version = 2\n" + containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: 2, SnapshotterAddress: testSock}) +
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.lxc]\n  runtime_type = \"io.containerd.lxc.v1\"\n  snapshotter = \"zfslxc\"\n"
		}, check: "cri snapshotter", status: Warn, want: []string{"1.6 ignores", "overlayfs"}},
		{name: "cri on 2.x: no runtime snapshotter", break_: func(f *fake) {
			f.files[testConfig] = strings.Replace(v3Config(testSock), "  snapshotter = \"zfslxc\"\n[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.lxc.options]", "[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.lxc.options]", 1)
			f.files[testConfig] = strings.Replace(f.files[testConfig], "runtime_type = \"io.containerd.lxc.v1\"\n  snapshotter = \"zfslxc\"", "runtime_type = \"io.containerd.lxc.v1\"", 1)
		}, check: "cri snapshotter", status: Fail, want: []string{`snapshotter = ""`}},
		{name: "cri on 2.x: no runtime platform", break_: func(f *fake) {
			f.files[testConfig] = strings.Replace(v3Config(testSock), "runtime_platforms.lxc]", "runtime_platforms.other]", 1)
		}, check: "cri snapshotter", status: Warn, want: []string{"runtime_platforms.lxc"}},
		{name: "no cni config", break_: func(f *fake) { delete(f.globs, "/etc/cni/net.d/*.conflist") },
			check: "cni", status: Fail, want: []string{"no CNI network config in /etc/cni/net.d", "containernetworking-plugins"}},
		{name: "cni plugin missing", break_: func(f *fake) { delete(f.exists, "/usr/lib/cni/portmap") },
			check: "cni", status: Fail, want: []string{"portmap", "/usr/lib/cni"}},
		{name: "cni default bin dir", break_: func(f *fake) { f.files[testConfig] = strings.Replace(v3Config(testSock), "bin_dirs", "other_dirs", 1) },
			check: "cni", status: Fail, want: []string{"not found in /opt/cni/bin"}},
		{name: "sandbox image not pulled", break_: func(f *fake) { f.images = nil },
			check: "sandbox image", status: Warn, want: []string{"not in containerd's k8s.io namespace", "--snapshotter zfslxc"}},
		{name: "sandbox image not unpacked", break_: func(f *fake) { f.images[testPause] = false },
			check: "sandbox image", status: Warn, want: []string{"not unpacked in zfslxc"}},
		{name: "socket dead", break_: func(f *fake) { delete(f.sockets, testSock); delete(f.exists, testSock) },
			check: "snapshotter", status: Fail, want: []string{"nothing answers on " + testSock, "systemctl start zfslxc-snapshotter", "zfslxc-snapshotter --dataset tank/zfslxc"}},
		{name: "stale socket", break_: func(f *fake) { delete(f.sockets, testSock) },
			check: "snapshotter", status: Fail, want: []string{"stale socket"}},
		{name: "snapshots API does not answer", break_: func(f *fake) { f.snapErr = errors.New("rpc error: code = Unimplemented") },
			check: "snapshotter", status: Fail, want: []string{"does not answer: rpc error", "journalctl -u zfslxc-snapshotter"}},
		{name: "shim missing", break_: func(f *fake) { delete(f.path, "containerd-shim-lxc-v1") },
			check: "containerd-shim-lxc-v1", status: Warn, want: []string{"cannot start without it", "make install"}},
		{name: "shim beside containerd", break_: func(f *fake) {
			delete(f.path, "containerd-shim-lxc-v1")
			f.exists["/usr/local/bin/containerd-shim-lxc-v1"] = true
		}, check: "containerd-shim-lxc-v1", status: OK, want: []string{"beside containerd"}},
		{name: "init missing", break_: func(f *fake) { delete(f.path, "zfslxc-init") },
			check: "zfslxc-init", status: Warn},
		{name: "no docker: no docker check", check: "docker", status: ""},
		{name: "docker set up", break_: func(f *fake) { f.files["/etc/docker/daemon.json"] = string(dockerconfig.JSON(dockerconfig.Options{})) },
			check: "docker", status: OK, want: []string{"storage-driver zfslxc", "runtime lxc"}},
		{name: "dockerd without daemon.json", break_: func(f *fake) { f.path["dockerd"] = "/usr/bin/dockerd" },
			check: "docker", status: Warn, want: []string{"/etc/docker/daemon.json does not exist", "zfslxc config docker"}},
		{name: "docker on overlayfs", break_: func(f *fake) {
			f.files["/etc/docker/daemon.json"] = `{"storage-driver": "overlay2", "runtimes": {"lxc": {"runtimeType": "io.containerd.lxc.v1"}}}`
		}, check: "docker", status: Warn, want: []string{`storage-driver is "overlay2", want "zfslxc"`, "zfslxc config docker"}},
		{name: "docker without the runtime", break_: func(f *fake) {
			f.files["/etc/docker/daemon.json"] = `{"storage-driver": "zfslxc"}`
		}, check: "docker", status: Warn, want: []string{"runtimes.lxc missing"}},
		{name: "docker graph driver forced", break_: func(f *fake) {
			f.files["/etc/docker/daemon.json"] = `{"storage-driver": "zfslxc", "features": {"containerd-snapshotter": false}, "runtimes": {"lxc": {"runtimeType": "io.containerd.lxc.v1"}}}`
		}, check: "docker", status: Warn, want: []string{"containerd-snapshotter is false"}},
		{name: "docker daemon.json broken", break_: func(f *fake) { f.files["/etc/docker/daemon.json"] = `{"storage-driver": ` },
			check: "docker", status: Fail, want: []string{"/etc/docker/daemon.json", "unexpected end of JSON"}},
		{name: "docker daemon.json elsewhere", cfg: func(c *Config) { c.DockerConfig = "/opt/docker.json" }, break_: func(f *fake) {
			f.files["/opt/docker.json"] = string(dockerconfig.JSON(dockerconfig.Options{}))
		}, check: "docker", status: OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := goodHost()
			if tc.break_ != nil {
				tc.break_(f)
			}
			cfg := testConfigFor()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			rep := Run(context.Background(), f.env(), cfg)
			got := rep.Get(tc.check)
			if tc.status == "" {
				if len(got) != 0 {
					t.Fatalf("%s: want no result, got %+v", tc.check, got)
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("%s: no result", tc.check)
			}
			r := got[0]
			if r.Status != tc.status {
				t.Errorf("%s: status %s, want %s: %s (fix: %s)", tc.check, r.Status, tc.status, r.Message, r.Fix)
			}
			text := r.Message + "\n" + r.Fix
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s: %q missing from:\n%s", tc.check, w, text)
				}
			}
			if tc.status == Fail && !rep.Failed() {
				t.Error("report not failed")
			}
			if tc.status != OK && r.Fix == "" {
				t.Errorf("%s: %s without a fix", tc.check, tc.status)
			}
		})
	}
}

func TestReportOutput(t *testing.T) {
	f := goodHost()
	f.cmds["zpool list -H -o name,health tank"] = cmdResult{fail: true, stderr: "cannot open 'tank': no such pool"}
	rep := Run(context.Background(), f.env(), testConfigFor())
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"FAIL  pool", "fix: zpool create tank DEVICE", "ok    zfs ", "fail\n"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("%q missing from:\n%s", w, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OK     bool     `json:"ok"`
		Checks []Result `json:"checks"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OK || len(doc.Checks) != len(rep.Results) || doc.Checks[0].Check != "zfs" {
		t.Errorf("json: %s", js.String())
	}
}

func TestParseContainerdVersion(t *testing.T) {
	for _, tc := range []struct {
		out   string
		v     string
		major int
		ok    bool
	}{
		{"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n", "1.6.20~ds1", 1, true},
		{"containerd github.com/containerd/containerd/v2 v2.4.2 abc\n", "2.4.2", 2, true},
		{"containerd\n", "", 0, false},
	} {
		v, major, ok := parseContainerdVersion(tc.out)
		if v != tc.v || major != tc.major || ok != tc.ok {
			t.Errorf("%q: %q %d %v", tc.out, v, major, ok)
		}
	}
}

func TestProcesses(t *testing.T) {
	dir := t.TempDir()
	write := func(pid, cmdline string) {
		if err := os.MkdirAll(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pid, "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1", "/sbin/init\x00splash\x00")
	write("2", "") // a kernel thread
	write("7021", "/usr/sbin/zfs-fuse\x00--no-daemon\x00--enable-xattr\x00")
	write("self", "x\x00")
	procs, err := Processes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 2 || procs[1].Pid != 7021 || strings.Join(procs[1].Args, " ") != "/usr/sbin/zfs-fuse --no-daemon --enable-xattr" {
		t.Errorf("%+v", procs)
	}
	// The real /proc: this test process is in it.
	procs, err = Processes("/proc")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range procs {
		found = found || p.Pid == os.Getpid()
	}
	if !found {
		t.Error("own pid not found in /proc")
	}
}
