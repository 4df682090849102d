package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    options
		wantErr bool
	}{
		{name: "lxcrun's command line", args: []string{"--fifo=/proc/self/fd/5", "--sync-fd=6", "/proc/self/fd/4"},
			want: options{processFile: "/proc/self/fd/4", fifo: "/proc/self/fd/5", syncFD: 6}},
		{name: "reaper", args: []string{"--reaper", "/p.json"}, want: options{processFile: "/p.json", syncFD: -1, reaper: true}},
		{name: "exec", args: []string{"--join", "--sync-fd=5", "/proc/self/fd/4"}, want: options{processFile: "/proc/self/fd/4", syncFD: 5, join: true}},
		{name: "no file", args: []string{"--reaper"}, wantErr: true},
		{name: "two files", args: []string{"a", "b"}, wantErr: true},
		{name: "unknown flag", args: []string{"--nope", "a"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseArgs(tc.args, io.Discard)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseArgs(%q) = %+v, want an error", tc.args, o)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *o != tc.want {
				t.Errorf("parseArgs(%q) = %+v, want %+v", tc.args, *o, tc.want)
			}
		})
	}
	if _, err := parseArgs([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestEnvPath(t *testing.T) {
	if got := envPath([]string{"A=1"}); got != defaultPath {
		t.Errorf("no PATH: %q", got)
	}
	if got := envPath([]string{"PATH=/a", "PATHX=/x", "PATH=/b:/c"}); got != "/b:/c" {
		t.Errorf("last PATH wins: %q", got)
	}
	if got := envPath([]string{"PATH="}); got != "" {
		t.Errorf("empty PATH kept: %q", got)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exe := write("bin/tool", 0o755)
	write("other/tool", 0o755)
	noexec := write("data/plain", 0o644)
	write("bin2/plain", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "bin/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "missing") + ":" + filepath.Join(dir, "bin") + ":" + filepath.Join(dir, "other")
	tests := []struct {
		name, file, path, want string
		code                   int
	}{
		{name: "first on PATH", file: "tool", path: path, want: exe},
		{name: "absolute", file: exe, path: "", want: exe},
		{name: "not found", file: "nope", path: path, code: exitNotFound},
		{name: "empty", file: "", path: path, code: exitNotFound},
		{name: "absolute missing", file: filepath.Join(dir, "nope"), code: exitNotFound},
		{name: "not executable", file: noexec, code: exitCannotExecute},
		{name: "directory", file: filepath.Join(dir, "bin/sub"), code: exitCannotExecute},
		{name: "not executable on PATH, executable later", file: "plain",
			path: filepath.Join(dir, "data") + ":" + filepath.Join(dir, "bin2"), want: filepath.Join(dir, "bin2/plain")},
		{name: "only a non-executable match", file: "plain", path: filepath.Join(dir, "data"), code: exitCannotExecute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookPath(tc.file, tc.path)
			if tc.code != 0 {
				if err == nil || exitCode(err) != tc.code {
					t.Fatalf("lookPath = %q, %v; want exit code %d", got, err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("lookPath = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("relative entry", func(t *testing.T) {
		t.Chdir(dir)
		got, err := lookPath("tool", "bin")
		if err != nil || got != "./bin/tool" {
			t.Fatalf("lookPath = %q, %v", got, err)
		}
		got, err = lookPath("tool", ":/nonexistent")
		if err == nil {
			t.Fatalf("empty entry (cwd) found %q", got)
		}
		t.Chdir(filepath.Join(dir, "bin"))
		got, err = lookPath("tool", ":/nonexistent")
		if err != nil || got != "./tool" {
			t.Fatalf("empty entry = %q, %v; want ./tool", got, err)
		}
	})
}

func TestParseCaps(t *testing.T) {
	s, unknown := parseCaps(&specs.LinuxCapabilities{
		Bounding:  []string{"CAP_CHOWN", "kill", "cap_net_bind_service", "CAP_FUTURE"},
		Effective: []string{"CAP_CHOWN"},
		Ambient:   []string{"CAP_CHECKPOINT_RESTORE"},
	})
	if want := uint64(1<<unix.CAP_CHOWN | 1<<unix.CAP_KILL | 1<<unix.CAP_NET_BIND_SERVICE); s.bounding != want {
		t.Errorf("bounding = %#x, want %#x", s.bounding, want)
	}
	if s.effective != 1<<unix.CAP_CHOWN || s.permitted != 0 || s.inheritable != 0 {
		t.Errorf("sets = %+v", s)
	}
	if s.ambient != 1<<unix.CAP_CHECKPOINT_RESTORE {
		t.Errorf("ambient = %#x", s.ambient)
	}
	if len(unknown) != 1 || unknown[0] != "CAP_FUTURE" {
		t.Errorf("unknown = %q", unknown)
	}
	if s, unknown := parseCaps(nil); s != (capSets{}) || unknown != nil {
		t.Errorf("nil = %+v %q", s, unknown)
	}
}

func TestReadProcess(t *testing.T) {
	dir := t.TempDir()
	write := func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprint(len(data)))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := []string{"a b", "", "\n", "ü", `"'$*`}
	p, err := readProcess(write(lxcconv.Process{Args: args, Cwd: "/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Args, "\x00") != strings.Join(args, "\x00") || len(p.Args) != len(args) {
		t.Errorf("args = %q", p.Args)
	}
	for name, v := range map[string]any{
		"empty args":   lxcconv.Process{Cwd: "/"},
		"relative cwd": lxcconv.Process{Args: []string{"a"}, Cwd: "x"},
		"not json":     "{",
	} {
		if _, err := readProcess(write(v)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := readProcess(filepath.Join(dir, "missing")); err == nil || exitCode(err) != exitSetupFailed {
		t.Errorf("missing file: %v", err)
	}
}

func TestCloseFDPath(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	fd := int(f.Fd())
	closeFDPath(fmt.Sprintf("/proc/self/fd/%d", fd))
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd %d still open (%v)", fd, err)
	}
	// Keep os.File from closing a number that may be reused.
	_ = os.NewFile(uintptr(fd), "")
	closeFDPath("/proc/self/fd/1x")
	closeFDPath("/proc/self/fd/2")
	closeFDPath("/etc/passwd")
	if _, err := unix.FcntlInt(2, unix.F_GETFD, 0); err != nil {
		t.Errorf("stderr closed: %v", err)
	}
}

// TestRunHooksState checks the state on a startContainer hook's stdin:
// the process file's state, with status "created" and the helper's pid.
func TestRunHooksState(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	out := filepath.Join(t.TempDir(), "state.json")
	hook := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `cat > "$OUT"`}, Env: []string{"OUT=" + out}}
	base := &specs.State{Version: "1.2.0", ID: "c1", Status: "ignored", Pid: 42, Bundle: "/b", Annotations: map[string]string{"a": "b c"}}
	if err := runHooks([]specs.Hook{hook}, base); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"ociVersion":"1.2.0","id":"c1","status":"created","pid":%d,"bundle":"/b","annotations":{"a":"b c"}}`, os.Getpid())
	if string(data) != want {
		t.Errorf("hook stdin = %s\nwant          %s", data, want)
	}
	if base.Status != "ignored" || base.Pid != 42 {
		t.Errorf("runHooks changed the process file's state: %+v", base)
	}
	// An older process file without a state still gives the hooks one.
	if err := runHooks([]specs.Hook{hook}, nil); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(out)
	if want := fmt.Sprintf(`{"ociVersion":"%s","id":"","status":"created","pid":%d,"bundle":""}`, specs.Version, os.Getpid()); string(data) != want {
		t.Errorf("hook stdin without state = %s, want %s", data, want)
	}
}

// TestSetupTerminalNeedsTTY checks that process.terminal with a stdin that
// is not a terminal is refused rather than run without one.
func TestSetupTerminalNeedsTTY(t *testing.T) {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		t.Skip("stdin is a terminal")
	}
	err := setupTerminal(&lxcconv.Process{Terminal: true}, false)
	if err == nil || !strings.Contains(err.Error(), "stdin is not a terminal") {
		t.Errorf("setupTerminal = %v", err)
	}
}

func TestPasswdHome(t *testing.T) {
	passwd := "# comment\nroot:x:0:0:root:/root:/bin/sh\nbroken\nuser:x:1000:1000::/home/user:/bin/sh\nother:x:1000:1000::/home/other:/bin/sh\n"
	for _, tc := range []struct {
		uid  uint32
		home string
		ok   bool
	}{{0, "/root", true}, {1000, "/home/user", true}, {1001, "", false}} {
		home, ok := passwdHome(strings.NewReader(passwd), tc.uid)
		if home != tc.home || ok != tc.ok {
			t.Errorf("uid %d: %q %v, want %q %v", tc.uid, home, ok, tc.home, tc.ok)
		}
	}
	// HOME given in the spec stays; without /etc/passwd entry, "/".
	if env := withHome([]string{"A=1", "HOME=/x"}, 0); len(env) != 2 || env[1] != "HOME=/x" {
		t.Errorf("withHome with HOME: %q", env)
	}
	if env := withHome([]string{"A=1"}, 4242424); len(env) != 2 || env[1] != "HOME=/" {
		t.Errorf("withHome for an unknown uid: %q", env)
	}
}

func TestSupplementaryGroups(t *testing.T) {
	for _, tc := range []struct {
		in   []uint32
		want []int
	}{
		{nil, []int{}},
		{[]uint32{2000}, []int{2000}},
		{[]uint32{1000, 2000, 2000}, []int{1000, 2000}}, // docker run -u app --group-add 2000
		{[]uint32{5, 3, 5, 3, 1}, []int{5, 3, 1}},
	} {
		if got := supplementaryGroups(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("supplementaryGroups(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
