package lxcrun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
)

func TestStarterArgs(t *testing.T) {
	adj := -500
	for _, tc := range []struct {
		name string
		a    starterArgs
		want []string
	}{
		{"init", starterArgs{Name: "c", LXCPath: "/s/lxc", RCFile: "/s/lxc/c/config", StatusFile: "/s/status", PassFDs: 4},
			[]string{"--name", "c", "--lxcpath", "/s/lxc", "--rcfile", "/s/lxc/c/config", "--status-file", "/s/status", "--pass-fds", "4"}},
		{"exec", starterArgs{Attach: true, Name: "c", StatusFile: "/s/exec/e.status", PassFDs: 3,
			Cgroups: []string{"/sys/fs/cgroup/cpu/c", "/sys/fs/cgroup/memory/c"}, Seccomp: "/s/seccomp.policy",
			OOMScoreAdj: &adj, Program: []string{"/proc/self/fd/3", "--join"}},
			[]string{"--attach", "--name", "c", "--init-pidfd", "6", "--cgroup", "/sys/fs/cgroup/cpu/c", "--cgroup", "/sys/fs/cgroup/memory/c",
				"--seccomp", "/s/seccomp.policy", "--status-file", "/s/exec/e.status",
				"--pass-fds", "3", "--oom-score-adj", "-500", "--", "/proc/self/fd/3", "--join"}},
		{"exec without seccomp", starterArgs{Attach: true, StatusFile: "/s/exec/e.status", PassFDs: 3, Program: []string{"/proc/self/fd/3"}},
			[]string{"--attach", "--init-pidfd", "6", "--status-file", "/s/exec/e.status", "--pass-fds", "3", "--", "/proc/self/fd/3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.args(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("args = %q\nwant   %q", got, tc.want)
			}
		})
	}
}

// exitError runs sh to get a real *exec.ExitError with code.
func exitError(t *testing.T, code string) error {
	t.Helper()
	err := exec.Command("sh", "-c", "exit "+code).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("sh exit %s: %v", code, err)
	}
	return err
}

// killedError is the Wait error of a process killed by SIGKILL.
func killedError(t *testing.T) error {
	t.Helper()
	err := exec.Command("sh", "-c", "kill -9 $$").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("sh kill -9: %v", err)
	}
	return err
}

// TestDecodeExit: the status file wins; without one (the state dir was
// removed under a waiting owner) the starter's own shell-style code is
// decoded, 128+n as signal n; 125 (start failed) and no file is an error.
func TestDecodeExit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		data    string
		rerr    error
		want    Status
		wantErr bool
	}{
		{"file exited", exitError(t, "42"), "exited 42\n", nil, Status{Code: 42}, false},
		{"file signaled", exitError(t, "137"), "signaled 9\n", nil, Status{Signal: syscall.SIGKILL}, false},
		{"no file, code", exitError(t, "3"), "", os.ErrNotExist, Status{Code: 3}, false},
		{"no file, zero", nil, "", os.ErrNotExist, Status{}, false},
		{"no file, 128+n", exitError(t, "143"), "", os.ErrNotExist, Status{Signal: syscall.SIGTERM}, false},
		{"no file, start failed", exitError(t, "125"), "", os.ErrNotExist, Status{}, true},
		{"no file, starter killed", killedError(t), "", os.ErrNotExist, Status{Signal: syscall.SIGKILL}, false},
		{"unreadable file", nil, "", os.ErrPermission, Status{}, true},
		{"start error in file", exitError(t, "125"), "error no such config\n", nil, Status{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeExit(tc.err, []byte(tc.data), tc.rerr)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("decodeExit = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestFailureClasses: the start and exec failures keep an errdefs class
// (FailedPrecondition) through wrapping, so containerd gets more than
// Unknown, and stay distinguishable.
func TestFailureClasses(t *testing.T) {
	for _, class := range []error{ErrStartFailed, ErrExecFailed} {
		err := fmt.Errorf("exec e1: zfslxc-init: nope: %w", class)
		if !errdefs.IsFailedPrecondition(err) || !errors.Is(err, class) {
			t.Errorf("%v: FailedPrecondition %v, Is(class) %v", err, errdefs.IsFailedPrecondition(err), errors.Is(err, class))
		}
	}
	if errors.Is(ErrStartFailed, ErrExecFailed) {
		t.Error("ErrStartFailed is ErrExecFailed")
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"c": true, "C9": true, "a_b.c-d": true, "0": true, strings.Repeat("a", 128): true,
		"": false, "_a": false, ".a": false, "-a": false, "a b": false, "a/b": false, "a\n": false,
		"é": false, strings.Repeat("a", 129): false,
	} {
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %v, want %v", name, got, want)
		}
	}
}
