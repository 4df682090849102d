package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/snapshotter"
)

func TestSampleConfigIsShippedAndParses(t *testing.T) {
	shipped, err := os.ReadFile("../../docs/snapshotter.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(shipped) != snapshotter.SampleConfig {
		t.Fatal("docs/snapshotter.toml differs from --print-config: run go run ./cmd/zfslxc-snapshotter --print-config > docs/snapshotter.toml")
	}
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, shipped, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dataset != "tank/zfslxc" || cfg.Address != defaultAddress || cfg.Root != defaultRoot {
		t.Errorf("sample parsed as %+v", cfg)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		path    string
		named   bool
		wantErr string
		check   func(Config) bool
	}{
		{"missing default file", filepath.Join(dir, "none.toml"), false, "", func(c Config) bool { return c.Root == defaultRoot }},
		{"missing named file", filepath.Join(dir, "none.toml"), true, "no such file", nil},
		{"unknown key", write("u.toml", "datset = \"tank/x\"\n"), true, "datset", nil},
		{"bad syntax", write("s.toml", "dataset = \n"), true, "s.toml:1", nil},
		{"wrong type", write("w.toml", "dataset = 3\n"), true, "dataset", nil},
		{"values", write("v.toml", "dataset = \"tank/x\"\ndefault_quota = \"10G\"\n[zfs]\nzfs_path = \"/sbin/zfs\"\n"), true, "",
			func(c Config) bool {
				q, err := c.quotaBytes()
				return c.Dataset == "tank/x" && c.ZFS.ZFSPath == "/sbin/zfs" && err == nil && q == 10<<30
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.path, tc.named)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("config = %+v", cfg)
			}
		})
	}
	if _, err := (Config{DefaultQuota: "lots"}).quotaBytes(); err == nil || !strings.Contains(err.Error(), "default_quota") {
		t.Errorf("bad default_quota: %v", err)
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	o, err := parseFlags([]string{"--dataset", "tank/flag", "--log-level", "debug"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dataset: "tank/file", Root: "/from/file", LogLevel: "warn"}
	o.override(&cfg)
	if cfg.Dataset != "tank/flag" || cfg.LogLevel != "debug" || cfg.Root != "/from/file" {
		t.Errorf("after override: %+v", cfg)
	}
	if _, err := parseFlags([]string{"extra"}); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestListenRefusesLiveSocketAndReplacesStale(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sock")
	addr := filepath.Join(dir, "s.sock")
	l, err := listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode: %v %v", fi.Mode(), err)
	}
	if _, err := listen(addr); err == nil || !strings.Contains(err.Error(), "another snapshotter") {
		t.Errorf("second listen on a live socket: %v", err)
	}
	// A socket file left by a daemon that died (no one listening).
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l2, err := listen(addr)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l2.Close()
	if err := os.WriteFile(addr, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listen(addr); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file at address: %v", err)
	}
	if _, err := listen("relative.sock"); err == nil {
		t.Error("relative address accepted")
	}
}
