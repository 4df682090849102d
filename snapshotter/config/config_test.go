package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestSampleIsShippedAndParses(t *testing.T) {
	shipped, err := os.ReadFile("../../docs/snapshotter.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(shipped) != Sample {
		t.Fatal("docs/snapshotter.toml differs from --print-config: run go run ./cmd/zfslxc-snapshotter --print-config > docs/snapshotter.toml")
	}
	path := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(path, shipped, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, true)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Dataset = "tank/zfslxc"
	if cfg != want {
		t.Errorf("sample parsed as %+v, want the defaults with dataset tank/zfslxc", cfg)
	}
}

func TestLoad(t *testing.T) {
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
		wantErr string // substring; "" = success
		check   func(Config) bool
	}{
		{"missing default file", filepath.Join(dir, "none.toml"), false, "", func(c Config) bool { return c == Default() }},
		{"missing named file", filepath.Join(dir, "none.toml"), true, "no such file", nil},
		{"unknown key", write("u.toml", "datset = \"tank/x\"\n"), true, "u.toml:1:1: unknown key datset", nil},
		{"unknown nested key", write("n.toml", "[zfs]\nzfs = \"/sbin/zfs\"\n"), true, "n.toml:2:1: unknown key zfs.zfs", nil},
		{"bad syntax", write("s.toml", "dataset = \n"), true, "s.toml:1", nil},
		{"wrong type", write("w.toml", "dataset = 3\n"), true, "key dataset", nil},
		{"bad dataset", write("d.toml", "dataset = \"tank//x\"\n"), true, `dataset = "tank//x"`, nil},
		{"relative root", write("r.toml", "root = \"var/lib\"\n"), true, `root = "var/lib": want an absolute path`, nil},
		{"relative address", write("a.toml", "address = \"s.sock\"\n"), true, `address = "s.sock"`, nil},
		{"empty address", write("ea.toml", "address = \"\"\n"), true, `address = ""`, nil},
		{"relative mountpoint", write("m.toml", "mountpoint = \"m\"\n"), true, `mountpoint = "m"`, nil},
		{"bad quota", write("q.toml", "default_quota = \"lots\"\n"), true, `default_quota = "lots": want a size like 10G`, nil},
		{"bad log level", write("l.toml", "log_level = \"loud\"\n"), true, `log_level = "loud"`, nil},
		{"bad log format", write("f.toml", "log_format = \"xml\"\n"), true, `log_format = "xml": want text or json`, nil},
		{"bad metrics address", write("x.toml", "metrics_address = \"9100\"\n"), true, `metrics_address = "9100": want host:port`, nil},
		{"empty log settings mean the defaults", write("e.toml", "log_level = \"\"\nlog_format = \"\"\n"), true, "",
			func(c Config) bool { return c.LogLevel == DefaultLogLevel && c.LogFormat == DefaultLogFormat }},
		{"values", write("v.toml", "dataset = \"tank/x\"\ndefault_quota = \"10G\"\nmetrics_address = \"127.0.0.1:9100\"\n[zfs]\nzfs_path = \"/sbin/zfs\"\n"), true, "",
			func(c Config) bool {
				q, err := c.QuotaBytes()
				return c.Dataset == "tank/x" && c.ZFS.ZFSPath == "/sbin/zfs" && err == nil && q == 10<<30 && c.Root == DefaultRoot
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.path, tc.named)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want an InvalidArgument error mentioning %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.path) {
					t.Errorf("error %q does not name the file", err)
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
}
