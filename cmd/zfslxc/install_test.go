package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/lxcrun"
	shimconfig "github.com/zfslxc/zfslxc/shim/config"
	snapconfig "github.com/zfslxc/zfslxc/snapshotter/config"
)

// TestMakeInstall runs `make install` into a DESTDIR and checks the tree:
// every binary, the systemd unit ordered before containerd and pointing at
// the installed binary and config, the default config; a second install
// keeps an edited config; uninstall removes what install put. With
// ZFSLXC_BIN_DIR (make test) the built binaries are installed as they are;
// without it they are built into a temporary directory.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("needs make")
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	dest := t.TempDir()
	args := []string{"-C", repo, "--no-print-directory", "DESTDIR=" + dest, "PREFIX=/opt/zfslxc"}
	if dir := os.Getenv(lxcrun.EnvBinDir); dir != "" {
		args = append(args, "-o", "build", "BIN="+dir) // installed as built
	} else {
		args = append(args, "BIN="+t.TempDir())
	}
	run := func(target string) string {
		t.Helper()
		out, err := exec.Command("make", append(args, target)...).CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
	t.Log(run("install"))

	for _, b := range []string{"zfslxc-snapshotter", "containerd-shim-lxc-v1", "zfslxc", "zfslxc-init", "zfslxc-start"} {
		fi, err := os.Stat(filepath.Join(dest, "opt/zfslxc/bin", b))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("binary %s: %v, %v", b, fi, err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(dest, "etc/systemd/system/zfslxc-snapshotter.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nBefore=containerd.service\n",
		"\nType=notify\n",
		"\nExecStart=/opt/zfslxc/bin/zfslxc-snapshotter --config /etc/zfslxc/snapshotter.toml\n",
		"\nWantedBy=multi-user.target containerd.service\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", strings.TrimSpace(want), unit)
		}
	}
	if strings.Contains(string(unit), "/usr/local/bin") {
		t.Errorf("unit still names /usr/local/bin with PREFIX=/opt/zfslxc:\n%s", unit)
	}
	if shim, err := os.ReadFile(filepath.Join(dest, "etc/zfslxc/shim.toml")); err != nil || string(shim) != shimconfig.Sample {
		t.Errorf("default shim config is not the shim's sample: %v\n%s", err, shim)
	}
	cfgPath := filepath.Join(dest, "etc/zfslxc/snapshotter.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil || string(cfg) != snapconfig.Sample {
		t.Errorf("default config is not the sample config: %v", err)
	}

	// An edited config survives a second install.
	if err := os.WriteFile(cfgPath, []byte("dataset = \"tank/mine\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("install")
	if cfg, _ := os.ReadFile(cfgPath); string(cfg) != "dataset = \"tank/mine\"\n" {
		t.Errorf("second install replaced the edited config: %q", cfg)
	}

	run("uninstall")
	var left []string
	filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			left = append(left, strings.TrimPrefix(p, dest))
		}
		return nil
	})
	if len(left) != 2 || left[0] != "/etc/zfslxc/shim.toml" || left[1] != "/etc/zfslxc/snapshotter.toml" {
		t.Errorf("after uninstall: %v, want only the configs", left)
	}
}
