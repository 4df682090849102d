package shim_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestShimConfig: the shim reads the file `ctr run --runtime-config-path`
// names (what CRI's runtime options ConfigPath does): state_dir puts the
// LXC state outside the bundle (and `ctr rm` removes it), init = "reaper"
// keeps zfslxc-init as PID 1, and a bad value fails `ctr run` with a
// message naming the key, leaving nothing behind.
func TestShimConfig(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			dir := containerdtest.ScratchDir(t, "zfslxc-shimcfg-")
			stateDir := filepath.Join(dir, "state")
			good := filepath.Join(dir, "shim.toml")
			if err := os.WriteFile(good, []byte("state_dir = \""+stateDir+"\"\ninit = \"reaper\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(dir, "bad.toml")
			if err := os.WriteFile(bad, []byte("init = \"bogus\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}

			// init = "reaper": PID 1 is zfslxc-init, not the command.
			out, stderr, err := e.d.Ctr(t, "run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType,
				"--runtime-config-path", good, e.ref, "cfgreaper", "cat", "/proc/1/cmdline")
			if err != nil {
				t.Fatalf("ctr run: %v (%s)\n%s", err, stderr, e.d.LogTail(40))
			}
			if out == "cat\x00/proc/1/cmdline\x00" {
				t.Fatalf("PID 1 is the command itself (%q): init = \"reaper\" not applied", out)
			}
			e.checkClean(t, "cfgreaper")

			// state_dir: the LXC state lives there while the task runs.
			id := "cfgstate"
			if _, stderr, err := e.d.Ctr(t, "run", "-d", "--null-io", "--snapshotter", e.snap, "--runtime", runtimeType,
				"--runtime-config-path", good, e.ref, id, "sleep", "600"); err != nil {
				t.Fatalf("ctr run -d: %v (%s)\n%s", err, stderr, e.d.LogTail(40))
			}
			taskState := filepath.Join(stateDir, "default", id)
			if _, err := os.Stat(filepath.Join(taskState, "pids.json")); err != nil {
				t.Fatalf("LXC state not in state_dir: %v", err)
			}
			link := filepath.Join(e.d.State, "io.containerd.runtime.v2.task", "default", id, "lxc")
			if target, err := os.Readlink(link); err != nil || target != taskState {
				t.Fatalf("bundle's lxc link = %q, %v; want %s", target, err, taskState)
			}
			e.d.MustCtr(t, "task", "kill", "-s", "KILL", id)
			if _, stderr, err := e.d.Ctr(t, "task", "rm", "-f", id); err != nil {
				t.Fatalf("ctr task rm: %v (%s)", err, stderr)
			}
			e.d.MustCtr(t, "containers", "rm", id)
			if _, err := os.Stat(taskState); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state dir %s left after rm (%v)", taskState, err)
			}
			e.checkClean(t, id)

			// A bad value: ctr run fails naming it; nothing is left.
			_, stderr, err = e.d.Ctr(t, "run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType,
				"--runtime-config-path", bad, e.ref, "cfgbad", "true")
			if err == nil || !strings.Contains(stderr, `init = "bogus"`) {
				t.Fatalf("ctr run with a bad config: %v, stderr %q; want an error naming init", err, stderr)
			}
			e.d.Ctr(t, "containers", "rm", "cfgbad") //nolint:errcheck // ctr run --rm may leave the container on a create error
			e.checkClean(t, "cfgbad")
		})
	}
}
