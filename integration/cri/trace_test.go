package cri

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// trace is what a pod holds on the host, recorded while it runs, to check
// that stopp+rmp leave none of it.
type trace struct {
	ids     []string // sandbox and container ids
	pids    []int    // their init processes on the host
	bundles []string // containerd's task bundles (LXC state inside)
	netns   string   // the pod's network namespace file ("" for hostNetwork)
	cgroups []string // every v1 controller directory of each container
}

// traceOf records pod podID and containers ctrs.
func (e *env) traceOf(t testing.TB, podID string, ctrs ...string) trace {
	t.Helper()
	tr := trace{}
	sandbox := e.inspect(t, "inspectp", podID)
	for _, ns := range asSlice(field(sandbox, "info", "runtimeSpec", "linux", "namespaces")) {
		if str(ns, "type") == "network" {
			tr.netns = str(ns, "path")
		}
	}
	add := func(id string, info any) {
		tr.ids = append(tr.ids, id)
		tr.bundles = append(tr.bundles, filepath.Join(e.State, "io.containerd.runtime.v2.task", "k8s.io", id))
		pid := int(num(info, "info", "pid"))
		if pid <= 0 {
			t.Fatalf("%s: no pid in inspect", id)
		}
		tr.pids = append(tr.pids, pid)
		dirs := cgroupDirs(t, pid)
		tr.cgroups = append(tr.cgroups, dirs...)
		checkNoMonitor(t, id, pid)
	}
	add(podID, sandbox)
	for _, id := range ctrs {
		add(id, e.inspect(t, "inspect", id))
	}
	return tr
}

// checkNoMonitor fails t if the container whose init is pid still has an
// LXC monitor: init's parent must be the shim (docs/adr/0007-no-monitor.md)
// and no lxc.monitor cgroup of id may stay (the shim's monitors were
// lxc.monitor.k8s.io.ID at the top of each hierarchy while they ran; LXC
// put them beside the container, inside the pod, before that).
func checkNoMonitor(t testing.TB, id string, pid int) {
	t.Helper()
	if ppid := shimOf(t, pid); ppid != parentOf(t, pid) {
		t.Errorf("%s: init %d's parent is %d, not its shim %d", id, pid, parentOf(t, pid), ppid)
	}
	var left []string
	for _, pat := range []string{"/sys/fs/cgroup/*/lxc.monitor.*" + id, "/sys/fs/cgroup/*/*/lxc.monitor.*" + id, "/sys/fs/cgroup/*/*/*/lxc.monitor.*" + id} {
		m, _ := filepath.Glob(pat)
		left = append(left, m...)
	}
	if len(left) > 0 {
		t.Errorf("%s: LXC monitor cgroups stay while it runs: %q", id, left)
	}
}

// parentOf is pid's parent pid.
func parentOf(t testing.TB, pid int) int {
	t.Helper()
	f := statFields(pid)
	if len(f) < 2 {
		t.Fatalf("/proc/%d/stat: process gone", pid)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("/proc/%d/stat: ppid %q: %v", pid, f[1], err)
	}
	return ppid
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// cgroupDirs lists the v1 controller directories of process pid that are
// not a hierarchy's root (name= hierarchies and the unified one left out).
func cgroupDirs(t testing.TB, pid int) []string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 || parts[1] == "" || strings.HasPrefix(parts[1], "name=") || parts[2] == "/" {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup", strings.Split(parts[1], ",")[0], parts[2])
		if _, err := os.Stat(dir); err == nil {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// cgroupDir is pid's directory in controller ctrl.
func cgroupDir(t testing.TB, pid int, ctrl string) string {
	t.Helper()
	for _, d := range cgroupDirs(t, pid) {
		if strings.HasPrefix(d, "/sys/fs/cgroup/"+ctrl+"/") {
			return d
		}
	}
	t.Fatalf("process %d has no %s cgroup", pid, ctrl)
	return ""
}

// datasets lists the datasets below the snapshotter's parent.
func (e *env) datasets(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("zfs", "list", "-H", "-o", "name", "-t", "filesystem", "-r", e.dataset).Output()
	if err != nil {
		t.Fatalf("zfs list: %v", err)
	}
	l := strings.Fields(string(out))
	sort.Strings(l)
	return l
}

// checkGone waits (bounded) until nothing of tr is left and reports what
// is: processes, bundles, mounts, the netns, cgroups, shims, datasets
// beyond baseline.
func (e *env) checkGone(t testing.TB, tr trace, baseline []string) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(30 * time.Second)
	gcAfter := time.Now().Add(3 * time.Second)
	for {
		left = e.leftovers(t, tr, baseline)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		if time.Now().After(gcAfter) {
			// containerd removes snapshots in its garbage collection,
			// after the deletion and again only on later changes; a
			// zfs destroy that zfs-fuse answered "busy" is retried by
			// the next collection. Ask for one now: a dataset that a
			// collection removes is not leaked.
			e.syncGC(t)
			gcAfter = time.Now().Add(3 * time.Second)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, l := range left {
		t.Errorf("left after rmp: %s", l)
	}
}

func (e *env) leftovers(t testing.TB, tr trace, baseline []string) []string {
	var left []string
	for _, pid := range tr.pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			left = append(left, fmt.Sprintf("process %d", pid))
		}
	}
	for _, b := range tr.bundles {
		if _, err := os.Stat(b); !errors.Is(err, os.ErrNotExist) {
			left = append(left, "bundle "+b)
		}
	}
	for _, c := range tr.cgroups {
		if _, err := os.Stat(c); !errors.Is(err, os.ErrNotExist) {
			left = append(left, "cgroup "+c)
		}
	}
	if tr.netns != "" {
		if _, err := os.Stat(tr.netns); !errors.Is(err, os.ErrNotExist) {
			left = append(left, "netns "+tr.netns)
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, s := range append(append([]string{}, tr.bundles...), tr.netns) {
			if s != "" && strings.Contains(sc.Text(), s) {
				left = append(left, "mount "+sc.Text())
			}
		}
	}
	f.Close()
	for _, p := range procsWith(tr.ids...) {
		left = append(left, "process "+p)
	}
	have := map[string]bool{}
	for _, d := range baseline {
		have[d] = true
	}
	for _, d := range e.datasets(t) {
		if !have[d] {
			left = append(left, "dataset "+d)
		}
	}
	return left
}

// procsWith lists shim and starter processes whose command line names
// any of ids.
func procsWith(ids ...string) []string { return containerdtest.ShimProcs(ids...) }

// syncGC runs a synchronous garbage collection in the CRI namespace (a
// lease created and deleted with --sync).
func (e *env) syncGC(t testing.TB) {
	out, _, err := e.Ctr(t, "-n", "k8s.io", "leases", "create")
	if err != nil {
		t.Logf("gc: %v", err)
		return
	}
	id := strings.Fields(out)
	if len(id) == 0 {
		return
	}
	if _, _, err := e.Ctr(t, "-n", "k8s.io", "leases", "delete", "--sync", id[0]); err != nil {
		t.Logf("gc: %v", err)
	}
}
