package containerdtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// debianContainerd and debianCtr are Debian's containerd 1.6.
	debianContainerd = "/usr/bin/containerd"
	debianCtr        = "/usr/bin/ctr"
	// V2Dir holds containerd v2.4.2, its ctr and its runc shim (built by
	// `make deps`).
	V2Dir = "/var/cache/zfslxc/tools/containerd-v2.4.2/bin"
	// startTimeout bounds how long a daemon may take to answer.
	startTimeout = 30 * time.Second
	// CtrTimeout bounds one Ctr call.
	CtrTimeout = 3 * time.Minute
)

// Flavor says which containerd to run and how to configure it.
type Flavor struct {
	// Name names sub-tests: "containerd-1.6", "containerd-2.4".
	Name string
	// Daemon and Ctr are absolute paths: ~/go/bin may shadow the
	// system binaries on PATH.
	Daemon, Ctr string
	// ConfigVersion is 2 for containerd 1.6/1.7, 3 for 2.x.
	ConfigVersion int
	// PathPrefix goes first on the daemon's PATH, so it finds the shim
	// that matches it (2.x cannot use Debian's 1.6 shim).
	PathPrefix string
	// Optional: skipped, even under RequireEnv, when not built.
	Optional bool
}

// PathFirst returns f with dir first on the daemon's PATH, before
// f.PathPrefix (a shim and its helpers from make build).
func (f Flavor) PathFirst(dir string) Flavor {
	if f.PathPrefix != "" {
		f.PathPrefix = dir + ":" + f.PathPrefix
	} else {
		f.PathPrefix = dir
	}
	return f
}

// Debian is Debian's containerd 1.6.20.
func Debian() Flavor {
	return Flavor{Name: "containerd-1.6", Daemon: debianContainerd, Ctr: debianCtr, ConfigVersion: 2}
}

// V2 is containerd v2.4.2 built into V2Dir.
func V2() Flavor {
	return Flavor{
		Name: "containerd-2.4", ConfigVersion: 3, PathPrefix: V2Dir, Optional: true,
		Daemon: filepath.Join(V2Dir, "containerd"), Ctr: filepath.Join(V2Dir, "ctr"),
	}
}

// Flavors returns every containerd the tests run against: Debian's 1.6 and
// v2.4.2.
func Flavors() []Flavor { return []Flavor{Debian(), V2()} }

// Daemon is a private containerd.
type Daemon struct {
	Flavor  Flavor
	Address string // gRPC unix socket
	Root    string // root directory, with the snapshotters' data
	State   string
	LogPath string // daemon output, across restarts
	config  string // config file
	proc    *process
}

// Start starts flavor f with a config of its own in fresh directories and
// waits until it answers; extraConfig is appended to the config (see
// containerdconfig.Snippet). Everything is torn down at cleanup (tasks and
// containers removed, daemon stopped), also when the test fails; a failed
// test gets the daemon's log tail.
func Start(t testing.TB, f Flavor, extraConfig string) *Daemon {
	t.Helper()
	return start(t, f, extraConfig, false)
}

// start is Start, with the CRI plugin enabled when cri is set.
func start(t testing.TB, f Flavor, extraConfig string, cri bool) *Daemon {
	t.Helper()
	RequireHost(t, f)
	base := ScratchDir(t, "zfslxc-ctrd-")
	sockDir := socketDir(t, "zc-")
	d := &Daemon{
		Flavor:  f,
		Address: filepath.Join(sockDir, "c.sock"),
		Root:    filepath.Join(base, "root"),
		State:   filepath.Join(base, "state"),
		LogPath: filepath.Join(base, "containerd.log"),
		config:  filepath.Join(base, "config.toml"),
	}
	disabled := `["io.containerd.grpc.v1.cri"]`
	if cri {
		disabled = "[]"
	} else if f.ConfigVersion >= 3 {
		// The 2.x CRI is split in several plugins; none is wanted here.
		disabled = `["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]`
	}
	config := fmt.Sprintf(`version = %d
root = %q
state = %q
disabled_plugins = %s

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, f.ConfigVersion, d.Root, d.State, disabled, d.Address, d.Address+".ttrpc",
		filepath.Join(sockDir, "d.sock"), filepath.Join(base, "opt"))
	config += extraConfig
	if err := os.WriteFile(d.config, []byte(config), 0o600); err != nil {
		t.Fatalf("write containerd config: %v", err)
	}
	t.Cleanup(func() { d.cleanup(t) })
	d.start(t)
	return d
}

// start runs the daemon and waits until it answers.
func (d *Daemon) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(d.Flavor.Daemon, "--config", d.config)
	cmd.Env = d.env()
	p, err := startProcess(cmd, d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	d.proc = p
	if err := d.waitReady(); err != nil {
		t.Fatalf("%s did not start: %v\n%s", d.Flavor.Name, err, d.LogTail(40))
	}
}

// env is the process environment with PATH replaced, so the daemon and
// ctr find the right shim and runc and nothing from ~/go/bin.
func (d *Daemon) env() []string {
	path := "/usr/sbin:/usr/bin:/sbin:/bin"
	if d.Flavor.PathPrefix != "" {
		path = d.Flavor.PathPrefix + ":" + path
	}
	env := []string{"PATH=" + path}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "CONTAINERD_") {
			env = append(env, kv)
		}
	}
	return env
}

func (d *Daemon) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		if !d.proc.running() {
			return fmt.Errorf("daemon exited: %v", d.proc.waitErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := d.CtrContext(ctx, "version")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %w", startTimeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Ctr runs ctr against the daemon (bounded by CtrTimeout) and returns its
// standard output and standard error apart: 2.x warns on stderr (cgroup
// v1), which must not mix into the output of `ctr run`. The error carries
// stderr.
func (d *Daemon) Ctr(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CtrTimeout)
	defer cancel()
	return d.CtrContext(ctx, args...)
}

// MustCtr is Ctr that fails the test on error and returns stdout.
func (d *Daemon) MustCtr(t testing.TB, args ...string) string {
	t.Helper()
	out, _, err := d.Ctr(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// CtrContext is Ctr bounded by ctx instead.
func (d *Daemon) CtrContext(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, d.Flavor.Ctr, append([]string{"--address", d.Address}, args...)...)
	cmd.Env = d.env()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), e.String(), fmt.Errorf("ctr %s: %w: %s", shortArgs(args), err, strings.TrimSpace(e.String()+"\n"+o.String()))
	}
	return o.String(), e.String(), nil
}

// shortArgs joins args for an error message, cutting long ones (scripts).
func shortArgs(args []string) string {
	s := make([]string, len(args))
	for i, a := range args {
		if len(a) > 80 {
			a = a[:80] + "…"
		}
		s[i] = a
	}
	return strings.Join(s, " ")
}

// Running reports whether the daemon runs.
func (d *Daemon) Running() bool { return d.proc.running() }

// ConfigPath is the daemon's config file.
func (d *Daemon) ConfigPath() string { return d.config }

// Stop stops the daemon (SIGTERM, SIGKILL after 10 s) and leaves its
// containers and data for Restart.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	if err := d.proc.terminate(10 * time.Second); err != nil {
		t.Logf("%s stop: %v", d.Flavor.Name, err)
	}
}

// Kill9 kills the daemon with SIGKILL.
func (d *Daemon) Kill9(t testing.TB) {
	t.Helper()
	d.proc.kill()
}

// Signal sends sig to the daemon (SIGUSR1: containerd writes a goroutine
// dump to its log, for a test that found it hung).
func (d *Daemon) Signal(sig syscall.Signal) error { return d.proc.signal(sig) }

// Restart stops the daemon if it runs and starts it again on the same
// config and data.
func (d *Daemon) Restart(t testing.TB) {
	t.Helper()
	d.Stop(t)
	d.start(t)
}

// LogTail returns the last n lines of the daemon's log.
func (d *Daemon) LogTail(n int) string { return logTail(d.Flavor.Name, d.LogPath, n) }

// cleanup removes what tests left running (tasks, then containers, so no
// shim outlives the daemon), then stops the daemon.
func (d *Daemon) cleanup(t testing.TB) {
	if d.proc.running() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, _, err := d.CtrContext(ctx, "containers", "list", "--quiet"); err == nil {
			for _, id := range strings.Fields(out) {
				d.CtrContext(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
				d.CtrContext(ctx, "tasks", "delete", "--force", id)
				if _, _, err := d.CtrContext(ctx, "containers", "delete", id); err != nil {
					t.Logf("cleanup: %v", err)
				}
			}
		}
		if err := d.proc.terminate(10 * time.Second); err != nil {
			t.Logf("%s: %v", d.Flavor.Name, err)
		}
	}
	if t.Failed() {
		t.Log(d.LogTail(60))
	}
}
