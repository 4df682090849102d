package lxcrun

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// TestOwnCgroups: the cgroups Delete removes after a killed monitor are
// the container's own, in every hierarchy (named and unified ones
// included), and never a hierarchy's root or a parent shared with others.
func TestOwnCgroups(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{
		"memory/default/ct1", "memory/default/lxc.monitor.ct1", "cpu,cpuacct/default/ct1",
		"systemd/default/ct1", "unified/default/ct1", "pids/default/ct1/inner",
		"memory/ct1", "pids/lxc.payload.ct1",
	} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	initCg := "10:name=systemd:/default/ct1\n9:pids:/default/ct1/inner\n4:memory:/default/ct1\n2:cpu,cpuacct:/default/ct1\n0::/default/ct1\n"
	monCg := "4:memory:/default/lxc.monitor.ct1\n3:blkio:/default/lxc.monitor.ct1\n"
	all := append(hierarchyDirs(initCg, root), hierarchyDirs(monCg, root)...)
	got := ownDirs(all, []string{"lxc.payload.ct1", "lxc.monitor.ct1", "ct1"})
	var rel []string
	for _, d := range got {
		rel = append(rel, strings.TrimPrefix(d, root+"/"))
	}
	want := []string{"cpu,cpuacct/default/ct1", "memory/default/ct1", "memory/default/lxc.monitor.ct1", "pids/default/ct1", "systemd/default/ct1", "unified/default/ct1"}
	if !slices.Equal(rel, want) {
		t.Errorf("own cgroups:\n got %q\nwant %q", rel, want)
	}
	// A container named like a hierarchy, or at a hierarchy's root: never
	// the root.
	if got := ownDirs(hierarchyDirs("4:memory:/\n", root), []string{"memory"}); len(got) != 0 {
		t.Errorf("hierarchy root taken: %q", got)
	}
	// removeCgroups touches nothing outside /sys/fs/cgroup.
	removeCgroups(t.Context(), got)
	if _, err := os.Stat(got[0]); err != nil {
		t.Errorf("removeCgroups removed %s outside %s: %v", got[0], cgroupRoot, err)
	}
	if err := removeCgroupTree(filepath.Join(root, "pids/default/ct1")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "pids/default/ct1")); !os.IsNotExist(err) {
		t.Errorf("tree not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "pids/default")); err != nil {
		t.Errorf("parent removed: %v", err)
	}
}

// TestMonitorCgroups: the monitor's among the recorded cgroups, by
// LXC's default name or lxc.cgroup.dir.monitor's; never the container's.
func TestMonitorCgroups(t *testing.T) {
	cfg := &lxcconv.Config{}
	if err := cfg.Add("lxc.cgroup.dir.monitor", "lxc.monitor.k8s.io.ct1"); err != nil {
		t.Fatal(err)
	}
	c := &Container{name: "ct1", result: &lxcconv.Result{Config: cfg}, cgroups: []string{
		"/sys/fs/cgroup/cpu/k8s.io/ct1", "/sys/fs/cgroup/cpu/lxc.monitor.k8s.io.ct1",
		"/sys/fs/cgroup/memory/default/lxc.monitor.ct1", "/sys/fs/cgroup/memory/lxc.payload.ct1",
	}}
	want := []string{"/sys/fs/cgroup/cpu/lxc.monitor.k8s.io.ct1", "/sys/fs/cgroup/memory/default/lxc.monitor.ct1"}
	if got := c.monitorCgroups(); !slices.Equal(got, want) {
		t.Errorf("monitor cgroups %q, want %q", got, want)
	}
}

// TestProcsBelow: the pids of a cgroup and of those below it; a cgroup
// whose cgroup.procs is gone (removed meanwhile) counts as empty, and a
// missing cgroup is no error.
func TestProcsBelow(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, filepath.Join(root, "ct"), map[string]string{"cgroup.procs": "10\n11\n"})
	writeFiles(t, filepath.Join(root, "ct/inner"), map[string]string{"cgroup.procs": "12\n"})
	writeFiles(t, filepath.Join(root, "ct/removed"), nil)
	pids, err := procsBelow(filepath.Join(root, "ct"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{10, 11, 12}) {
		t.Errorf("pids %v, want [10 11 12]", pids)
	}
	if pids, err := procsBelow(filepath.Join(root, "gone")); err != nil || len(pids) != 0 {
		t.Errorf("missing cgroup: %v, %v", pids, err)
	}
}
