package lxcrun

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in      string
		want    Status
		code    int
		bad     bool
		wantErr error
	}{
		{in: "exited 0\n", want: Status{}, code: 0},
		{in: "exited 42\n", want: Status{Code: 42}, code: 42},
		{in: "exited 255", want: Status{Code: 255}, code: 255},
		{in: "signaled 9\n", want: Status{Signal: syscall.SIGKILL}, code: 137},
		{in: "signaled 15", want: Status{Signal: syscall.SIGTERM}, code: 143},
		{in: "error cannot load LXC config /x\n", bad: true, wantErr: ErrStartFailed},
		{in: "exited 256", bad: true},
		{in: "exited -1", bad: true},
		{in: "signaled 0", bad: true},
		{in: "stopped 1", bad: true},
		{in: "", bad: true},
		{in: "exited", bad: true},
	}
	for _, tc := range tests {
		st, err := ParseStatus(tc.in)
		if tc.bad {
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("ParseStatus(%q) = %v, %v; want an error (%v)", tc.in, st, err, tc.wantErr)
			}
			continue
		}
		if err != nil || st != tc.want || st.ExitCode() != tc.code {
			t.Errorf("ParseStatus(%q) = %v (code %d), %v; want %v (code %d)", tc.in, st, st.ExitCode(), err, tc.want, tc.code)
		}
		if got, want := st.String(), strings.TrimSuffix(tc.in, "\n"); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestInitMode(t *testing.T) {
	for _, tc := range []struct {
		ann     string
		opt     bool
		want    bool
		wantErr bool
	}{
		{ann: "", want: false}, {ann: "", opt: true, want: true},
		{ann: InitExec, want: false}, {ann: InitExec, opt: true, want: true},
		{ann: InitReaper, want: true}, {ann: "tini", wantErr: true},
	} {
		spec := &specs.Spec{Annotations: map[string]string{}}
		if tc.ann != "" {
			spec.Annotations[AnnotationInit] = tc.ann
		}
		got, err := initMode(spec, tc.opt)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("initMode(%q, %v) = %v, %v", tc.ann, tc.opt, got, err)
		}
		if err != nil && !errdefs.IsInvalidArgument(err) {
			t.Errorf("initMode error class: %v", err)
		}
	}
}

// fakeBinDir holds stand-ins for the helpers; Prepare only checks them.
func fakeBinDir(t *testing.T) string {
	dir := t.TempDir()
	for _, n := range []string{InitBinary, StarterBinary} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindBinary(t *testing.T) {
	dir := fakeBinDir(t)
	if p, err := FindBinary(dir, InitBinary); err != nil || p != filepath.Join(dir, InitBinary) {
		t.Errorf("explicit dir: %q, %v", p, err)
	}
	t.Setenv(EnvBinDir, dir)
	if p, err := FindBinary("", StarterBinary); err != nil || p != filepath.Join(dir, StarterBinary) {
		t.Errorf("env dir: %q, %v", p, err)
	}
	if _, err := FindBinary("", "zfslxc-nope"); !errdefs.IsNotFound(err) {
		t.Errorf("missing from the env dir: %v, want NotFound (no fallback)", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FindBinary(dir, "plain"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("not executable: %v", err)
	}
	t.Setenv(EnvBinDir, "")
	t.Setenv("PATH", dir)
	if p, err := FindBinary("", InitBinary); err != nil || p != filepath.Join(dir, InitBinary) {
		t.Errorf("PATH: %q, %v", p, err)
	}
}

func testSpec(rootfs string) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs},
		Process: &specs.Process{Args: []string{"sh", "-c", "echo 'a b'"}, Cwd: "/"},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.MountNamespace}, {Type: specs.PIDNamespace},
		}},
	}
}

func TestPrepare(t *testing.T) {
	ctx := context.Background()
	bin := fakeBinDir(t)
	rootfs := t.TempDir()
	opts := Options{Name: "c1", BinDir: bin, Convert: lxcconv.Options{CgroupVersion: 2}}

	dir := filepath.Join(t.TempDir(), "state")
	c, err := Prepare(ctx, dir, testSpec(rootfs), opts)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v %v", fi.Mode(), err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "lxc/c1/config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"lxc.init.cmd = /proc/self/fd/3 --fifo=/proc/self/fd/5 --sync-fd=6 --stdio-from-sync /proc/self/fd/4\n",
		"lxc.log.file = " + filepath.Join(dir, "lxc.log") + "\n",
		"lxc.log.level = 5\n",
		"lxc.rootfs.path = dir:" + rootfs + "\n",
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	var p lxcconv.Process
	data, err := os.ReadFile(filepath.Join(dir, processFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &p); err != nil || len(p.Args) != 3 || p.Args[2] != "echo 'a b'" {
		t.Errorf("process file: %s (%v)", data, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, fifoFile)); err != nil || fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o622 {
		t.Errorf("fifo: %v %v", fi.Mode(), err)
	}
	if c.Name() != "c1" || c.LXCPath() != filepath.Join(dir, "lxc") || c.Pid() != 0 {
		t.Errorf("accessors: %q %q %d", c.Name(), c.LXCPath(), c.Pid())
	}
	if err := c.Release(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Release before Start: %v", err)
	}
	if err := c.Kill(ctx, syscall.SIGKILL); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Kill before Start: %v", err)
	}
	if _, err := c.Wait(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("Wait before Start: %v", err)
	}
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Delete left %s: %v", dir, err)
	}
	if err := c.Delete(ctx); err != nil {
		t.Errorf("second Delete: %v", err)
	}

	t.Run("reaper annotation", func(t *testing.T) {
		spec := testSpec(rootfs)
		spec.Annotations = map[string]string{AnnotationInit: InitReaper}
		dir := filepath.Join(t.TempDir(), "state")
		if _, err := Prepare(ctx, dir, spec, opts); err != nil {
			t.Fatal(err)
		}
		cfg, _ := os.ReadFile(filepath.Join(dir, "lxc/c1/config"))
		if !strings.Contains(string(cfg), "--sync-fd=6 --stdio-from-sync --reaper /proc/self/fd/4\n") {
			t.Errorf("config:\n%s", cfg)
		}
	})
}

func TestPrepareErrors(t *testing.T) {
	ctx := context.Background()
	bin := fakeBinDir(t)
	rootfs := t.TempDir()
	base := Options{Name: "c1", BinDir: bin, Convert: lxcconv.Options{CgroupVersion: 1}}
	nonEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dir   string
		spec  func(*specs.Spec)
		opts  func(*Options)
		class func(error) bool
	}{
		{name: "bad name", opts: func(o *Options) { o.Name = "a/b" }, class: errdefs.IsInvalidArgument},
		{name: "name with blank", opts: func(o *Options) { o.Name = "a b" }, class: errdefs.IsInvalidArgument},
		{name: "relative dir", dir: "state", class: errdefs.IsInvalidArgument},
		{name: "no proc mount", spec: func(s *specs.Spec) { s.Mounts = nil }, class: errdefs.IsInvalidArgument},
		{name: "bad annotation", spec: func(s *specs.Spec) { s.Annotations = map[string]string{AnnotationInit: "x"} }, class: errdefs.IsInvalidArgument},
		{name: "spec refused", spec: func(s *specs.Spec) { s.Process.Args = nil }, class: errdefs.IsInvalidArgument},
		{name: "missing binaries", opts: func(o *Options) { o.BinDir = t.TempDir() }, class: errdefs.IsNotFound},
		{name: "non-empty dir", dir: nonEmpty, class: errdefs.IsAlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec(rootfs)
			if tc.spec != nil {
				tc.spec(spec)
			}
			opts := base
			if tc.opts != nil {
				tc.opts(&opts)
			}
			dir := tc.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "state")
			}
			_, err := Prepare(ctx, dir, spec, opts)
			if err == nil || !tc.class(err) {
				t.Fatalf("Prepare = %v, want a classified error", err)
			}
			if tc.dir == "" {
				if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
					t.Errorf("failed Prepare left %s", dir)
				}
			}
		})
	}
}
