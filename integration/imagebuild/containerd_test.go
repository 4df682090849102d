package imagebuild

// Helpers that run a private containerd for a test. They are meant to move
// to a shared integration package; keep them free of imagebuild specifics.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// requireIntegrationEnv turns integration-test skips into failures.
	requireIntegrationEnv = "ZFSLXC_REQUIRE_INTEGRATION"
	// debianContainerd and debianCtr are Debian's containerd 1.6.
	debianContainerd = "/usr/bin/containerd"
	debianCtr        = "/usr/bin/ctr"
	// containerdV2Dir holds containerd v2.4.2, its ctr and its runc shim.
	containerdV2Dir = "/var/cache/zfslxc/tools/containerd-v2.4.2/bin"
	// daemonStartTimeout bounds how long a daemon may take to answer.
	daemonStartTimeout = 30 * time.Second
)

// containerdFlavor says which containerd to run and how to configure it.
type containerdFlavor struct {
	Name string
	// Daemon and Ctr are absolute paths: ~/go/bin may shadow the
	// system binaries on PATH.
	Daemon, Ctr string
	// ConfigVersion is 2 for containerd 1.6/1.7, 3 for 2.x.
	ConfigVersion int
	// PathPrefix goes first on the daemon's PATH, so it finds the shim
	// that matches it (2.x cannot use Debian's 1.6 shim).
	PathPrefix string
}

// debianFlavor is Debian's containerd 1.6.20.
func debianFlavor() containerdFlavor {
	return containerdFlavor{Name: "containerd-1.6", Daemon: debianContainerd, Ctr: debianCtr, ConfigVersion: 2}
}

// v2Flavor is containerd v2.4.2 built into containerdV2Dir.
func v2Flavor() containerdFlavor {
	return containerdFlavor{
		Name: "containerd-2.4", ConfigVersion: 3, PathPrefix: containerdV2Dir,
		Daemon: filepath.Join(containerdV2Dir, "containerd"), Ctr: filepath.Join(containerdV2Dir, "ctr"),
	}
}

// skipOrFail skips the test, or fails it when requireIntegrationEnv=1.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireIntegrationEnv) == "1" {
		t.Fatalf(format+" (%s=1 requires the integration tests)", append(args, requireIntegrationEnv)...)
	}
	t.Skipf(format, args...)
}

// requireContainerdHost skips (or fails) unless the host can run flavor f:
// root, and the daemon, ctr and runc present.
func requireContainerdHost(t *testing.T, f containerdFlavor) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "%s: needs root", f.Name)
	}
	for _, p := range []string{f.Daemon, f.Ctr} {
		if _, err := os.Stat(p); err != nil {
			skipOrFail(t, "%s: %v", f.Name, err)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		skipOrFail(t, "%s: runc not found (apt-get install runc): %v", f.Name, err)
	}
}

// containerd is a private containerd daemon.
type containerd struct {
	flavor  containerdFlavor
	Address string // gRPC unix socket
	Root    string // root directory, with the snapshotters' data
	State   string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the daemon has exited
	waitErr error         // valid once exited is closed
}

// scratchDir makes a directory for daemon data under /var/tmp (on disk;
// /tmp can be a small tmpfs) removed at cleanup.
func scratchDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", pattern)
	if err != nil {
		t.Fatalf("scratch dir: %v", err)
	}
	t.Cleanup(func() {
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// startContainerd starts flavor f with a config of its own in fresh
// directories and waits until it answers. extraConfig is appended to the
// config. Everything is torn down at cleanup, also when the test fails.
func startContainerd(t *testing.T, f containerdFlavor, extraConfig string) *containerd {
	t.Helper()
	base := scratchDir(t, "zfslxc-ctrd-")
	// A short socket path: sun_path holds 108 bytes.
	sockDir, err := os.MkdirTemp("/run", "zc-")
	if err != nil {
		t.Fatalf("socket dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	d := &containerd{
		flavor:  f,
		Address: filepath.Join(sockDir, "c.sock"),
		Root:    filepath.Join(base, "root"),
		State:   filepath.Join(base, "state"),
		logPath: filepath.Join(base, "containerd.log"),
		exited:  make(chan struct{}),
	}
	config := fmt.Sprintf(`version = %d
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, f.ConfigVersion, d.Root, d.State, d.Address, d.Address+".ttrpc",
		filepath.Join(sockDir, "d.sock"), filepath.Join(base, "opt"))
	if f.ConfigVersion >= 3 {
		// The 2.x CRI is split in several plugins; none is wanted here.
		config = strings.Replace(config, `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
			`disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]`, 1)
	}
	config += extraConfig
	configPath := filepath.Join(base, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatalf("write containerd config: %v", err)
	}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatalf("containerd log: %v", err)
	}
	d.cmd = exec.Command(f.Daemon, "--config", configPath)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.Env = daemonEnv(f)
	// Kill the daemon if the test binary dies without cleanup.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", f.Daemon, err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		logFile.Close()
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })
	if err := d.waitReady(); err != nil {
		t.Fatalf("%s did not start: %v\n%s", f.Name, err, d.logTail(40))
	}
	return d
}

// daemonEnv is the process environment with PATH replaced, so the daemon
// finds the right shim and runc and nothing from ~/go/bin.
func daemonEnv(f containerdFlavor) []string {
	path := "/usr/sbin:/usr/bin:/sbin:/bin"
	if f.PathPrefix != "" {
		path = f.PathPrefix + ":" + path
	}
	env := []string{"PATH=" + path}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return env
}

func (d *containerd) waitReady() error {
	deadline := time.Now().Add(daemonStartTimeout)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("daemon exited: %v", d.waitErr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := d.ctrOutput(ctx, "version")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %w", daemonStartTimeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Ctr runs ctr against the daemon and returns its standard output. Its
// standard error (2.x warns there, e.g. about cgroup v1) goes into the
// error, or into the test log when ctr succeeds.
func (d *containerd) Ctr(ctx context.Context, args ...string) (string, error) {
	return d.ctrOutput(ctx, args...)
}

func (d *containerd) ctrOutput(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.flavor.Ctr, append([]string{"--address", d.Address}, args...)...)
	cmd.Env = daemonEnv(d.flavor)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ctr %s: %w: %s%s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()), strings.TrimSpace(stdout.String()))
	}
	return stdout.String(), nil
}

// logTail returns the last n lines of the daemon log.
func (d *containerd) logTail(n int) string {
	data, err := os.ReadFile(d.logPath)
	if err != nil {
		return fmt.Sprintf("(no daemon log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + d.flavor.Name + " log (tail) ---\n" + strings.Join(lines, "\n")
}

// stop removes what tests left running (tasks, then containers, so no shim
// outlives the daemon), then stops the daemon: SIGTERM, SIGKILL after 10 s.
func (d *containerd) stop(t *testing.T) {
	select {
	case <-d.exited:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := d.ctrOutput(ctx, "containers", "list", "--quiet"); err == nil {
			for _, id := range strings.Fields(out) {
				d.ctrOutput(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
				d.ctrOutput(ctx, "tasks", "delete", "--force", id)
				if _, err := d.ctrOutput(ctx, "containers", "delete", id); err != nil {
					t.Logf("cleanup: %v", err)
				}
			}
		}
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			t.Logf("%s ignored SIGTERM; killing it", d.flavor.Name)
			d.cmd.Process.Kill()
			<-d.exited
		}
	}
	if t.Failed() {
		t.Log(d.logTail(60))
	}
}

// unmountUnder lazily unmounts every mount at or below dir, deepest first,
// so a failed test cannot leave mounts that block RemoveAll.
func unmountUnder(t *testing.T, dir string) {
	if runtime.GOOS != "linux" {
		return
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			t.Logf("unmount %s: %v", mounts[i], err)
		}
	}
}

// unescapeMountinfo undoes the octal escapes (\040 for space…) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
