package task

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/zfslxc/zfslxc/shim/config"
)

// TestLoadConfigOptions covers the three ways CRI hands the shim its
// config: nothing, a ConfigPath, and an inline table (ConfigBody, what
// containerd sends when the runtime's options table has no ConfigPath).
func TestLoadConfigOptions(t *testing.T) {
	t.Setenv(config.EnvPath, "")
	file := filepath.Join(t.TempDir(), "shim.toml")
	if err := os.WriteFile(file, []byte("init = \"reaper\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts *runtimeoptions.Options
		want string // Init
		err  string
	}{
		{name: "path", opts: &runtimeoptions.Options{ConfigPath: file}, want: config.InitReaper},
		{name: "inline body", opts: &runtimeoptions.Options{ConfigBody: []byte("init = 'reaper'\n")}, want: config.InitReaper},
		{name: "path wins over body", opts: &runtimeoptions.Options{ConfigPath: file, ConfigBody: []byte("init = 'bogus'\n")}, want: config.InitReaper},
		{name: "bad inline key", opts: &runtimeoptions.Options{ConfigBody: []byte("BinaryName = 'runc'\n")}, err: "runtime options:1:1: unknown key BinaryName"},
		{name: "missing named file", opts: &runtimeoptions.Options{ConfigPath: file + ".none"}, err: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			anyOpts, err := typeurl.MarshalAnyToProto(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(context.Background(), anyOpts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("loadConfig = %v, want InvalidArgument containing %q", err, tc.err)
				}
				return
			}
			if err != nil || cfg.Init != tc.want {
				t.Fatalf("loadConfig = %+v, %v; want init %q", cfg, err, tc.want)
			}
		})
	}
}

// TestDefaultAppArmor: a spec without a profile runs unconfined (as under
// runc, and as CRI means it) unless shim.toml names a profile, whatever
// the host's AppArmor state.
func TestDefaultAppArmor(t *testing.T) {
	if got := defaultAppArmor(config.Default()); got != "unconfined" {
		t.Errorf("default = %q, want unconfined", got)
	}
	if got := defaultAppArmor(config.Config{AppArmorProfile: "lxc-container-default"}); got != "lxc-container-default" {
		t.Errorf("configured = %q, want lxc-container-default", got)
	}
}

// TestStatHostDir: bind sources are told apart by what they are on the
// host, not by their names (the kubelet's termination-log file has a
// random name); a missing source is an error, as under runc.
func TestStatHostDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "b510e1d3")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if isDir, err := statHostDir(dir); err != nil || !isDir {
		t.Errorf("dir: %v, %v", isDir, err)
	}
	if isDir, err := statHostDir(file); err != nil || isDir {
		t.Errorf("file: %v, %v", isDir, err)
	}
	if _, err := statHostDir(filepath.Join(dir, "none")); err == nil {
		t.Error("missing source: no error")
	}
}
