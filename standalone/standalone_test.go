package standalone

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/template"
)

func newTestManager(t *testing.T, lxcpath string) *Manager {
	t.Helper()
	s, err := template.NewStore(nil, "tank/zfslxc-templates")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(s, lxcpath, "/usr/local/bin/zfslxc-init")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConvert: the configuration comes from lxcconv like the shim's:
// containerd's confinement (masked and read-only paths, seccomp, the
// capability bounding set), the init directory bound read-only, and LXC
// keys for what a runtime would do after setup.
func TestConvert(t *testing.T) {
	m := newTestManager(t, t.TempDir())
	if got := m.Dataset("web"); got != "tank/zfslxc-templates/ct-web" {
		t.Errorf("Dataset = %s", got)
	}
	rootfs := t.TempDir()
	for _, d := range []string{"proc", "sys", "dev", "bin", ".zfslxc"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(m.Dir("web"), hostInitDir), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &lxcconv.Process{Args: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}, Cwd: "/", UID: 1000, GID: 1000}
	res, err := m.convert("web", rootfs, p, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := res.Config
	want := map[string]string{
		"lxc.rootfs.path":      "dir:" + rootfs,
		"lxc.rootfs.managed":   "0",
		"lxc.uts.name":         "web",
		"lxc.init.cmd":         "/.zfslxc/zfslxc-init /.zfslxc/process.json",
		"lxc.console.path":     "none",
		"lxc.apparmor.profile": "unconfined",
		"lxc.seccomp.profile":  filepath.Join(m.Dir("web"), seccompFile),
	}
	for k, v := range want {
		if got := cfg.Get(k); !slices.Equal(got, []string{v}) {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	text := cfg.String()
	for _, w := range []string{
		filepath.Join(m.Dir("web"), hostInitDir) + " .zfslxc none rbind,ro,nosuid,nodev",
		"proc/sys proc/sys none rbind,ro,relative,optional 0 0", // read-only path, folded
		"lxc.cap.keep = ",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("config lacks %q:\n%s", w, text)
		}
	}
	if !strings.Contains(res.SeccompProfile, "2\n") || res.ReadonlyPaths != nil || res.LateCgroup != nil {
		t.Errorf("seccomp %d bytes, runtime steps left: %v %v", len(res.SeccompProfile), res.ReadonlyPaths, res.LateCgroup)
	}
	// A non-root process keeps only the bounding set.
	if c := res.Process.Capabilities; len(c.Bounding) == 0 || len(c.Effective) != 0 {
		t.Errorf("capabilities %+v", c)
	}
	res, err = m.convert("web", rootfs, p, true, 1)
	if err != nil || !strings.Contains(res.Config.String(), "lxc.init.cmd = /.zfslxc/zfslxc-init --reaper /.zfslxc/process.json") {
		t.Errorf("reaper: %v", err)
	}
	if _, err := m.convert("web", "/with blank", p, false, 1); err == nil {
		t.Error("rootfs with a blank accepted")
	}
}

func TestNewManagerRefusesBlankLXCPath(t *testing.T) {
	s, _ := template.NewStore(nil, "tank/t")
	if _, err := NewManager(s, "/var/lib/my lxc", "/x"); err == nil {
		t.Error("lxcpath with a blank accepted")
	}
}
