package lxcconv

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestProcessFromImage(t *testing.T) {
	img := ocispec.ImageConfig{
		Entrypoint: []string{"/entry"},
		Cmd:        []string{"serve", "--port=80"},
		Env:        []string{"PATH=/opt/bin:/bin", "A=1", "B=2"},
		WorkingDir: "/srv",
		User:       "app",
		StopSignal: "SIGQUIT",
	}
	tests := []struct {
		name    string
		img     func(*ocispec.ImageConfig)
		ov      Overrides
		args    []string
		env     []string
		cwd     string
		uid     uint32
		gid     uint32
		groups  []uint32
		wantErr string
	}{
		{name: "image defaults", args: []string{"/entry", "serve", "--port=80"},
			env: []string{"PATH=/opt/bin:/bin", "A=1", "B=2", "HOME=/home/app"}, cwd: "/srv", uid: 1000, gid: 1000, groups: []uint32{44, 29}},
		{name: "override args keep entrypoint", ov: Overrides{Args: []string{"check"}}, args: []string{"/entry", "check"}},
		{name: "override entrypoint drops cmd", ov: Overrides{Entrypoint: []string{"/bin/sh"}}, args: []string{"/bin/sh"}},
		{name: "override entrypoint and args", ov: Overrides{Entrypoint: []string{"/bin/sh"}, Args: []string{"-c", "id"}}, args: []string{"/bin/sh", "-c", "id"}},
		{name: "clear entrypoint", ov: Overrides{Entrypoint: []string{}, Args: []string{"/bin/true"}}, args: []string{"/bin/true"}},
		{name: "env override wins in place", ov: Overrides{Env: []string{"A=9", "C=3"}},
			env: []string{"PATH=/opt/bin:/bin", "A=9", "B=2", "C=3", "HOME=/home/app"}},
		{name: "default PATH", img: func(c *ocispec.ImageConfig) { c.Env = nil; c.User = "" },
			env: []string{DefaultPathEnv, "HOME=/root"}, uid: 0, gid: 0},
		{name: "default cwd", img: func(c *ocispec.ImageConfig) { c.WorkingDir = "" }, cwd: "/"},
		{name: "uid only not in passwd", ov: Overrides{User: "4242"}, uid: 4242, gid: 0},
		{name: "uid in passwd", ov: Overrides{User: "33"}, uid: 33, gid: 33, groups: []uint32{29}},
		{name: "uid:gid", ov: Overrides{User: "4242:4343"}, uid: 4242, gid: 4343},
		{name: "name:group", ov: Overrides{User: "app:audio"}, uid: 1000, gid: 29},
		{name: "name:gid", ov: Overrides{User: "www-data:7"}, uid: 33, gid: 7},
		{name: "unknown user", ov: Overrides{User: "nobody"}, wantErr: `no user "nobody"`},
		{name: "unknown group", ov: Overrides{User: "app:wheel"}, wantErr: `no group "wheel"`},
		{name: "empty group", ov: Overrides{User: "app:"}, wantErr: "empty group"},
		{name: "no command", img: func(c *ocispec.ImageConfig) { c.Entrypoint = nil; c.Cmd = nil }, wantErr: "no command"},
		{name: "relative workdir", ov: Overrides{WorkingDir: "srv"}, wantErr: "not absolute"},
		{name: "bad stop signal", img: func(c *ocispec.ImageConfig) { c.StopSignal = "SIGFOO" }, wantErr: "StopSignal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ic := img
			ic.Entrypoint = slices.Clone(img.Entrypoint)
			if tc.img != nil {
				tc.img(&ic)
			}
			p, err := ProcessFromImage(ic, tc.ov, fakeRootfs())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.args != nil && !slices.Equal(p.Args, tc.args) {
				t.Errorf("args = %q, want %q", p.Args, tc.args)
			}
			if tc.env != nil && !slices.Equal(p.Env, tc.env) {
				t.Errorf("env = %q, want %q", p.Env, tc.env)
			}
			if tc.cwd != "" && p.Cwd != tc.cwd {
				t.Errorf("cwd = %q, want %q", p.Cwd, tc.cwd)
			}
			if tc.uid != 0 || tc.gid != 0 || tc.name == "default PATH" {
				if p.UID != tc.uid || p.GID != tc.gid {
					t.Errorf("uid:gid = %d:%d, want %d:%d", p.UID, p.GID, tc.uid, tc.gid)
				}
			}
			if tc.groups != nil && !slices.Equal(p.AdditionalGids, tc.groups) {
				t.Errorf("groups = %v, want %v", p.AdditionalGids, tc.groups)
			}
			if p.StopSignal != syscall.SIGQUIT {
				t.Errorf("stop signal = %v", p.StopSignal)
			}
		})
	}
}

func TestResolveUserWithoutPasswd(t *testing.T) {
	if _, err := ResolveUser(nil, "app"); err == nil || !strings.Contains(err.Error(), `"app"`) {
		t.Errorf("named user without /etc/passwd: %v", err)
	}
	u, err := ResolveUser(nil, "")
	if err != nil || u.UID != 0 || u.GID != 0 {
		t.Errorf("empty user = %+v, %v", u, err)
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want syscall.Signal
	}{
		{"SIGTERM", syscall.SIGTERM}, {"term", syscall.SIGTERM}, {"9", syscall.SIGKILL},
		{"SIGRTMIN", 34}, {"SIGRTMIN+3", 37}, {"RTMAX-1", 63}, {"SIGWINCH", syscall.SIGWINCH},
	}
	for _, tc := range tests {
		got, err := ParseSignal(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "65", "SIGFOO", "SIGRTMIN-1", "SIGRTMIN+40", "RTMAX+1"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) succeeded", bad)
		}
	}
}
