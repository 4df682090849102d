package shim_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestPauseStats covers `ctr task pause/resume` (the container's cgroup
// is frozen: its counter stops, then moves again) and `ctr task metrics`
// (cgroup statistics) on every containerd flavor.
func TestPauseStats(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, "native")
			t.Run("PauseResume", func(t *testing.T) { e.testPauseResume(t, "pause") })
			t.Run("Metrics", func(t *testing.T) { e.testMetrics(t, "metrics") })
		})
	}
}

const counterLoop = "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.1; done"

// counter reads the container's counter through init's root.
func counter(t *testing.T, initPid int) int {
	t.Helper()
	var last error
	for range 20 { // the shell may be between truncate and write
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/tmp/c", initPid))
		if err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				return n
			}
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("reading the counter of %d: %v", initPid, last)
	return 0
}

func (e *env) waitStatus(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := e.d.MustCtr(t, "task", "ls")
		if st := taskStatus(out, id); st == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s: status %q, want %s\n%s", id, st, want, e.d.LogTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killRemove kills id, waits for STOPPED, removes it and checks nothing
// is left.
func (e *env) killRemove(t *testing.T, id string) {
	t.Helper()
	if _, stderr, err := e.d.Ctr(t, "task", "kill", "-s", "KILL", id); err != nil {
		t.Fatalf("ctr task kill: %v %s", err, stderr)
	}
	e.waitStatus(t, id, "STOPPED")
	if _, stderr, err := e.d.Ctr(t, "task", "rm", id); err != nil {
		t.Fatalf("ctr task rm: %v %s", err, stderr)
	}
	e.d.MustCtr(t, "containers", "rm", id)
	e.checkClean(t, id)
}

func (e *env) testPauseResume(t *testing.T, id string) {
	initPid := e.runDetached(t, id, "sh", "-c", counterLoop)
	time.Sleep(300 * time.Millisecond)
	a := counter(t, initPid)
	time.Sleep(500 * time.Millisecond)
	if b := counter(t, initPid); b <= a {
		t.Fatalf("counter does not move while running: %d then %d", a, b)
	}
	// Neither a running task can be resumed.
	if _, stderr, err := e.d.Ctr(t, "task", "resume", id); err == nil {
		t.Errorf("ctr task resume of a running task: no error (%s)", stderr)
	}

	if _, stderr, err := e.d.Ctr(t, "task", "pause", id); err != nil {
		t.Fatalf("ctr task pause: %v %s\n%s", err, stderr, e.d.LogTail(40))
	}
	if st := taskStatus(e.d.MustCtr(t, "task", "ls"), id); st != "PAUSED" {
		t.Fatalf("after pause: status %q, want PAUSED", st)
	}
	a = counter(t, initPid)
	time.Sleep(500 * time.Millisecond)
	if b := counter(t, initPid); b != a {
		t.Fatalf("counter moves while paused: %d then %d", a, b)
	}
	if _, stderr, err := e.d.Ctr(t, "task", "pause", id); err == nil {
		t.Errorf("ctr task pause of a paused task: no error (%s)", stderr)
	}
	if _, stderr, err := e.d.Ctr(t, "task", "rm", id); err == nil {
		t.Fatalf("ctr task rm of a paused task: no error (%s)", stderr)
	}

	if _, stderr, err := e.d.Ctr(t, "task", "resume", id); err != nil {
		t.Fatalf("ctr task resume: %v %s\n%s", err, stderr, e.d.LogTail(40))
	}
	if st := taskStatus(e.d.MustCtr(t, "task", "ls"), id); st != "RUNNING" {
		t.Fatalf("after resume: status %q, want RUNNING", st)
	}
	a = counter(t, initPid)
	time.Sleep(500 * time.Millisecond)
	if b := counter(t, initPid); b <= a {
		t.Fatalf("counter does not move after resume: %d then %d", a, b)
	}

	// A paused task dies of SIGKILL (the shim thaws it).
	if _, stderr, err := e.d.Ctr(t, "task", "pause", id); err != nil {
		t.Fatalf("ctr task pause: %v %s", err, stderr)
	}
	e.killRemove(t, id)

	// Pausing a stopped task fails.
	if _, stderr, err := e.d.Ctr(t, "run", "-d", "--null-io", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, id, "true"); err != nil {
		t.Fatalf("ctr run -d %s true: %v (%s)", id, err, stderr)
	}
	e.waitStatus(t, id, "STOPPED")
	if _, stderr, err := e.d.Ctr(t, "task", "pause", id); err == nil {
		t.Errorf("ctr task pause of a stopped task: no error (%s)", stderr)
	} else {
		t.Logf("pause of a stopped task: %s", strings.TrimSpace(stderr))
	}
	if _, stderr, err := e.d.Ctr(t, "task", "rm", id); err != nil {
		t.Fatalf("ctr task rm: %v %s", err, stderr)
	}
	e.d.MustCtr(t, "containers", "rm", id)
	e.checkClean(t, id)
}

// testMetrics: `ctr task metrics` prints the cgroup statistics table
// (cgroup v1 or v2 names) with the container's memory use and processes.
func (e *env) testMetrics(t *testing.T, id string) {
	e.runDetached(t, id, "sh", "-c", counterLoop)
	out, stderr, err := e.d.Ctr(t, "task", "metrics", id)
	if err != nil {
		t.Fatalf("ctr task metrics: %v %s\n%s", err, stderr, e.d.LogTail(40))
	}
	t.Logf("ctr task metrics:\n%s", out)
	vals := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			vals[f[0]] = f[1]
		}
	}
	num := func(keys ...string) (string, int64) {
		for _, k := range keys {
			if v, ok := vals[k]; ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("%s: %q is not a number", k, v)
				}
				return k, n
			}
		}
		t.Fatalf("none of %v in ctr task metrics:\n%s", keys, out)
		return "", 0
	}
	if k, n := num("memory.usage_in_bytes", "memory.usage"); n <= 0 {
		t.Errorf("%s = %d, want > 0", k, n)
	}
	if k, n := num("pids.current"); n < 1 {
		t.Errorf("%s = %d, want >= 1", k, n)
	}
	num("memory.limit_in_bytes", "memory.limit")
	num("cpuacct.usage", "cpu.usage_usec")
	e.killRemove(t, id)
}
