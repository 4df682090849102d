package lxcrun

import (
	"os"
	"path/filepath"
	"slices"
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

func TestParseCgroupsV1(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"pids/lxc.payload.c1", "cpu,cpuacct/lxc.payload.c1", "memory/lxc.payload.c1", "freezer/lxc.payload.c1"} {
		writeFiles(t, filepath.Join(root, d), nil)
	}
	data := "9:name=systemd:/x\n8:pids:/lxc.payload.c1\n3:cpu,cpuacct:/lxc.payload.c1\n4:memory:/lxc.payload.c1\n6:freezer:/lxc.payload.c1\n7:blkio:/nothere\n0::/\n"
	cg, err := parseCgroups(data, root, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pids":    filepath.Join(root, "pids/lxc.payload.c1"),
		"cpu":     filepath.Join(root, "cpu,cpuacct/lxc.payload.c1"),
		"cpuacct": filepath.Join(root, "cpu,cpuacct/lxc.payload.c1"),
		"memory":  filepath.Join(root, "memory/lxc.payload.c1"),
		"freezer": filepath.Join(root, "freezer/lxc.payload.c1"),
	}
	if cg.unified != "" || len(cg.v1) != len(want) {
		t.Fatalf("got %+v, want v1 %v", cg, want)
	}
	for k, v := range want {
		if cg.v1[k] != v {
			t.Errorf("%s: %q, want %q", k, cg.v1[k], v)
		}
	}
	cg, err = parseCgroups("0::/lxc.payload.c1\n", root, 2)
	if err != nil || cg.unified != filepath.Join(root, "lxc.payload.c1") {
		t.Fatalf("v2: %+v, %v", cg, err)
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
