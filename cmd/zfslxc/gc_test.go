package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

func TestGCHelp(t *testing.T) {
	out, err := runApp(t, "gc", "--help")
	if err != nil || !strings.Contains(out, "zfslxc gc --dry-run") {
		t.Errorf("gc --help: %v\n%s", err, out)
	}
}

// TestGCRefusesWithoutMetadata: a root without metadata.db would make
// every dataset an orphan; gc refuses before touching zfs.
func TestGCRefusesWithoutMetadata(t *testing.T) {
	dir := t.TempDir()
	if _, err := runApp(t, "gc", "--snapshotter-config", filepath.Join(dir, "none.toml")); err == nil {
		t.Error("a named, missing --snapshotter-config: no error")
	}
	cfg := filepath.Join(dir, "s.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runApp(t, "gc", "--root", dir, "--dataset", "tank/zfslxc", "--address", filepath.Join(dir, "none.sock"), "--snapshotter-config", cfg)
	if err == nil || !strings.Contains(err.Error(), "metadata.db does not exist") {
		t.Errorf("gc without metadata: %v", err)
	}
}

// TestSnapshotterConfigIsStrict: doctor and gc read the snapshotter's
// config with the daemon's own loader, so a file the daemon would refuse
// (an unknown key, a bad value) is refused here too, naming the key,
// instead of being read half.
func TestSnapshotterConfigIsStrict(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ file, want string }{
		{"datset = \"tank/x\"\n", "s.toml:1:1: unknown key datset"},
		{"root = \"relative\"\n", `root = "relative": want an absolute path`},
	} {
		cfg := filepath.Join(dir, "s.toml")
		if err := os.WriteFile(cfg, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"gc", "doctor"} {
			_, err := runApp(t, cmd, "--snapshotter-config", cfg, "--dataset", "tank/zfslxc")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s with %q: %v, want an error containing %q", cmd, tc.file, err, tc.want)
			}
		}
	}
}

// TestGCRealSnapshotter plants orphan datasets under a real snapshotter's
// parent: offline (daemon stopped) gc --dry-run reports and keeps one, gc
// destroys it; with the daemon running gc goes through it and --dry-run is
// refused.
func TestGCRealSnapshotter(t *testing.T) {
	pool := testpool.New(t)
	ds := pool.Name + "/zfslxc"
	sn := containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: ds, Driver: pool.Driver, LogLevel: "info"})
	cfg := filepath.Join(t.TempDir(), "snapshotter.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", sn.Root, "--dataset", ds, "--address", sn.Address, "--snapshotter-config", cfg}
	exists := func(name string) bool {
		ok, err := pool.Driver.Exists(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	sn.Stop(t)
	orphan, notOurs := ds+"/999999", ds+"/keepme"
	testpool.ZFS(t, "create", orphan)
	testpool.ZFS(t, "create", notOurs)

	out, err := runApp(t, append([]string{"gc", "--dry-run"}, args...)...)
	if err != nil || !strings.Contains(out, "dry run") || !strings.Contains(out, "would destroy  "+orphan) || strings.Contains(out, notOurs) {
		t.Fatalf("gc --dry-run: %v\n%s", err, out)
	}
	if !exists(orphan) {
		t.Fatal("gc --dry-run destroyed the orphan")
	}
	out, err = runApp(t, append([]string{"gc", "--dry-run", "--json"}, args...)...)
	var rep gcReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Mode != "offline" || !rep.DryRun || !slices.Equal(rep.Orphans, []string{orphan}) {
		t.Fatalf("gc --dry-run --json: %v\n%s", err, out)
	}
	out, err = runApp(t, append([]string{"gc"}, args...)...)
	if err != nil || !strings.Contains(out, "destroyed      "+orphan) {
		t.Fatalf("gc: %v\n%s", err, out)
	}
	if exists(orphan) || !exists(notOurs) {
		t.Fatalf("after gc: orphan exists=%v, %s exists=%v", exists(orphan), notOurs, exists(notOurs))
	}
	t.Logf("offline gc:\n%s", out)

	sn.Start(t)
	orphan2 := ds + "/888888"
	testpool.ZFS(t, "create", orphan2)
	if _, err := runApp(t, append([]string{"gc", "--dry-run"}, args...)...); err == nil ||
		!strings.Contains(err.Error(), "dry run is impossible") || !strings.Contains(err.Error(), "systemctl stop zfslxc-snapshotter") {
		t.Fatalf("gc --dry-run with the daemon running: %v", err)
	}
	if !exists(orphan2) {
		t.Fatal("refused dry run destroyed something")
	}
	out, err = runApp(t, append([]string{"gc", "--json"}, args...)...)
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Mode != "daemon" {
		t.Fatalf("gc through the daemon: %v\n%s", err, out)
	}
	if exists(orphan2) {
		t.Fatalf("gc through the daemon left %s\n%s", orphan2, sn.LogTail(20))
	}
}
