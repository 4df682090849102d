package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/snapshotter/config"
)

func TestFlagsOverrideConfig(t *testing.T) {
	o, err := parseFlags([]string{"--dataset", "tank/flag", "--log-level", "debug"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{Dataset: "tank/file", Root: "/from/file", LogLevel: "warn"}
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
