package lxcrun

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCgroupDirsSelf: the directories Update writes into, as the
// cgroups/v3 manager of this test's own cgroup resolves them, are those
// whose cgroup.procs lists this process (v1: every controller's; v2: the
// unified one).
func TestCgroupDirsSelf(t *testing.T) {
	m, err := loadCgroup(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	cg := m.dirs()
	dirs := []string{cg.unified}
	if cg.unified == "" {
		dirs = dirs[:0]
		for _, d := range cg.v1 {
			dirs = append(dirs, d)
		}
		if cg.v1["memory"] == "" || cg.v1["pids"] == "" {
			t.Errorf("v1 directories %v: no memory or pids", cg.v1)
		}
	}
	self := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Fields(string(data)), self) {
			t.Errorf("%s/cgroup.procs does not list this process %s", d, self)
		}
	}
}

// TestLoadCgroupSelf: the cgroups/v3 manager of this test's own cgroup
// lists this process and reports statistics of the host's kind (cgroup1
// metrics on a v1 or hybrid host, cgroup2 on a unified one).
func TestLoadCgroupSelf(t *testing.T) {
	m, err := loadCgroup(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pids, err := m.procs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, os.Getpid()) {
		t.Errorf("procs %d pids, not this process %d", len(pids), os.Getpid())
	}
	st, err := m.stat()
	if err != nil {
		t.Fatal(err)
	}
	switch st := st.(type) {
	case *v1stats.Metrics:
		if st.GetMemory().GetUsage().GetUsage() == 0 && st.GetPids().GetCurrent() == 0 {
			t.Errorf("cgroup1 metrics without memory or pids: %+v", st)
		}
	case *v2stats.Metrics:
		if st.GetMemory().GetUsage() == 0 && st.GetPids().GetCurrent() == 0 {
			t.Errorf("cgroup2 metrics without memory or pids: %+v", st)
		}
	default:
		t.Fatalf("stat: %T", st)
	}
}
