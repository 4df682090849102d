package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
)

func TestConfigContainerdCRIRuntime(t *testing.T) {
	cases := []struct {
		version, section string
	}{
		{"1", `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.lxc]`},
		{"2", `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.lxc]`},
	}
	for _, tc := range cases {
		t.Run("version-"+tc.version, func(t *testing.T) {
			out := mustRun(t, "config", "containerd", "--version", tc.version)
			_, entry, ok := strings.Cut(out, tc.section+"\n")
			if !ok || !strings.HasPrefix(entry, "  runtime_type = \"io.containerd.lxc.v1\"\n  snapshotter = \"zfslxc\"\n") {
				t.Errorf("no CRI runtime entry %s with runtime_type io.containerd.lxc.v1:\n%s", tc.section, out)
			}
			out = mustRun(t, "config", "containerd", "--version", tc.version, "--handler", "zfs-lxc", "--name", "zl")
			if !strings.Contains(out, ".runtimes.zfs-lxc]\n") || !strings.Contains(out, `snapshotter = "zl"`) {
				t.Errorf("--handler/--name not used:\n%s", out)
			}
			if out := mustRun(t, "config", "containerd", "--version", tc.version, "--no-cri"); strings.Contains(out, "runtime_type") {
				t.Errorf("--no-cri:\n%s", out)
			}
		})
	}
}

// TestConfigContainerdLoadsInContainerd feeds what `zfslxc config
// containerd` prints to the real daemons' `config dump`: the CRI plugin
// must decode the runtime entry and its inline options (1.6 drops the
// per-runtime snapshotter, so zfslxc is the CRI-wide one there; 2.4 keeps
// it, and its image service unpacks the handler's pulls into zfslxc).
func TestConfigContainerdLoadsInContainerd(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			containerdtest.RequireHost(t, f)
			dir := t.TempDir()
			major := fmt.Sprint(f.ConfigVersion - 1)
			cfg := fmt.Sprintf("version = %d\nroot = %q\nstate = %q\n", f.ConfigVersion, filepath.Join(dir, "root"), filepath.Join(dir, "state")) +
				mustRun(t, "config", "containerd", "--version", major, "--shim-option", "init=reaper", "--sandbox-image", "example.org/pause:1")
			path := filepath.Join(dir, "config.toml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(f.Daemon, "--config", path, "config", "dump").Output()
			if err != nil {
				t.Fatalf("%s config dump: %v", f.Name, err)
			}
			dump := strings.ReplaceAll(string(out), "'", `"`) // 2.x writes single quotes
			_, entry, ok := strings.Cut(dump, ".containerd.runtimes.lxc]\n")
			if !ok {
				t.Fatalf("no runtimes.lxc in the dump:\n%s", dump)
			}
			entry, _, _ = strings.Cut(entry, "\n\n")
			entry, _, _ = strings.Cut(entry, "[plugins")
			if !strings.Contains(entry, `runtime_type = "io.containerd.lxc.v1"`) {
				t.Errorf("runtime_type not decoded:\n%s", entry)
			}
			if keeps := strings.Contains(entry, `snapshotter = "zfslxc"`); keeps != (f.ConfigVersion >= 3) {
				t.Errorf("per-runtime snapshotter kept = %v on %s:\n%s", keeps, f.Name, entry)
			}
			if _, opts, _ := strings.Cut(dump, ".containerd.runtimes.lxc.options]\n"); !strings.HasPrefix(strings.TrimSpace(opts), `init = "reaper"`) {
				t.Errorf("inline shim option not decoded:\n%s", dump)
			}
			for _, want := range map[bool][]string{
				false: {`snapshotter = "zfslxc"`, `sandbox_image = "example.org/pause:1"`},
				true:  {".runtime_platforms.lxc]", `sandbox = "example.org/pause:1"`},
			}[f.ConfigVersion >= 3] {
				if !strings.Contains(dump, want) {
					t.Errorf("dump lacks %s", want)
				}
			}
			if !strings.Contains(dump, `[proxy_plugins.zfslxc]`) {
				t.Errorf("no proxy plugin in the dump")
			}
		})
	}
}

// TestConfigDocker checks that `zfslxc config docker` prints JSON that
// dockerconfig.Check (what doctor runs) accepts, with the flags' names.
func TestConfigDocker(t *testing.T) {
	out := mustRun(t, "config", "docker", "--runtime", "zl", "--default-runtime")
	var cfg map[string]any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if cfg["default-runtime"] != "zl" || cfg["storage-driver"] != "zfslxc" {
		t.Errorf("settings: %v", cfg)
	}
	problems, err := dockerconfig.Check([]byte(out), dockerconfig.Options{RuntimeName: "zl"})
	if err != nil || len(problems) != 0 {
		t.Errorf("doctor's check of the printed config: %v %v", problems, err)
	}
}
