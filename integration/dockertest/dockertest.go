// Package dockertest runs Docker Engine (dockerd, built by
// `scripts/deps.sh --test`) for end-to-end tests, on a containerd the test
// started (integration/containerdtest) with the containerd image store,
// and the docker CLI against it.
//
// The daemon gets its own data root, exec root, socket, pid file and CLI
// config directory in the test's scratch directories and is stopped at
// cleanup, after the test's containers are removed. Only one dockerd runs
// at a time on a host in these tests (they hold /work/.test.lock): the
// default bridge docker0 and its iptables chains are host-wide.
package dockertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// Environment variables naming the binaries (scripts/deps.sh --print-env).
const (
	DockerdEnv     = "ZFSLXC_DOCKERD"
	DockerProxyEnv = "ZFSLXC_DOCKER_PROXY"
	DockerEnv      = "ZFSLXC_DOCKER"
)

// Default paths, where `scripts/deps.sh --test` builds them.
const (
	DefaultDockerd     = "/var/cache/zfslxc/tools/moby-v2.0.0-beta.24/bin/dockerd"
	DefaultDockerProxy = "/var/cache/zfslxc/tools/moby-v2.0.0-beta.24/bin/docker-proxy"
	DefaultDocker      = "/var/cache/zfslxc/tools/docker-cli-v29.9.3/bin/docker"
)

// startTimeout bounds how long dockerd may take to answer.
const startTimeout = time.Minute

// Options of Start.
type Options struct {
	// Containerd is the containerd socket (required).
	Containerd string
	// Config is daemon.json (storage-driver, runtimes, features…).
	Config map[string]any
	// PathPrefix goes first on the daemon's PATH (runc, shims for hooks).
	PathPrefix string
}

// Daemon is a running dockerd.
type Daemon struct {
	Host    string // "unix://<socket>"
	Root    string // --data-root
	LogPath string
	docker  string
	cliDir  string // DOCKER_CONFIG
	args    []string
	env     []string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func binary(t testing.TB, env, def string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = def
	}
	if _, err := os.Stat(p); err != nil {
		containerdtest.SkipOrFail(t, "%v (scripts/deps.sh --test builds it; %s names it)", err, env)
	}
	return p
}

// Start starts dockerd with opts and waits until `docker version` answers.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	dockerd := binary(t, DockerdEnv, DefaultDockerd)
	proxy := binary(t, DockerProxyEnv, DefaultDockerProxy)
	docker := binary(t, DockerEnv, DefaultDocker)
	if opts.Containerd == "" {
		t.Fatal("dockertest.Start: no containerd socket")
	}
	base := containerdtest.ScratchDir(t, "zfslxc-docker-")
	run, err := os.MkdirTemp("/run", "zd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	d := &Daemon{
		Host:    "unix://" + filepath.Join(run, "docker.sock"),
		Root:    filepath.Join(base, "root"),
		LogPath: filepath.Join(base, "dockerd.log"),
		docker:  docker,
		cliDir:  filepath.Join(base, "cli"),
	}
	if err := os.MkdirAll(d.cliDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(base, "daemon.json")
	data, err := json.MarshalIndent(opts.Config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	d.args = []string{dockerd,
		"--config-file", cfgPath,
		"--data-root", d.Root,
		"--exec-root", filepath.Join(run, "exec"),
		"--pidfile", filepath.Join(run, "docker.pid"),
		"--host", d.Host,
		"--containerd", opts.Containerd,
		"--userland-proxy-path", proxy,
		"--log-level", "debug",
	}
	path := "/usr/sbin:/usr/bin:/sbin:/bin"
	if opts.PathPrefix != "" {
		path = opts.PathPrefix + ":" + path
	}
	d.env = []string{"PATH=" + path, "HOME=" + base}
	t.Cleanup(func() { d.cleanup(t) })
	d.Start(t)
	return d
}

// Start starts dockerd again after Stop and waits until it answers.
func (d *Daemon) Start(t testing.TB) {
	t.Helper()
	logFile, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.args[0], d.args[1:]...)
	cmd.Env = d.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start dockerd: %v", err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}(d.exited)
	deadline := time.Now().Add(startTimeout)
	for {
		if !d.Running() {
			t.Fatalf("dockerd exited at start:\n%s", d.LogTail(40))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, code, err := d.DockerContext(ctx, "", "version", "--format", "{{.Server.Version}}")
		cancel()
		if err == nil && code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd not answering after %v:\n%s", startTimeout, d.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Running reports whether dockerd runs.
func (d *Daemon) Running() bool {
	if d.exited == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// Stop stops dockerd (SIGTERM, SIGKILL after 30 s).
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	if !d.Running() {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Logf("dockerd ignored SIGTERM for 30s; killed")
		d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *Daemon) cleanup(t testing.TB) {
	if d.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, _, _, err := d.DockerContext(ctx, "", "ps", "-aq"); err == nil {
			for _, id := range strings.Fields(out) {
				d.DockerContext(ctx, "", "rm", "-f", id)
			}
		}
		d.Stop(t)
	}
	if t.Failed() {
		t.Log(d.LogTail(60))
	}
}

// DockerContext runs the docker CLI against the daemon with stdin ("":
// none) and returns stdout, stderr and the exit code; err is set only when
// it could not run or ctx ended.
func (d *Daemon) DockerContext(ctx context.Context, stdin string, args ...string) (string, string, int, error) {
	return containerdtest.CLI{
		Bin:  d.docker,
		Args: []string{"--host", d.Host},
		Env:  []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_CONFIG=" + d.cliDir, "HOME=" + d.cliDir},
	}.Run(ctx, stdin, args...)
}

// Docker is DockerContext bounded by 3 minutes, failing the test when
// the CLI cannot run.
func (d *Daemon) Docker(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stdout, stderr, code, err := d.DockerContext(ctx, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr, code
}

// Must is Docker that fails the test unless the CLI exits 0, and
// returns stdout.
func (d *Daemon) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, stderr, code := d.Docker(t, args...)
	if code != 0 {
		t.Fatalf("docker %s: exit %d: %s\n%s", strings.Join(args, " "), code, stderr, d.LogTail(30))
	}
	return out
}

// Command returns an exec.Cmd running the docker CLI against the daemon
// (for a terminal or a streaming test).
func (d *Daemon) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.docker, append([]string{"--host", d.Host}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_CONFIG=" + d.cliDir, "HOME=" + d.cliDir, "TERM=xterm"}
	return cmd
}

// LogTail returns the last n lines of dockerd's log.
func (d *Daemon) LogTail(n int) string {
	data, err := os.ReadFile(d.LogPath)
	if err != nil {
		return fmt.Sprintf("(no dockerd log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- dockerd log (tail) ---\n" + strings.Join(lines, "\n")
}
