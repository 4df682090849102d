package lxcrun_test

// Integration tests: real LXC containers (no containerd) started through
// lxcrun, zfslxc-start and zfslxc-init, on a busybox rootfs. They need root,
// liblxc (lxc-dev and gcc to build zfslxc-start, unless $ZFSLXC_BIN_DIR has
// it) and /bin/busybox; they skip without, and fail instead when
// ZFSLXC_REQUIRE_INTEGRATION=1.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

const busybox = "/bin/busybox"

var (
	binOnce sync.Once
	binDir  string
	binErr  error
	tmpRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// requireLXC skips (or fails, under ZFSLXC_REQUIRE_INTEGRATION=1) unless the
// machine can run the containers, and returns the binary directory.
func requireLXC(t *testing.T) string {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := os.Stat(busybox); err != nil {
		missing = append(missing, busybox+" (apt-get install busybox-static)")
	}
	if _, err := os.Stat("/usr/include/lxc/lxccontainer.h"); err != nil && os.Getenv(lxcrun.EnvBinDir) == "" {
		missing = append(missing, "lxc-dev (apt-get install lxc lxc-dev liblxc1 gcc)")
	}
	if len(missing) > 0 {
		msg := "needs " + strings.Join(missing, ", ")
		if os.Getenv("ZFSLXC_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	binOnce.Do(func() { binDir, binErr = buildBinaries() })
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// buildBinaries returns $ZFSLXC_BIN_DIR when set (make test builds into
// bin/), else builds zfslxc-init (static) and zfslxc-start into a temporary
// directory.
func buildBinaries() (string, error) {
	if dir := os.Getenv(lxcrun.EnvBinDir); dir != "" {
		return dir, nil
	}
	var err error
	tmpRoot, err = os.MkdirTemp("", "lxcrun-bin-")
	if err != nil {
		return "", err
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(file))
	goBuild := exec.Command("go", "build", "-trimpath", "-ldflags", "-extldflags -static",
		"-o", filepath.Join(tmpRoot, lxcrun.InitBinary), "./cmd/zfslxc-init")
	goBuild.Dir = repo
	goBuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := goBuild.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building zfslxc-init: %v\n%s", err, out)
	}
	gcc := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-o", filepath.Join(tmpRoot, lxcrun.StarterBinary),
		"cmd/zfslxc-start/zfslxc-start.c", "cmd/zfslxc-start/attach.c", "cmd/zfslxc-start/seccomp.c", "-llxc", "-lseccomp")
	gcc.Dir = repo
	if out, err := gcc.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building zfslxc-start: %v\n%s", err, out)
	}
	return tmpRoot, nil
}

// makeRootfs lays out a busybox root filesystem in dir.
func makeRootfs(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\naudio:x:29:app\nvideo:x:44:app\napp:x:1000:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// defaultCaps is containerd's default capability set.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// capMask renders capability numbers as /proc/PID/status does.
func capMask(nums ...uint) string {
	var m uint64
	for _, n := range nums {
		m |= 1 << n
	}
	return fmt.Sprintf("%016x", m)
}

// defaultCapMask is defaultCaps as a mask.
var defaultCapMask = capMask(0, 1, 4, 3, 27, 13, 6, 7, 31, 8, 10, 18, 5, 29)

// baseSpec is a spec as containerd generates it, with the given args.
func baseSpec(rootfs string, args ...string) *specs.Spec {
	return &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: rootfs},
		Hostname: "lxcrun",
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps,
			},
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// defaultSeccomp is containerd's default seccomp profile, as nerdctl
// writes it (lxcconv's golden test input).
func defaultSeccomp(t *testing.T) *specs.LinuxSeccomp {
	data, err := os.ReadFile("../lxcconv/testdata/specs/nerdctl-default.json")
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Linux == nil || s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Fatal("nerdctl-default.json has no default seccomp profile")
	}
	return s.Linux.Seccomp
}

// syncBuffer is a bytes.Buffer safe for the copying goroutine of os/exec
// and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls until out contains want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q; output so far %q", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// box is one container under test.
type box struct {
	c              *lxcrun.Container
	stdout, stderr *syncBuffer
}

var nameSeq struct {
	sync.Mutex
	n int
}

// create prepares and starts (OCI create) a container from spec, with
// stdin, and registers its removal.
func create(t *testing.T, spec *specs.Spec, stdin string, reaper bool) *box {
	t.Helper()
	b := prepare(t, spec, reaper)
	b.start(t, lxcrun.Stdio{Stdin: strings.NewReader(stdin), Stdout: b.stdout, Stderr: b.stderr})
	return b
}

// prepare prepares a container from spec (bundle: the rootfs's parent)
// and registers its removal.
func prepare(t *testing.T, spec *specs.Spec, reaper bool) *box {
	t.Helper()
	bin := requireLXC(t)
	nameSeq.Lock()
	nameSeq.n++
	name := fmt.Sprintf("lxcrun-%d-%d", os.Getpid(), nameSeq.n)
	nameSeq.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "state")
	c, err := lxcrun.Prepare(ctx, dir, spec, lxcrun.Options{
		Name:   name,
		Reaper: reaper,
		BinDir: bin,
		Convert: lxcconv.Options{
			BundleDir:              filepath.Dir(spec.Root.Path),
			RootFS:                 os.DirFS(spec.Root.Path),
			DefaultAppArmorProfile: "unconfined",
			LogLevel:               "warn",
		},
	})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	b := &box{c: c, stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(ctx); err != nil {
			t.Errorf("Delete: %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("state dir left behind: %v", err)
		}
		if left, _ := filepath.Glob("/sys/fs/cgroup/*/lxc.*." + name); len(left) > 0 {
			t.Errorf("cgroups left behind: %v", left)
		}
		if left, _ := filepath.Glob("/sys/fs/cgroup/lxc.*." + name); len(left) > 0 {
			t.Errorf("cgroups left behind: %v", left)
		}
		if t.Failed() {
			t.Logf("stdout %q\nstderr %q", b.stdout.String(), b.stderr.String())
		}
	})
	return b
}

// start starts (OCI create) a prepared container.
func (b *box) start(t *testing.T, stdio lxcrun.Stdio) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.c.Start(ctx, stdio); err != nil {
		log, _ := os.ReadFile(b.c.LogPath())
		t.Fatalf("Start: %v\nlxc.log:\n%s", err, log)
	}
	if b.c.Pid() <= 0 {
		t.Fatalf("Pid() = %d after Start", b.c.Pid())
	}
}

func (b *box) release(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.c.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
}

func (b *box) wait(t *testing.T) lxcrun.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := b.c.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// nastyArgs must reach the process byte for byte.
var nastyArgs = []string{
	"two words", "  leading", "trailing  ", `"double"`, `'single'`, "new\nline", "cr\rlf",
	"$HOME", "${PATH}", "*", "?", "[a]", "", "ünïcödé ✓ 日本", `back\slash`, "tab\there",
	"-n", "--", "a=b", ";|&<>", "`id`", "$(id)", "#comment", "~",
}

// statusLines are the /proc/self/status lines a case checks.
const statusScript = `grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' /proc/self/status`

func statusWant(uid, gid, groups, inh, prm, eff, bnd, amb string) string {
	return fmt.Sprintf("Uid:\t%[1]s\t%[1]s\t%[1]s\t%[1]s\nGid:\t%[2]s\t%[2]s\t%[2]s\t%[2]s\nGroups:\t%[3]s\nCapInh:\t%[4]s\nCapPrm:\t%[5]s\nCapEff:\t%[6]s\nCapBnd:\t%[7]s\nCapAmb:\t%[8]s\n",
		uid, gid, groups, inh, prm, eff, bnd, amb)
}

func TestContainer(t *testing.T) {
	requireLXC(t)
	argvScript := `cat /proc/1/cmdline; for a; do printf '<%s>\n' "$a"; done`
	argv := append([]string{"/bin/sh", "-c", argvScript, "argv 0"}, nastyArgs...)
	var argvWant strings.Builder
	argvWant.WriteString(strings.Join(argv, "\x00") + "\x00")
	for _, a := range nastyArgs {
		fmt.Fprintf(&argvWant, "<%s>\n", a)
	}
	env := []string{"PATH=/bin", "EQ=a=b==c", "SPACE= with  spaces ", "EMPTY=", "NL=x\ny", "UTF=ü✓"}
	none := capMask()

	tests := []struct {
		name       string
		args       []string
		spec       func(*specs.Spec)
		stdin      string
		reaper     bool
		act        func(t *testing.T, b *box) // after Release
		wantOut    string
		wantOutHas string
		wantErr    string
		want       lxcrun.Status
	}{
		{name: "argv byte for byte", args: argv, wantOut: argvWant.String()},
		{name: "pid 1", args: []string{"sh", "-c", `echo $$; readlink /proc/self/exe; cut -d' ' -f1 /proc/self/stat`}, wantOut: "1\n/bin/busybox\n1\n"},
		{name: "exit code", args: []string{"sh", "-c", "exit 42"}, want: lxcrun.Status{Code: 42}},
		{name: "exit 0", args: []string{"true"}, want: lxcrun.Status{}},
		{name: "sigkill from host", args: []string{"sleep", "1000"},
			act: func(t *testing.T, b *box) {
				time.Sleep(100 * time.Millisecond)
				if err := b.c.Kill(context.Background(), syscall.SIGKILL); err != nil {
					t.Fatalf("Kill: %v", err)
				}
			}, want: lxcrun.Status{Signal: syscall.SIGKILL}},
		{name: "term trap", args: []string{"sh", "-c", `trap 'echo trapped; exit 3' TERM; echo ready; while :; do sleep 0.05; done`},
			act: func(t *testing.T, b *box) {
				waitFor(t, b.stdout, "ready\n")
				if err := b.c.Kill(context.Background(), syscall.SIGTERM); err != nil {
					t.Fatalf("Kill: %v", err)
				}
			}, wantOut: "ready\ntrapped\n", want: lxcrun.Status{Code: 3}},
		{name: "env", args: []string{"sh", "-c", `cat /proc/1/environ; printf '%s|' "$EQ" "$SPACE" "$EMPTY" "$NL" "$UTF"`},
			spec: func(s *specs.Spec) { s.Process.Env = env },
			// zfslxc-init adds HOME (root's, from /etc/passwd) as runc does.
			wantOut: strings.Join(env, "\x00") + "\x00HOME=/root\x00" + "a=b==c| with  spaces ||x\ny|ü✓|"},
		// Applied once init is ready (Result.ReadonlyRootfs), from the
		// host: a mount target the image lacks is created first, and a
		// seccomp profile that denies mount(2) does not stop it.
		{name: "read-only root", args: []string{"sh", "-c", "touch /x 2>&1; touch /newdir/y && echo tmpfs ok"},
			spec: func(s *specs.Spec) {
				s.Root.Readonly = true
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/newdir", Type: "tmpfs", Source: "tmpfs"})
				s.Linux.Seccomp = defaultSeccomp(t)
			},
			wantOut: "touch: /x: Read-only file system\ntmpfs ok\n"},
		// pids.max is written once init is ready (Result.LateCgroup):
		// set by LXC before, it killed the Go helper starting its threads.
		{name: "pids limit below the helper's threads", args: []string{"sh", "-c", "exec 2>&1; echo started; sleep 1 & sleep 1 & wait"},
			spec: func(s *specs.Spec) {
				limit := int64(2) // the shell and one sleep
				s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}
			},
			wantOut: "started\nsh: can't fork: Resource temporarily unavailable\n", want: lxcrun.Status{Code: 2}},
		{name: "missing cwd created", args: []string{"sh", "-c", "pwd; ls -ld ."},
			spec:       func(s *specs.Spec) { s.Process.Cwd = "/srv/new dir/é" },
			wantOutHas: "/srv/new dir/é\ndrwxr-xr-x "},
		{name: "umask", args: []string{"sh", "-c", "umask"},
			spec: func(s *specs.Spec) { m := uint32(0o027); s.Process.User.Umask = &m }, wantOut: "0027\n"},
		{name: "root with default caps", args: []string{"sh", "-c", statusScript},
			wantOut: statusWant("0", "0", " ", none, defaultCapMask, defaultCapMask, defaultCapMask, none)},
		{name: "uid gid groups", args: []string{"sh", "-c", "id -u; id -g; " + statusScript},
			spec: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{44, 29}}
			},
			// A non-root user keeps no capabilities across exec unless
			// they are ambient (and so inheritable), as under runc.
			wantOut: "1000\n1000\n" + statusWant("1000", "1000", "29 44 ", none, none, none, defaultCapMask, none)},
		{name: "ambient capability for a user", args: []string{"sh", "-c", statusScript},
			spec: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000}
				nb := []string{"CAP_NET_BIND_SERVICE"}
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: nb, Effective: nb, Permitted: nb, Inheritable: nb, Ambient: nb}
			},
			wantOut: statusWant("1000", "1000", " ", capMask(10), capMask(10), capMask(10), capMask(10), capMask(10))},
		{name: "all capabilities dropped with a user", args: []string{"sh", "-c", statusScript},
			spec: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000}
				s.Process.Capabilities = nil
			},
			wantOut: statusWant("1000", "1000", " ", none, none, none, none, none)},
		{name: "containerd's default seccomp profile, user and ambient", args: []string{"sh", "-c", "grep Seccomp: /proc/self/status; " + statusScript},
			spec: func(s *specs.Spec) {
				s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29}}
				nb := []string{"CAP_NET_BIND_SERVICE"}
				s.Process.Capabilities.Inheritable, s.Process.Capabilities.Ambient = nb, nb
				s.Linux.Seccomp = defaultSeccomp(t)
			},
			// After exec a non-root user's permitted and effective sets
			// are its ambient set.
			wantOut: "Seccomp:\t2\n" + statusWant("1000", "1000", "29 ", capMask(10), capMask(10), capMask(10), defaultCapMask, capMask(10))},
		{name: "startContainer hook", args: []string{"cat", "/tmp/hook"},
			spec: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{
					Path: "/bin/sh", Args: []string{"sh", "-c", `cat > /tmp/hook; echo " $X" >> /tmp/hook`}, Env: []string{"X=from hook"},
				}}}
			},
			// The whole state: TestStartContainerHookState.
			wantOutHas: `,"status":"created","pid":1,"bundle":"/`},
		{name: "failing startContainer hook", args: []string{"echo", "must not run"},
			spec: func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/false"}}}
			},
			wantErr: "zfslxc-init: startContainer hook 0 (/bin/false): exit status 1 (output: \"\")\n", want: lxcrun.Status{Code: 125}},
		{name: "stdio separated", args: []string{"sh", "-c", `read l; echo "out:$l"; echo "err:$l" >&2`},
			stdin: "hello world\n", wantOut: "out:hello world\n", wantErr: "err:hello world\n"},
		{name: "stdin eof", args: []string{"cat"}, stdin: "a\x00b\nc", wantOut: "a\x00b\nc"},
		{name: "no helper left in the container", args: []string{"sh", "-c", `ls /proc/1/fd; grep -c zfslxc /proc/self/mountinfo; ls -a /`},
			wantOutHas: "0\n1\n2\n0\n"},
		{name: "reaper argv and pid", reaper: true, args: argv[:4],
			wantOutHas: "--reaper\x00/proc/self/fd/4\x00"},
		{name: "reaper exit code", reaper: true, args: []string{"sh", "-c", "exit 42"}, want: lxcrun.Status{Code: 42}},
		{name: "reaper reaps zombies", reaper: true,
			args:    []string{"sh", "-c", `[ $$ != 1 ] && echo not-pid-1; (sleep 0.1 &); (sleep 0.1 &); sleep 0.6; cat /proc/[0-9]*/stat | grep -c ') Z ' || true`},
			wantOut: "not-pid-1\n0\n"},
		{name: "reaper forwards signals", reaper: true, args: []string{"sh", "-c", `trap 'echo trapped; exit 3' TERM; echo ready; while :; do sleep 0.05; done`},
			act: func(t *testing.T, b *box) {
				waitFor(t, b.stdout, "ready\n")
				if err := b.c.Kill(context.Background(), syscall.SIGTERM); err != nil {
					t.Fatalf("Kill: %v", err)
				}
			}, wantOut: "ready\ntrapped\n", want: lxcrun.Status{Code: 3}},
		{name: "reaper signaled child is 128+n", reaper: true, args: []string{"sleep", "1000"},
			act: func(t *testing.T, b *box) {
				time.Sleep(200 * time.Millisecond)
				if err := b.c.Kill(context.Background(), syscall.SIGTERM); err != nil {
					t.Fatalf("Kill: %v", err)
				}
			}, want: lxcrun.Status{Code: 128 + int(syscall.SIGTERM)}},
		{name: "reaper sigkill from host", reaper: true, args: []string{"sleep", "1000"},
			act: func(t *testing.T, b *box) {
				time.Sleep(100 * time.Millisecond)
				if err := b.c.Kill(context.Background(), syscall.SIGKILL); err != nil {
					t.Fatalf("Kill: %v", err)
				}
			}, want: lxcrun.Status{Signal: syscall.SIGKILL}},
		{name: "reaper user and stdio", reaper: true, args: []string{"sh", "-c", `read l; id -u; echo "err:$l" >&2`},
			spec:  func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} },
			stdin: "in\n", wantOut: "1000\n", wantErr: "err:in\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rootfs := filepath.Join(t.TempDir(), "rootfs")
			makeRootfs(t, rootfs)
			spec := baseSpec(rootfs, tc.args...)
			if tc.spec != nil {
				tc.spec(spec)
			}
			b := create(t, spec, tc.stdin, tc.reaper)
			if out, errOut := b.stdout.String(), b.stderr.String(); out != "" || errOut != "" {
				t.Fatalf("output before Release: %q %q", out, errOut)
			}
			b.release(t)
			if tc.act != nil {
				tc.act(t, b)
			}
			st := b.wait(t)
			if st != tc.want {
				t.Errorf("status = %v, want %v", st, tc.want)
			}
			out := b.stdout.String()
			switch {
			case tc.wantOutHas != "" && !strings.Contains(out, tc.wantOutHas):
				t.Errorf("stdout = %q, want it to contain %q", out, tc.wantOutHas)
			case tc.wantOutHas == "" && out != tc.wantOut:
				t.Errorf("stdout = %q\nwant     %q", out, tc.wantOut)
			}
			if got := b.stderr.String(); got != tc.wantErr {
				t.Errorf("stderr = %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// TestCreateBlocksUntilStart checks the OCI create/start split: after Start
// the helper is set up and blocked; nothing of the process runs before
// Release.
func TestCreateBlocksUntilStart(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	marker := filepath.Join(rootfs, "tmp/ran")
	b := create(t, baseSpec(rootfs, "sh", "-c", "touch /tmp/ran; echo started"), "", false)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", b.c.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(cmdline, []byte("/proc/self/fd/3\x00")) {
		t.Errorf("init cmdline = %q, want zfslxc-init's", cmdline)
	}
	time.Sleep(500 * time.Millisecond)
	if out := b.stdout.String(); out != "" {
		t.Fatalf("output before Release: %q", out)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("process ran before Release (%v)", err)
	}
	b.release(t)
	if st := b.wait(t); st != (lxcrun.Status{}) {
		t.Errorf("status = %v", st)
	}
	if out := b.stdout.String(); out != "started\n" {
		t.Errorf("stdout = %q", out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("process did not run: %v", err)
	}
	ctx := context.Background()
	if err := b.c.Kill(ctx, syscall.SIGKILL); !errdefs.IsNotFound(err) {
		t.Errorf("Kill after exit = %v, want NotFound", err)
	}
	if err := b.c.Release(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("second Release = %v, want FailedPrecondition", err)
	}
}

// TestKillBeforeStart kills a created container that was never started.
func TestKillBeforeStart(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	b := create(t, baseSpec(rootfs, "echo", "never"), "", false)
	if err := b.c.Kill(context.Background(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := b.wait(t); st != (lxcrun.Status{Signal: syscall.SIGKILL}) {
		t.Errorf("status = %v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.c.Release(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Release after kill = %v, want FailedPrecondition", err)
	}
	if out := b.stdout.String(); out != "" {
		t.Errorf("stdout = %q", out)
	}
}

// TestCreateErrors checks that setup failures fail create with the reason
// and leave nothing running.
func TestCreateErrors(t *testing.T) {
	bin := requireLXC(t)
	tests := []struct {
		name     string
		spec     func(*specs.Spec)
		wantErr  string
		wantCode int
	}{
		{name: "executable not found", spec: func(s *specs.Spec) { s.Process.Args = []string{"no-such-cmd"} },
			wantErr: `"no-such-cmd": executable file not found`, wantCode: 127},
		{name: "not executable", spec: func(s *specs.Spec) { s.Process.Args = []string{"/etc/passwd"} },
			wantErr: "permission denied", wantCode: 126},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rootfs := filepath.Join(t.TempDir(), "rootfs")
			makeRootfs(t, rootfs)
			spec := baseSpec(rootfs, "true")
			tc.spec(spec)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dir := filepath.Join(t.TempDir(), "state")
			c, err := lxcrun.Prepare(ctx, dir, spec, lxcrun.Options{
				Name: "lxcrun-err-" + strings.ReplaceAll(tc.name, " ", "-"), BinDir: bin,
				Convert: lxcconv.Options{DefaultAppArmorProfile: "unconfined"},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Delete(ctx)
			var stderr syncBuffer
			err = c.Start(ctx, lxcrun.Stdio{Stderr: &stderr})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, lxcrun.ErrStartFailed) {
				t.Fatalf("Start = %v, want ErrStartFailed with %q", err, tc.wantErr)
			}
			st, err := c.Wait(ctx)
			if err != nil || st != (lxcrun.Status{Code: tc.wantCode}) {
				t.Errorf("Wait = %v, %v; want exited %d", st, err, tc.wantCode)
			}
			// The reason is the create error, as under runc, not the
			// container's output.
			if stderr.String() != "" {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}

// TestStarterDecodesStatus checks zfslxc-start's decoding of liblxc's
// error_num, with the values measured on LXC 5.0.2 (docs/adr/0002).
func TestStarterDecodesStatus(t *testing.T) {
	bin := requireLXC(t)
	for in, want := range map[string]string{
		"0":     "exited 0",
		"10752": "exited 42",   // exit 42: 42<<8
		"32512": "exited 127",  // 127<<8
		"2431":  "signaled 9",  // SIGKILL from the host: 0x097f
		"3967":  "signaled 15", // SIGTERM: 0x0f7f
		"2943":  "signaled 11", // SIGSEGV: 0x0b7f
		"9":     "signaled 9",  // a plain wait status
		"139":   "signaled 11", // plain, core dumped
	} {
		out, err := exec.Command(filepath.Join(bin, lxcrun.StarterBinary), "--decode-status", in).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("decode %s = %q, want %q", in, got, want)
		}
		st, err := lxcrun.ParseStatus(string(out))
		if err != nil || st.String() != want {
			t.Errorf("ParseStatus(%q) = %v, %v", out, st, err)
		}
	}
}

// TestStartFailure checks that a container liblxc cannot start reports
// ErrStartFailed from Start and Wait.
func TestStartFailure(t *testing.T) {
	bin := requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	spec := baseSpec(rootfs, "true")
	spec.Root.Path = filepath.Join(t.TempDir(), "missing-rootfs")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := lxcrun.Prepare(ctx, filepath.Join(t.TempDir(), "state"), spec, lxcrun.Options{
		Name: "lxcrun-nostart", BinDir: bin, Convert: lxcconv.Options{DefaultAppArmorProfile: "unconfined"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Delete(ctx)
	err = c.Start(ctx, lxcrun.Stdio{})
	if !errors.Is(err, lxcrun.ErrStartFailed) {
		t.Fatalf("Start = %v, want ErrStartFailed", err)
	}
	if _, err := c.Wait(ctx); !errors.Is(err, lxcrun.ErrStartFailed) {
		t.Errorf("Wait = %v, want ErrStartFailed", err)
	}
}

// TestStartContainerHookState checks the OCI state a startContainer hook
// gets on stdin: as runc's init passes it, with status "created" and the
// pid as seen in the container (the hook runs there, before the payload).
func TestStartContainerHookState(t *testing.T) {
	for _, reaper := range []bool{false, true} {
		t.Run(fmt.Sprintf("reaper=%v", reaper), func(t *testing.T) {
			t.Parallel()
			requireLXC(t)
			bundle := t.TempDir()
			rootfs := filepath.Join(bundle, "rootfs")
			makeRootfs(t, rootfs)
			spec := baseSpec(rootfs, "cat", "/tmp/hook")
			spec.Annotations = map[string]string{"io.example/a": "1", "io.example/b": "two words, \"quoted\""}
			spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > /tmp/hook"}}}}
			b := create(t, spec, "", reaper)
			b.release(t)
			if st := b.wait(t); st != (lxcrun.Status{}) {
				t.Errorf("status = %v", st)
			}
			var got specs.State
			if err := json.Unmarshal([]byte(b.stdout.String()), &got); err != nil {
				t.Fatalf("hook stdin %q: %v", b.stdout.String(), err)
			}
			want := specs.State{
				Version: specs.Version, ID: b.c.Name(), Status: specs.StateCreated, Pid: 1,
				Bundle: bundle, Annotations: spec.Annotations,
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("hook state = %+v\nwant         %+v", got, want)
			}
		})
	}
}

// ctlTTYScript prints ctty-ok when the shell is a session leader with a
// controlling terminal whose foreground process group is its own, and
// writes through /dev/tty.
const ctlTTYScript = `set -- $(cat /proc/$$/stat); [ "$6" = $$ ] && [ "$7" != 0 ] && [ "$8" = "$5" ] && echo ctty-ok; echo via-dev-tty > /dev/tty`

// TestTerminal runs process.terminal containers on a pty that the test
// allocates, as the shim will: the slave is the container's stdio, the
// output is read from the master until EIO (every slave closed).
func TestTerminal(t *testing.T) {
	requireLXC(t)
	tests := []struct {
		name   string
		args   []string
		size   *specs.Box
		resize func(t *testing.T, master *os.File) // after Start, before Release
		input  string                              // written after Release
		act    func(t *testing.T, b *box, master *os.File, out *syncBuffer)
		want   []string
		code   int
	}{
		// The slave is a pty of the host's devpts: its link reads
		// /dev/pts/N, but that name in the container is the container's
		// own devpts, so ttyname(3) fails and tty(1) says "not a tty"
		// although stdin is one (a known limitation: docs/adr/0002).
		{name: "tty, size, isatty", args: []string{"sh", "-c", `echo "link=$(readlink /proc/self/fd/0)"; tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo is-a-tty; ` + ctlTTYScript + `; exit 7`},
			size: &specs.Box{Height: 33, Width: 101},
			want: []string{"link=/dev/pts/", "\r\nnot a tty\r\n", "\n33 101\r\n", "is-a-tty\r\n", "ctty-ok\r\n", "via-dev-tty\r\n"}, code: 7},
		{name: "interactive", args: []string{"sh"}, input: "echo h''i\nexit 3\n", want: []string{"hi\r\n"}, code: 3},
		{name: "resize before start", args: []string{"stty", "size"}, size: &specs.Box{Height: 24, Width: 80},
			resize: func(t *testing.T, master *os.File) {
				if err := lxcrun.Resize(master, 132, 43); err != nil {
					t.Fatal(err)
				}
			}, want: []string{"43 132\r\n"}},
		{name: "resize sends SIGWINCH", args: []string{"sh", "-c", `trap 'stty size; exit 5' WINCH; echo ready; while :; do sleep 0.05; done`},
			act: func(t *testing.T, b *box, master *os.File, out *syncBuffer) {
				waitFor(t, out, "ready\r\n")
				if err := lxcrun.Resize(master, 90, 20); err != nil {
					t.Fatal(err)
				}
			}, want: []string{"20 90\r\n"}, code: 5},
		{name: "stdin eof", args: []string{"cat"}, input: "abc\n\x04", want: []string{"abc\r\n"}},
		// ^C reaches the foreground job (the shell's job control needs
		// the controlling terminal), not PID 1 in reaper mode.
		{name: "ctrl-c", args: []string{"sh"}, input: "echo st''art; sleep 100\n",
			act: func(t *testing.T, b *box, master *os.File, out *syncBuffer) {
				waitFor(t, out, "start\r\n")
				time.Sleep(200 * time.Millisecond)
				if _, err := io.WriteString(master, "\x03"); err != nil {
					t.Fatal(err)
				}
				waitFor(t, out, "^C\r\n")
				if _, err := io.WriteString(master, "echo rc-$?; exit 4\n"); err != nil {
					t.Fatal(err)
				}
			}, want: []string{"rc-130\r\n"}, code: 4},
	}
	for _, reaper := range []bool{false, true} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/reaper=%v", tc.name, reaper), func(t *testing.T) {
				t.Parallel()
				rootfs := filepath.Join(t.TempDir(), "rootfs")
				makeRootfs(t, rootfs)
				spec := baseSpec(rootfs, tc.args...)
				spec.Process.Terminal = true
				spec.Process.ConsoleSize = tc.size
				spec.Process.Env = append(spec.Process.Env, "TERM=xterm")
				b := prepare(t, spec, reaper)
				master, slave, err := lxcrun.OpenPty()
				if err != nil {
					t.Fatal(err)
				}
				defer master.Close()
				out := &syncBuffer{}
				b.stdout = out
				copied := make(chan error, 1)
				go func() {
					_, err := io.Copy(out, master)
					copied <- err
				}()
				b.start(t, lxcrun.Stdio{Stdin: slave, Stdout: slave, Stderr: slave})
				slave.Close() // the container holds it now; the master sees EIO once it ends
				if tc.resize != nil {
					tc.resize(t, master)
				}
				b.release(t)
				if tc.input != "" {
					if _, err := io.WriteString(master, tc.input); err != nil {
						t.Fatal(err)
					}
				}
				if tc.act != nil {
					tc.act(t, b, master, out)
				}
				if st := b.wait(t); st != (lxcrun.Status{Code: tc.code}) {
					t.Errorf("status = %v, want exited %d", st, tc.code)
				}
				select {
				case err := <-copied:
					if !errors.Is(err, syscall.EIO) {
						t.Errorf("reading the master: %v, want EIO", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the master did not report EIO after the container ended")
				}
				got := out.String()
				for _, w := range tc.want {
					if !strings.Contains(got, w) {
						t.Errorf("output %q does not contain %q", got, w)
					}
				}
				t.Logf("output %q", got)
			})
		}
	}
}

// TestTerminalNeedsPty checks that a terminal spec without a pty is refused
// by Start, not run without a terminal.
func TestTerminalNeedsPty(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	spec := baseSpec(rootfs, "true")
	spec.Process.Terminal = true
	b := prepare(t, spec, false)
	err := b.c.Start(context.Background(), lxcrun.Stdio{Stdin: strings.NewReader("")})
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Start = %v, want InvalidArgument", err)
	}
}
