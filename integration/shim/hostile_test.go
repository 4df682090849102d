package shim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// specBundle makes a scratch directory (named with prefix) holding a
// busybox rootfs (see busyboxRootfs) and returns it, the rootfs and the
// default spec of `ctr oci spec`, the base of the specs a test writes.
func (e *env) specBundle(t *testing.T, prefix string) (dir, rootfs, base string) {
	t.Helper()
	dir = containerdtest.ScratchDir(t, prefix)
	rootfs = busyboxRootfs(t, dir)
	base, _, err := e.d.Ctr(t, "oci", "spec")
	if err != nil {
		t.Fatal(err)
	}
	return dir, rootfs, base
}

// busyboxRootfs makes dir/rootfs: busybox as /bin/busybox and /bin/sh,
// the directories a container needs, and the marker /IN_ROOTFS.
func busyboxRootfs(t *testing.T, dir string) string {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile(imagebuild.DefaultBusyboxPath)
	if err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "IN_ROOTFS"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// inject is what a hostile spec value carries: a line break and an LXC
// key that would run a host command creating the canary file.
func inject(canary string) string {
	return "x\nlxc.hook.pre-start = /bin/touch " + canary + "\nlxc.environment = X"
}

// hostileSpecs are specs an attacker wrote, passed to containerd with ctr
// run --config. Each is refused (refused, a regular expression the error
// must match, naming the field) or runs and prints what want matches
// (either, when both are set); in all cases the injected host command never runs and nothing
// of the container is left.
var hostileSpecs = []struct {
	name    string
	edit    func(s *specs.Spec, canary string)
	refused string
	want    string
}{
	{name: "hostname", edit: func(s *specs.Spec, c string) { s.Hostname = inject(c) }, refused: `hostname`},
	{name: "mount-destination", edit: func(s *specs.Spec, c string) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp/" + inject(c), Type: "tmpfs", Source: "tmpfs"})
	}, want: `^ok\n$`}, // the destination is escaped, the directory made inside
	{name: "mount-options", edit: func(s *specs.Spec, c string) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{inject(c)}})
	}, refused: `Failed to mount "tmpfs" on "[^"]*/mnt"`}, // escaped; mount(2) refuses the option (runc: EINVAL too)
	{name: "sysctl-key", edit: func(s *specs.Spec, c string) { s.Linux.Sysctl = map[string]string{"kernel." + inject(c): "1"} },
		refused: `linux\.sysctl`},
	{name: "sysctl-value", edit: func(s *specs.Spec, c string) { s.Linux.Sysctl = map[string]string{"kernel.shmmni": inject(c)} },
		refused: `linux\.sysctl`},
	{name: "cgroups-path-climbs", edit: func(s *specs.Spec, c string) {
		s.Linux.CgroupsPath = "/../../../../" + filepath.Base(c)
		s.Process.Args = []string{"/bin/sh", "-c", "grep -c :/" + filepath.Base(c) + "$ /proc/self/cgroup"}
	}, want: `^[1-9][0-9]*\n$`}, // cleaned as runc does: the cgroup root is the top
	{name: "cgroups-path-injection", edit: func(s *specs.Spec, c string) { s.Linux.CgroupsPath = "/default/" + inject(c) },
		refused: `linux\.cgroupsPath`},
	{name: "apparmor-profile", edit: func(s *specs.Spec, c string) { s.Process.ApparmorProfile = inject(c) },
		refused: `process\.apparmorProfile`},
	{name: "annotation", edit: func(s *specs.Spec, c string) { s.Annotations = map[string]string{"org.example": inject(c)} },
		want: `^ok\n$`},
	{name: "env-and-argv", edit: func(s *specs.Spec, c string) {
		s.Process.Env = append(s.Process.Env, "V="+inject(c))
		s.Process.Args = []string{"/bin/sh", "-c", `case "$V" in *lxc.hook*) echo ok;; esac`, inject(c)}
	}, want: `^ok\n$`},
	{name: "only-fds-0-to-2", edit: func(s *specs.Spec, c string) {
		s.Process.Args = []string{"/bin/busybox", "ls", "/proc/self/fd"}
	}, want: `^0\n1\n2\n3\n$`}, // 3: the directory ls reads
	{name: "uid-not-in-passwd", edit: func(s *specs.Spec, c string) {
		s.Process.User = specs.User{UID: 12345, GID: 23456, AdditionalGids: []uint32{34567}}
		s.Process.Args = []string{"/bin/busybox", "id"}
	}, want: `^uid=12345 gid=23456 groups=34567\n$`}, // as runc: setgroups(additionalGids)
	{name: "argv-of-1MiB", edit: func(s *specs.Spec, c string) {
		s.Process.Args = []string{"/bin/sh", "-c", `n=0; for a; do n=$((n+${#a})); done; echo $# $n`, "sh"}
		for range 1024 {
			s.Process.Args = append(s.Process.Args, strings.Repeat("a", 1024))
		}
	}, want: `^1024 1048576\n$`},
	{name: "env-of-10k-entries", edit: func(s *specs.Spec, c string) {
		for i := range 10000 {
			s.Process.Env = append(s.Process.Env, fmt.Sprintf("E%d=%d", i, i))
		}
		s.Process.Args = []string{"/bin/sh", "-c", `env | grep -c '^E[0-9]*='; echo $E9999`}
	}, want: `^10000\n9999\n$`},
	{name: "env-of-10MiB", edit: func(s *specs.Spec, c string) {
		for i := range 80 {
			s.Process.Env = append(s.Process.Env, fmt.Sprintf("BIG%d=%s", i, strings.Repeat("e", 128<<10-16)))
		}
	}, refused: `process\.env.*argument list too long`},
}

func init() {
	// CVE-2024-21626: a cwd through a descriptor the runtime leaked
	// would be a host directory, and climbing from it would reach the
	// host's root instead of the container's. Every descriptor number
	// the runtime could hold while it sets the process up.
	for fd := 3; fd <= 12; fd++ {
		hostileSpecs = append(hostileSpecs, struct {
			name    string
			edit    func(s *specs.Spec, canary string)
			refused string
			want    string
		}{name: fmt.Sprintf("cwd-proc-self-fd-%d", fd), edit: func(s *specs.Spec, c string) {
			s.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", fd)
			s.Process.Args = []string{"/bin/sh", "-c", `cd ../../../../../../../..; ls IN_ROOTFS`}
		}, refused: `cwd`, want: `^IN_ROOTFS\n$`})
	}
}

// TestHostileSpec runs hostile specs through containerd (ctr run --config)
// under the lxc shim: every value that would reach LXC's configuration
// with a line break and an LXC key is refused naming the field or kept
// harmless (the injected hook never creates its host canary); a cwd
// through /proc/self/fd stays in the container; the container has only
// fds 0-2; a uid missing from /etc/passwd, a 1 MiB argv and 10k env
// entries work as under runc; a 10 MiB environment (more than execve
// takes) is refused naming process.env. After each: no task, container,
// bundle, mount, shim, cgroup or canary.
func TestHostileSpec(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, "native")
			dir, rootfs, base := e.specBundle(t, "zfslxc-hostile-")
			for i, tc := range hostileSpecs {
				t.Run(tc.name, func(t *testing.T) {
					id := fmt.Sprintf("hostile-%d-%d", os.Getpid(), i)
					canary := filepath.Join(dir, id+".canary")
					var spec specs.Spec
					if err := json.Unmarshal([]byte(base), &spec); err != nil {
						t.Fatal(err)
					}
					spec.Root = &specs.Root{Path: rootfs}
					spec.Process.Args = []string{"/bin/sh", "-c", "echo ok"}
					spec.Linux.CgroupsPath = "/" + id
					tc.edit(&spec, canary)
					data, err := json.Marshal(&spec)
					if err != nil {
						t.Fatal(err)
					}
					cfg := filepath.Join(dir, id+".json")
					if err := os.WriteFile(cfg, data, 0o644); err != nil {
						t.Fatal(err)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					out, stderr, err := e.d.CtrContext(ctx, "run", "--rm", "--runtime", runtimeType, "--config", cfg, id)
					if ctx.Err() != nil {
						t.Fatalf("ctr run hung: stderr %q", stderr)
					}
					msg := stderr
					if len(msg) > 400 {
						msg = msg[:400] + "..."
					}
					switch {
					case err != nil && tc.refused == "":
						t.Errorf("ctr run: %v: %s", err, msg)
					case err != nil && !regexp.MustCompile(tc.refused).MatchString(stderr):
						t.Errorf("failed with %q; want a refusal matching %q", msg, tc.refused)
					case err != nil:
						t.Logf("refused: %s", strings.TrimSpace(msg))
					case tc.want == "":
						t.Errorf("ran (stdout %q); want a refusal matching %q", out, tc.refused)
					case !regexp.MustCompile(tc.want).MatchString(out):
						t.Errorf("stdout %q, want %q", out, tc.want)
					}
					if _, err := os.Stat(canary); err == nil {
						t.Errorf("the injected LXC hook ran on the host: %s exists", canary)
					}
					if _, err := os.Stat("/sys/fs/cgroup/memory/zfslxc-escape"); err == nil {
						t.Errorf("cgroup /sys/fs/cgroup/memory/zfslxc-escape made outside the cgroup root")
					}
					e.checkClean(t, id)
					checkNoCgroup(t, id)
				})
			}
		})
	}
}

// checkNoCgroup fails t if a cgroup directory named after id (the payload
// or LXC's monitor's) is left in any hierarchy.
func checkNoCgroup(t *testing.T, id string) {
	t.Helper()
	for _, pattern := range []string{"/sys/fs/cgroup/*/" + id, "/sys/fs/cgroup/*/*/" + id, "/sys/fs/cgroup/*/lxc.monitor.*." + id, "/sys/fs/cgroup/lxc.monitor.*." + id} {
		left, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("cgroups left: %v", left)
		}
	}
}

// TestHugeImageEnv imports, through the zfslxc snapshotter, an image whose
// config holds 10 MiB of environment (80 variables of 128 KiB, each just
// under the kernel's per-string limit): the import works (containerd
// keeps the config as a blob), and ctr run under the lxc shim is refused
// naming process.env, with nothing of the container left.
func TestHugeImageEnv(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			img, err := imagebuild.BusyboxImage("docker.io/zfslxc/huge-env:latest", []string{"/bin/echo", "ran"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 80 {
				img.Config.Env = append(img.Config.Env, "BIG"+strconv.Itoa(i)+"="+strings.Repeat("e", 128<<10-16))
			}
			tar := filepath.Join(t.TempDir(), "huge-env.tar")
			if _, err := img.WriteLayoutFile(tar); err != nil {
				t.Fatal(err)
			}
			before := containerdtest.ChildDatasets(t, e.dataset)
			e.d.MustCtr(t, "images", "import", "--snapshotter", e.snap, tar)
			id := fmt.Sprintf("huge-env-%d", os.Getpid())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, stderr, err := e.d.CtrContext(ctx, "run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType, img.Ref(), id)
			if ctx.Err() != nil {
				t.Fatalf("ctr run hung: stderr %q", stderr)
			}
			if err == nil || !strings.Contains(stderr, "process.env") {
				t.Errorf("ctr run: %v, stdout %q, stderr %.400q; want a refusal naming process.env", err, out, stderr)
			} else {
				t.Logf("refused: %.400s", strings.TrimSpace(stderr))
			}
			e.checkClean(t, id)
			checkNoCgroup(t, id)
			e.d.MustCtr(t, "images", "rm", "--sync", img.Ref())
			if after := containerdtest.ChildDatasets(t, e.dataset); len(after) != len(before) {
				t.Errorf("datasets %v after removing the image, were %v", after, before)
			}
		})
	}
}
