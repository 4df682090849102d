package shim_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestFaults covers what happens around a running container when
// something dies: the shim (kill -9), containerd (kill -9 and restart);
// and Pids/Kill(All) on a container with several processes.
func TestFaults(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			t.Run("ShimKilled", func(t *testing.T) { e.testShimKilled(t, "shimkill") })
			t.Run("ContainerdRestart", func(t *testing.T) { e.testContainerdRestart(t, "ctrdrestart") })
			t.Run("PidsKillAll", func(t *testing.T) { e.testPidsKillAll(t, "pids") })
			t.Run("ExitWhileContainerdDown", func(t *testing.T) { e.testExitWhileContainerdDown(t, "exitdown") })
			t.Run("NoMonitor", func(t *testing.T) { e.testNoMonitor(t, "nomonitor") })
		})
	}
}

// runDetached starts id with `ctr run -d --null-io` and waits until it is
// RUNNING; it returns init's host pid.
func (e *env) runDetached(t *testing.T, id string, args ...string) int {
	t.Helper()
	return e.runDetachedWith(t, id, nil, args...)
}

// runDetachedWith is runDetached with more flags for ctr run.
func (e *env) runDetachedWith(t *testing.T, id string, flags []string, args ...string) int {
	t.Helper()
	a := append([]string{"run", "-d", "--null-io", "--snapshotter", e.snap, "--runtime", runtimeType}, flags...)
	a = append(append(a, e.ref, id), args...)
	if _, stderr, err := e.d.Ctr(t, a...); err != nil {
		t.Fatalf("ctr run -d %s: %v (%s)\n%s", id, err, stderr, e.d.LogTail(40))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ := e.d.Ctr(t, "task", "ls")
		if pid := runningPid(out, id); pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not running after 30s: task ls %q", id, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runningPid is the PID column of id's line in `ctr task ls` when it is
// RUNNING, else 0.
func runningPid(taskLs, id string) int {
	for _, l := range strings.Split(taskLs, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id && f[2] == "RUNNING" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// taskStatus is the STATUS column of id's line in `ctr task ls`, "" when
// it is not listed.
func taskStatus(taskLs, id string) string {
	for _, l := range strings.Split(taskLs, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// pidOf returns the pid of the one process whose command line contains
// sub (and is the shim or zfslxc-start).
func pidOf(t *testing.T, sub string) int {
	t.Helper()
	p := procsMatching(sub)
	if len(p) != 1 {
		t.Fatalf("processes matching %q: %v (want 1)", sub, p)
	}
	n, err := strconv.Atoi(strings.SplitN(p[0], ":", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// payloadCgroups lists the cgroup directories of pid (v1: one per
// hierarchy), to check that they are gone after the container.
func payloadCgroups(t *testing.T, pid int) []string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || strings.HasPrefix(parts[1], "name=") || parts[2] == "/" {
			continue
		}
		ctrl := parts[1]
		if ctrl == "" {
			ctrl = "." // cgroup v2
		}
		dir := filepath.Join("/sys/fs/cgroup", ctrl, parts[2])
		if _, err := os.Stat(dir); err == nil {
			dirs = append(dirs, dir)
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no cgroup directory for init %d", pid)
	}
	return dirs
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits until none of pids is alive and no dir exists.
func waitGone(t *testing.T, what string, pids []int, dirs []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for _, p := range pids {
			if alive(p) {
				left = append(left, fmt.Sprintf("pid %d", p))
			}
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: left after 30s: %v", what, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testShimKilled: kill -9 of the shim while the container runs.
// containerd notices (its ttrpc connection closes), runs `shim delete`,
// which kills the orphaned container from what lxcrun recorded in the
// bundle; the task ends, `ctr task rm -f` and `ctr rm` work, and nothing
// is left: no container process, no cgroup, no mount.
func (e *env) testShimKilled(t *testing.T, id string) {
	initPid := e.runDetached(t, id, "sh", "-c", "sleep 600 & sleep 600")
	shim := pidOf(t, shimBinary+" -namespace default -id "+id+" ")
	cgroups := payloadCgroups(t, initPid)
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ := e.d.Ctr(t, "task", "ls")
		st := taskStatus(out, id)
		if st != "RUNNING" {
			t.Logf("task status after the shim was killed: %q", st)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still RUNNING 30s after its shim was killed\n%s", id, e.d.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitGone(t, "after kill -9 of the shim", []int{shim, initPid}, cgroups)
	if _, stderr, err := e.d.Ctr(t, "task", "rm", "-f", id); err != nil {
		// containerd may have forgotten the task already.
		if !strings.Contains(stderr, "not found") {
			t.Fatalf("ctr task rm -f: %v", err)
		}
	}
	if _, _, err := e.d.Ctr(t, "containers", "rm", id); err != nil {
		t.Fatalf("ctr rm: %v\n%s", err, e.d.LogTail(40))
	}
	e.checkClean(t, id)
}

// testContainerdRestart: containerd is killed and started again while a
// container runs; the shim keeps running, containerd reconnects through
// <bundle>/address, and kill, wait (task rm's exit code) and delete work.
func (e *env) testContainerdRestart(t *testing.T, id string) {
	initPid := e.runDetached(t, id, "sleep", "600")
	shim := pidOf(t, shimBinary+" -namespace default -id "+id+" ")
	e.d.Kill9(t)
	if !alive(shim) || !alive(initPid) {
		t.Fatalf("shim (%v) or container (%v) gone with containerd", alive(shim), alive(initPid))
	}
	e.d.Restart(t)
	out := e.d.MustCtr(t, "task", "ls")
	if pid := runningPid(out, id); pid != initPid {
		t.Fatalf("after the restart: task ls %q (want %s RUNNING with pid %d)\n%s", out, id, initPid, e.d.LogTail(40))
	}
	if got := pidOf(t, shimBinary+" -namespace default -id "+id+" "); got != shim {
		t.Fatalf("shim pid %d, was %d: not the same shim", got, shim)
	}
	if _, stderr, err := e.d.Ctr(t, "task", "kill", "-s", "KILL", id); err != nil {
		t.Fatalf("ctr task kill: %v %s\n%s", err, stderr, e.d.LogTail(40))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := e.d.MustCtr(t, "task", "ls")
		if st := taskStatus(out, id); st == "STOPPED" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: status %q 30s after kill\n%s", id, st, e.d.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// ctr task rm warns with the task's exit status.
	_, stderr, err := e.d.Ctr(t, "task", "rm", id)
	if err != nil || !strings.Contains(stderr, "exit code 137") {
		t.Fatalf("ctr task rm: %v, stderr %q (want exit code 137)", err, stderr)
	}
	e.d.MustCtr(t, "containers", "rm", id)
	e.checkClean(t, id)
}

// testExitWhileContainerdDown: the container exits while containerd is
// down for longer than a quick restart; the shim retries its exit event
// until containerd is back, and the task is STOPPED with its status.
func (e *env) testExitWhileContainerdDown(t *testing.T, id string) {
	initPid := e.runDetached(t, id, "sleep", "600")
	e.d.Kill9(t)
	if err := syscall.Kill(initPid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the container's init %d: %v", initPid, err)
	}
	time.Sleep(3 * time.Second) // the exit event fails to publish meanwhile
	e.d.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.d.LogTail(400), "event published after retries") {
		if time.Now().After(deadline) {
			t.Fatalf("the exit event was not delivered after the restart\n%s", e.d.LogTail(60))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := taskStatus(e.d.MustCtr(t, "task", "ls"), id); st != "STOPPED" {
		t.Fatalf("%s: status %q after the restart, want STOPPED", id, st)
	}
	_, stderr, err := e.d.Ctr(t, "task", "rm", id)
	if err != nil || !strings.Contains(stderr, "exit code 137") {
		t.Fatalf("ctr task rm: %v, stderr %q (want exit code 137)", err, stderr)
	}
	e.d.MustCtr(t, "containers", "rm", id)
	e.checkClean(t, id)
}

// sleepers counts the pids other than init running "sleep 600".
func sleepers(pids []int, initPid int) int {
	n := 0
	for _, p := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if p != initPid && strings.HasPrefix(strings.ReplaceAll(string(cmd), "\x00", " "), "sleep 600") {
			n++
		}
	}
	return n
}

// testPidsKillAll: `ctr task ps` lists every process of the container;
// `ctr task kill --all -s TERM` reaches the children, which PID 1 (a shell
// without a TERM trap ignores TERM as a pid-namespace init) does not
// forward: the shell's `wait` returns and it exits 0.
func (e *env) testPidsKillAll(t *testing.T, id string) {
	initPid := e.runDetached(t, id, "sh", "-c", "sleep 600 & sleep 600 & wait")
	var pids []int
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := e.d.MustCtr(t, "task", "ps", id)
		pids = pids[:0]
		for _, l := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(l); len(f) > 0 {
				if n, err := strconv.Atoi(f[0]); err == nil {
					pids = append(pids, n)
				}
			}
		}
		// The shell's children show its own command line until they
		// have exec'd sleep: wait for that too.
		if len(pids) == 3 && sleepers(pids, initPid) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctr task ps %s: %q (want init and two sleeps)", id, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	hasInit := false
	for _, p := range pids {
		hasInit = hasInit || p == initPid
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if c := strings.ReplaceAll(string(cmd), "\x00", " "); p != initPid && !strings.HasPrefix(c, "sleep 600") {
			t.Errorf("pid %d: cmdline %q, want sleep 600", p, c)
		}
	}
	if !hasInit {
		t.Errorf("ctr task ps: %v without init %d", pids, initPid)
	}
	if _, stderr, err := e.d.Ctr(t, "task", "kill", "--all", "-s", "TERM", id); err != nil {
		t.Fatalf("ctr task kill --all: %v %s", err, stderr)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		out := e.d.MustCtr(t, "task", "ls")
		if st := taskStatus(out, id); st == "STOPPED" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: status %q 30s after kill --all -s TERM", id, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, stderr, err := e.d.Ctr(t, "task", "rm", id); err != nil || strings.Contains(stderr, "exit code") {
		t.Fatalf("ctr task rm: %v, stderr %q (want exit status 0)", err, stderr)
	}
	e.d.MustCtr(t, "containers", "rm", id)
	e.checkClean(t, id)
}

// testNoMonitor: once a container runs, its LXC monitor (zfslxc-start)
// is gone and so are the monitor's cgroups; init is the shim's child, and
// its status reaches containerd (kill -9: exit 137); nothing is left after
// ctr task rm, and the same id runs again. Before ADR 0007 a zfslxc-start
// ran for every container's life; before that it sat in the container's
// cgroup parent (charged to a CRI pod), and its kill -9 left ~20 cgroups
// and an id that could never run again.
func (e *env) testNoMonitor(t *testing.T, id string) {
	for round := 1; round <= 2; round++ {
		initPid := e.runDetached(t, id, "sleep", "600")
		if p := procsMatching("zfslxc-start --name " + id + " "); len(p) != 0 {
			t.Fatalf("round %d: zfslxc-start processes for running %s: %v (want none)", round, id, p)
		}
		shim := pidOf(t, shimBinary+" -namespace default -id "+id+" ")
		if ppid := parentPid(t, initPid); ppid != shim {
			t.Errorf("round %d: init %d's parent is %d, want the shim %d", round, initPid, ppid, shim)
		}
		if m := monitorCgroups(id); len(m) > 0 {
			t.Errorf("round %d: the monitor's cgroups stay while %s runs: %q", round, id, m)
		}
		e.d.MustCtr(t, "task", "kill", "-s", "KILL", id)
		deadline := time.Now().Add(30 * time.Second)
		for taskStatus(e.d.MustCtr(t, "task", "ls"), id) != "STOPPED" {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %s not STOPPED 30s after kill -9 of init\n%s", round, id, e.d.LogTail(40))
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, stderr, err := e.d.Ctr(t, "task", "rm", id)
		if err != nil || !strings.Contains(stderr, "exit code 137") {
			t.Errorf("round %d: ctr task rm: %v, stderr %q (want exit code 137)", round, err, stderr)
		}
		e.d.MustCtr(t, "containers", "rm", id)
		waitGone(t, "after kill -9 of init", []int{initPid}, nil)
		var left []string
		for _, pat := range []string{"/sys/fs/cgroup/*/*/" + id, "/sys/fs/cgroup/*/*/lxc.payload." + id} {
			m, _ := filepath.Glob(pat)
			left = append(left, m...)
		}
		if left = append(left, monitorCgroups(id)...); len(left) > 0 {
			t.Fatalf("round %d: cgroups left: %q", round, left)
		}
		e.checkClean(t, id)
	}
}

// monitorCgroups lists LXC monitor cgroups of container id in any
// hierarchy: lxc.monitor.ID beside the container, or the shim's
// lxc.monitor.NAMESPACE.ID at the top.
func monitorCgroups(id string) []string {
	var dirs []string
	for _, pat := range []string{"/sys/fs/cgroup/*/*/lxc.monitor." + id, "/sys/fs/cgroup/*/lxc.monitor.*." + id, "/sys/fs/cgroup/lxc.monitor.*." + id} {
		m, _ := filepath.Glob(pat)
		dirs = append(dirs, m...)
	}
	return dirs
}

// parentPid is pid's parent (PPid of /proc/PID/status).
func parentPid(t *testing.T, pid int) int {
	t.Helper()
	n, err := strconv.Atoi(procStatus(pid)["PPid"])
	if err != nil {
		t.Fatalf("/proc/%d/status: no PPid: %v", pid, err)
	}
	return n
}

// procStatus maps the fields of /proc/PID/status to their values (blanks
// trimmed); empty if pid is gone.
func procStatus(pid int) map[string]string {
	m := map[string]string{}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}
