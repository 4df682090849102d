package lxcct

import (
	"slices"
	"strings"
	"testing"

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

func TestConfig(t *testing.T) {
	m := newTestManager(t, "/var/lib/lxc")
	if got := m.Dataset("web"); got != "tank/zfslxc-templates/ct-web" {
		t.Errorf("Dataset = %s", got)
	}
	cfg, err := m.config("web", "/tank/zfslxc-templates/ct-web", false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"lxc.rootfs.path":      "dir:/tank/zfslxc-templates/ct-web",
		"lxc.rootfs.managed":   "0",
		"lxc.net.0.type":       "empty",
		"lxc.init.cmd":         "/.zfslxc/zfslxc-init /.zfslxc/process.json",
		"lxc.console.path":     "none",
		"lxc.mount.entry":      "/var/lib/lxc/web/init .zfslxc none bind,ro 0 0",
		"lxc.apparmor.profile": "unconfined",
	}
	for k, v := range want {
		if got := cfg.Get(k); !slices.Equal(got, []string{v}) {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	cfg, err = m.config("web", "/r", true)
	if err != nil || !strings.Contains(cfg.String(), "lxc.init.cmd = /.zfslxc/zfslxc-init --reaper /.zfslxc/process.json") {
		t.Errorf("reaper: %v\n%s", err, cfg)
	}
	if _, err := m.config("web", "/with blank", false); err == nil {
		t.Error("rootfs with a blank accepted")
	}
}

func TestNewManagerRefusesBlankLXCPath(t *testing.T) {
	s, _ := template.NewStore(nil, "tank/t")
	if _, err := NewManager(s, "/var/lib/my lxc", "/x"); err == nil {
		t.Error("lxcpath with a blank accepted")
	}
}

func TestCapabilities(t *testing.T) {
	if c := capabilities(0); len(c.Effective) == 0 || len(c.Bounding) == 0 {
		t.Errorf("root: %+v", c)
	}
	if c := capabilities(1000); len(c.Effective) != 0 || len(c.Permitted) != 0 || len(c.Bounding) == 0 {
		t.Errorf("non-root: %+v", c)
	}
}
