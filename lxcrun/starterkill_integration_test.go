package lxcrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestStarterKilled: kill -9 of zfslxc-start (LXC's monitor). It was
// reported as exit -1 (4294967295 in containerd), its cgroups (the
// container's and lxc.monitor.NAME in every hierarchy) stayed, and LXC
// refused the same name ever after ("Failed to create monitor cgroup").
// Now: init's status is SIGKILL (liblxc's pdeath signal took it), Delete
// removes the cgroups, and the same name runs again.
func TestStarterKilled(t *testing.T) {
	bin := requireLXC(t)
	name := fmt.Sprintf("lxcrun-kill9-%d", os.Getpid())
	for round := 1; round <= 2; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rootfs := filepath.Join(t.TempDir(), "rootfs")
		makeRootfs(t, rootfs)
		spec := baseSpec(rootfs, "sleep", "1000")
		spec.Linux.CgroupsPath = "/zfslxc-test/" + name // as containerd: /<namespace>/<id>
		c, err := lxcrun.Prepare(ctx, filepath.Join(t.TempDir(), "state"), spec, lxcrun.Options{
			Name: name, BinDir: bin,
			Convert: lxcconv.Options{RootFS: os.DirFS(rootfs), DefaultAppArmorProfile: "unconfined"},
		})
		if err != nil {
			t.Fatalf("round %d: Prepare: %v", round, err)
		}
		if err := c.Start(ctx, lxcrun.Stdio{}); err != nil {
			log, _ := os.ReadFile(c.LogPath())
			t.Fatalf("round %d: Start: %v\n%s", round, err, log)
		}
		if err := c.Release(ctx); err != nil {
			t.Fatalf("round %d: Release: %v", round, err)
		}
		var pids struct {
			Starter struct{ Pid int } `json:"starter"`
			Cgroups []string          `json:"cgroups"`
		}
		data, err := os.ReadFile(filepath.Join(c.Dir(), "pids.json"))
		if err == nil {
			err = json.Unmarshal(data, &pids)
		}
		if err != nil || pids.Starter.Pid <= 0 {
			t.Fatalf("round %d: pids.json: %v %q", round, err, data)
		}
		if len(pids.Cgroups) < 2 {
			t.Errorf("round %d: recorded cgroups %q, want the container's and the monitor's", round, pids.Cgroups)
		}
		if err := syscall.Kill(pids.Starter.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		st, err := c.Wait(ctx)
		if err != nil || st != (lxcrun.Status{Signal: syscall.SIGKILL}) {
			t.Errorf("round %d: Wait after kill -9 of the starter: %v, %v; want killed by SIGKILL (137)", round, st, err)
		}
		if code := st.ExitCode(); code != 137 {
			t.Errorf("round %d: exit code %d, want 137", round, code)
		}
		if err := c.Delete(ctx); err != nil {
			t.Errorf("round %d: Delete: %v", round, err)
		}
		cancel()
		var left []string
		for _, pat := range []string{"/sys/fs/cgroup/*/zfslxc-test/*" + name, "/sys/fs/cgroup/*/zfslxc-test/*" + name + "/*"} {
			m, _ := filepath.Glob(pat)
			left = append(left, m...)
		}
		if len(left) > 0 {
			t.Fatalf("round %d: cgroups left after Delete: %q", round, left)
		}
	}
	for _, d := range []string{"/sys/fs/cgroup/*/zfslxc-test"} {
		m, _ := filepath.Glob(d)
		for _, dir := range m {
			_ = syscall.Rmdir(dir)
		}
	}
}
