package lxcrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestNoMonitorWhileRunning: once Start returns, LXC's monitor
// (zfslxc-start) is gone and its cgroups with it; init is this process's
// child, reaped here with its status (killed, and exiting with a code),
// which also goes to the status file; Delete removes the container's
// cgroups, and the same name runs again. Before ADR 0007 a zfslxc-start
// stayed for the container's life (one process per container beyond its
// own, where runc has none).
func TestNoMonitorWhileRunning(t *testing.T) {
	bin := requireLXC(t)
	name := fmt.Sprintf("lxcrun-nomon-%d", os.Getpid())
	defer func() {
		m, _ := filepath.Glob("/sys/fs/cgroup/*/zfslxc-test")
		for _, dir := range m {
			_ = syscall.Rmdir(dir)
		}
	}()
	for _, tc := range []struct {
		args []string
		kill bool
		want lxcrun.Status
	}{
		{args: []string{"sleep", "1000"}, kill: true, want: lxcrun.Status{Signal: syscall.SIGKILL}},
		{args: []string{"sh", "-c", "read x; exit 7"}, want: lxcrun.Status{Code: 7}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rootfs := filepath.Join(t.TempDir(), "rootfs")
		makeRootfs(t, rootfs)
		spec := baseSpec(rootfs, tc.args...)
		spec.Linux.CgroupsPath = "/zfslxc-test/" + name // as containerd: /<namespace>/<id>
		c, err := lxcrun.Prepare(ctx, filepath.Join(t.TempDir(), "state"), spec, lxcrun.Options{
			Name: name, BinDir: bin,
			Convert: lxcconv.Options{RootFS: os.DirFS(rootfs), DefaultAppArmorProfile: "unconfined"},
		})
		if err != nil {
			t.Fatalf("%s: Prepare: %v", tc.args[0], err)
		}
		stdin, feed, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		err = c.Start(ctx, lxcrun.Stdio{Stdin: stdin})
		stdin.Close()
		defer feed.Close()
		if err != nil {
			log, _ := os.ReadFile(c.LogPath())
			t.Fatalf("%s: Start: %v\n%s", tc.args[0], err, log)
		}
		var pids struct {
			Starter struct {
				Pid       int    `json:"pid"`
				StartTime uint64 `json:"startTime"`
			} `json:"starter"`
		}
		data, err := os.ReadFile(filepath.Join(c.Dir(), "pids.json"))
		if err == nil {
			err = json.Unmarshal(data, &pids)
		}
		if err != nil || pids.Starter.Pid <= 0 {
			t.Fatalf("pids.json: %v %q", err, data)
		}
		if alive(pids.Starter.Pid, pids.Starter.StartTime) {
			t.Errorf("%s: zfslxc-start %d still runs after Start", tc.args[0], pids.Starter.Pid)
		}
		if ppid := parentOf(t, c.Pid()); ppid != os.Getpid() {
			t.Errorf("%s: init's parent is %d, want this process %d", tc.args[0], ppid, os.Getpid())
		}
		if m, _ := filepath.Glob("/sys/fs/cgroup/*/zfslxc-test/lxc.monitor." + name); len(m) > 0 {
			t.Errorf("%s: the monitor's cgroups stay: %q", tc.args[0], m)
		}
		if err := c.Release(ctx); err != nil {
			t.Fatalf("%s: Release: %v", tc.args[0], err)
		}
		if tc.kill {
			if err := c.Kill(ctx, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		} else {
			feed.WriteString("go\n")
		}
		st, err := c.Wait(ctx)
		if err != nil || st != tc.want {
			t.Errorf("%s: Wait: %v, %v; want %v", tc.args[0], st, err, tc.want)
		}
		if data, err := os.ReadFile(filepath.Join(c.Dir(), "status")); err != nil || strings.TrimSpace(string(data)) != tc.want.String() {
			t.Errorf("%s: status file %q, %v; want %q", tc.args[0], data, err, tc.want)
		}
		if err := c.Delete(ctx); err != nil {
			t.Errorf("%s: Delete: %v", tc.args[0], err)
		}
		var left []string
		for _, pat := range []string{"/sys/fs/cgroup/*/zfslxc-test/*" + name, "/sys/fs/cgroup/*/zfslxc-test/*" + name + "/*"} {
			m, _ := filepath.Glob(pat)
			left = append(left, m...)
		}
		if len(left) > 0 {
			t.Fatalf("%s: cgroups left after Delete: %q", tc.args[0], left)
		}
	}
}

// alive reports whether pid runs and started at start (field 22 of stat).
func alive(pid int, start uint64) bool {
	f := statFields(pid)
	if len(f) < 20 {
		return false
	}
	t, err := strconv.ParseUint(f[19], 10, 64)
	return err == nil && t == start && f[0] != "Z"
}

// parentOf is pid's parent pid.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	f := statFields(pid)
	if len(f) < 2 {
		t.Fatalf("/proc/%d/stat: process gone", pid)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

// statFields are the fields of /proc/PID/stat after "pid (comm)": state,
// ppid, …; nil if pid is gone.
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}
