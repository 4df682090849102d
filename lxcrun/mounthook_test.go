package lxcrun

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
)

func TestMountHookDir(t *testing.T) {
	for _, tc := range []struct {
		typ, cfg, dir, err string
	}{
		{"mount", "/run/s/ct/lxc/ct/config", "/run/s/ct", ""},
		{"pre-mount", "/run/s/ct/lxc/ct/config", "/run/s/ct", ""},
		{"start", "/run/s/ct/lxc/ct/config", "", `LXC_HOOK_TYPE="start"`},
		{"", "/run/s/ct/lxc/ct/config", "", `LXC_HOOK_TYPE=""`},
		{"mount", "/etc/ct/config", "", "LXC_CONFIG_FILE"},
		{"mount", "lxc/ct/config", "", "LXC_CONFIG_FILE"},
		{"mount", "", "", "LXC_CONFIG_FILE"},
	} {
		t.Setenv("LXC_HOOK_TYPE", tc.typ)
		t.Setenv("LXC_CONFIG_FILE", tc.cfg)
		dir, typ, err := mountHookDir()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: %q, %v; want an error naming %s", tc.typ, tc.cfg, dir, err, tc.err)
			}
			continue
		}
		if err != nil || dir != tc.dir || typ != tc.typ {
			t.Errorf("%s %s: %q %q, %v; want %s", tc.typ, tc.cfg, dir, typ, err, tc.dir)
		}
	}
}

// TestRunMountHook: the createContainer hooks get the state with status
// creating and init's pid, in order; a failure stops them and is appended
// to LXC's log as an ERROR line that logTail quotes first.
func TestRunMountHook(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "state.json")
	mh := lxcconv.MountHook{
		State: specs.State{Version: "1.2.0", ID: "ct", Bundle: "/b/ct", Annotations: map[string]string{"a": "b"}},
		CreateContainer: []specs.Hook{
			{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + rec}},
			{Path: "/bin/sh", Args: []string{"sh", "-c", "echo second >> " + rec + ".2"}},
		},
	}
	if err := writeJSON(filepath.Join(dir, mountHookFile), mh); err != nil {
		t.Fatal(err)
	}
	if err := runMountHook(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	var got specs.State
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	// Here the hook's "init" is this test's parent (no shell between).
	if got.ID != "ct" || got.Status != specs.StateCreating || got.Bundle != "/b/ct" || got.Annotations["a"] != "b" || got.Version != "1.2.0" || got.Pid != os.Getppid() {
		t.Errorf("state %+v, want status creating and pid %d", got, os.Getppid())
	}
	if _, err := os.Stat(rec + ".2"); err != nil {
		t.Errorf("second hook: %v", err)
	}

	// A failing hook: its error, in LXC's log too, ahead of LXC's lines.
	mh.CreateContainer = []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo no gpu >&2; exit 4"}}, {Path: "/bin/sh", Args: []string{"sh", "-c", "touch " + rec + ".3"}}}
	if err := os.Remove(filepath.Join(dir, mountHookFile)); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(filepath.Join(dir, mountHookFile), mh); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, lxcDir, "ct"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LXC_HOOK_TYPE", "mount")
	t.Setenv("LXC_CONFIG_FILE", filepath.Join(dir, lxcDir, "ct", configFile))
	err = RunMountHook(context.Background())
	if err == nil || !strings.Contains(err.Error(), "createContainer hook 0 (/bin/sh)") || !strings.Contains(err.Error(), "no gpu") {
		t.Fatalf("failing hook: %v", err)
	}
	if _, err := os.Stat(rec + ".3"); err == nil {
		t.Error("the hook after the failing one ran")
	}
	lxcLines := strings.Repeat("lxc ct 20261201 ERROR    start - later failure\n", 6)
	f, err := os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(lxcLines); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := &Container{logFile: filepath.Join(dir, logFile)}
	if tail := c.logTail(); !strings.HasPrefix(tail, "; lxc.log: "+hookLogPrefix) || !strings.Contains(tail, "exit status 4") {
		t.Errorf("LXC log tail %q does not start with the hook's failure", tail)
	}
	// Without its file the hook fails, naming it.
	if err := runMountHook(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), mountHookFile) {
		t.Errorf("no %s: %v", mountHookFile, err)
	}
}
