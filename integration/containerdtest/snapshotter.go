package containerdtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// BinDirEnv names the directory holding the built binaries (the Makefile
// sets it to <repo>/bin): lxcrun.EnvBinDir, the variable the shim and the
// zfslxc CLI look their helpers up in. Unset, SnapshotterBinary builds the
// daemon.
const BinDirEnv = lxcrun.EnvBinDir

// SnapshotterName is the name the daemon is registered under in
// containerd (the built-in "zfs" is taken).
const SnapshotterName = "zfslxc"

var built struct {
	once sync.Once
	dir  string // temporary directory of the built binary
	path string
	err  error
}

// SnapshotterBinary returns the zfslxc-snapshotter binary: from BinDirEnv
// when set, else built once per test binary from this module (call Main
// from TestMain to remove it at the end).
func SnapshotterBinary(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(BinDirEnv); dir != "" {
		p := filepath.Join(dir, "zfslxc-snapshotter")
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v (run make build)", BinDirEnv, dir, err)
		}
		return p
	}
	built.once.Do(func() {
		built.path, built.err = buildSnapshotter()
	})
	if built.err != nil {
		t.Fatalf("build zfslxc-snapshotter: %v", built.err)
	}
	return built.path
}

func buildSnapshotter() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the module (go env GOMOD is empty); set %s", BinDirEnv)
	}
	built.dir, err = os.MkdirTemp("", "zfslxc-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(built.dir, "zfslxc-snapshotter")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/zfslxc-snapshotter")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	return path, nil
}

// Main runs the tests and removes what SnapshotterBinary built:
//
//	func TestMain(m *testing.M) { os.Exit(containerdtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	return code
}

// MainWithDir is Main for test binaries that keep files for all their
// tests (built images) in one directory: it sets *dir to a new directory
// in /var/tmp named by prefix, runs Main and removes the directory.
//
//	func TestMain(m *testing.M) { os.Exit(containerdtest.MainWithDir(m, "zfslxc-x-", &imageDir)) }
func MainWithDir(m *testing.M, prefix string, dir *string) int {
	d, err := os.MkdirTemp("/var/tmp", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(d)
	*dir = d
	return Main(m)
}

// SnapshotterOptions configure StartSnapshotter.
type SnapshotterOptions struct {
	// Dataset is the parent dataset, e.g. "<testpool>/zfslxc" (required).
	Dataset string
	// Args are more flags (e.g. --default-quota 1G).
	Args []string
	// LogLevel: default debug.
	LogLevel string
	// Driver destroys the parent dataset at cleanup; default zfsdriver.New.
	Driver *zfsdriver.Driver
}

// Snapshotter is a running zfslxc-snapshotter.
type Snapshotter struct {
	Address string // unix socket
	Root    string // --root
	Dataset string
	LogPath string // daemon output, across restarts
	args    []string
	proc    *process
}

// StartSnapshotter starts the zfslxc-snapshotter binary on opts.Dataset
// with its own --root and socket, and waits until it serves. At cleanup
// the daemon is stopped and the parent dataset destroyed (before the
// test's pool goes), also when the test fails; a failed test gets the
// daemon's log tail.
func StartSnapshotter(t testing.TB, opts SnapshotterOptions) *Snapshotter {
	t.Helper()
	if opts.Dataset == "" {
		t.Fatal("StartSnapshotter: no dataset")
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	bin := SnapshotterBinary(t)
	base := ScratchDir(t, "zfslxc-snap-")
	sockDir := socketDir(t, "zs-")
	s := &Snapshotter{
		Address: filepath.Join(sockDir, "s.sock"),
		Root:    filepath.Join(base, "root"),
		Dataset: opts.Dataset,
		LogPath: filepath.Join(base, "snapshotter.log"),
	}
	s.args = append([]string{bin,
		"--config", filepath.Join(base, "none.toml"), // no host config
		"--address", s.Address, "--root", s.Root, "--dataset", opts.Dataset,
		"--log-level", opts.LogLevel,
	}, opts.Args...)
	if err := os.WriteFile(filepath.Join(base, "none.toml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.proc.running() {
			if err := s.proc.terminate(15 * time.Second); err != nil {
				t.Logf("zfslxc-snapshotter stop: %v", err)
			}
		}
		if t.Failed() {
			t.Log(s.LogTail(60))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		drv := opts.Driver
		if drv == nil {
			var err error
			if drv, err = zfsdriver.New(ctx); err != nil {
				t.Logf("cleanup: %v", err)
				return
			}
		}
		// The pool's own teardown is the guarantee; this only spares it
		// busy mounts below the scratch directory.
		err := drv.Destroy(ctx, opts.Dataset, zfsdriver.DestroyOptions{Recursive: true, Force: true})
		if err != nil && !zfsdriver.IsNotFound(err) {
			t.Logf("cleanup: destroy %s: %v", opts.Dataset, err)
		}
	})
	s.Start(t)
	return s
}

// Start starts the daemon again after Kill9 or Stop and waits until it
// serves.
func (s *Snapshotter) Start(t testing.TB) {
	t.Helper()
	if s.proc.running() {
		t.Fatal("zfslxc-snapshotter already runs")
	}
	p, err := startProcess(exec.Command(s.args[0], s.args[1:]...), s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	s.proc = p
	deadline := time.Now().Add(startTimeout)
	for {
		if !p.running() {
			t.Fatalf("zfslxc-snapshotter exited at start: %v\n%s", p.waitErr, s.LogTail(30))
		}
		if c, err := net.DialTimeout("unix", s.Address, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("zfslxc-snapshotter not serving on %s after %v\n%s", s.Address, startTimeout, s.LogTail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Running reports whether the daemon runs.
func (s *Snapshotter) Running() bool { return s.proc.running() }

// Kill9 kills the daemon with SIGKILL, as a crash would.
func (s *Snapshotter) Kill9(t testing.TB) {
	t.Helper()
	s.proc.kill()
}

// Signal sends sig to the daemon (SIGQUIT: the Go runtime writes every
// goroutine's stack to the log and exits, for a test that found it hung).
func (s *Snapshotter) Signal(sig syscall.Signal) error { return s.proc.signal(sig) }

// Stop stops the daemon with SIGTERM and fails the test unless it exits
// 0 within 15 s.
func (s *Snapshotter) Stop(t testing.TB) {
	t.Helper()
	if err := s.proc.terminate(15 * time.Second); err != nil {
		t.Errorf("zfslxc-snapshotter stop: %v\n%s", err, s.LogTail(30))
	}
}

// Restart is Stop, then Start.
func (s *Snapshotter) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

// Log returns the daemon's whole log.
func (s *Snapshotter) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// LogTail returns the last n lines of the daemon's log.
func (s *Snapshotter) LogTail(n int) string { return logTail("zfslxc-snapshotter", s.LogPath, n) }
