package lxcrun

import (
	"context"
	"os"
	"path/filepath"
	"testing"
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

func TestMetricsV1(t *testing.T) {
	root := t.TempDir()
	dirs := map[string]string{"pids": filepath.Join(root, "pids"), "cpuacct": filepath.Join(root, "cpuacct"), "cpu": filepath.Join(root, "cpuacct"), "memory": filepath.Join(root, "memory")}
	writeFiles(t, dirs["pids"], map[string]string{"pids.current": "3\n", "pids.max": "max\n"})
	writeFiles(t, dirs["cpuacct"], map[string]string{
		"cpuacct.usage": "123456\n", "cpuacct.usage_percpu": "100000 23456 \n", "cpuacct.stat": "user 2\nsystem 1\n",
		"cpu.stat": "nr_periods 5\nnr_throttled 1\nthrottled_time 7\n",
	})
	writeFiles(t, dirs["memory"], map[string]string{
		"memory.usage_in_bytes": "4096\n", "memory.limit_in_bytes": "9223372036854771712\n", "memory.max_usage_in_bytes": "8192\n",
		"memory.failcnt": "0\n", "memory.stat": "cache 100\nrss 200\ntotal_cache 300\n",
	})
	m, err := metricsV1(dirs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pids.GetCurrent() != 3 || m.Pids.GetLimit() != 0 {
		t.Errorf("pids %+v", m.Pids)
	}
	u := m.CPU.GetUsage()
	if u.GetTotal() != 123456 || len(u.GetPerCPU()) != 2 || u.GetUser() != 20_000_000 || u.GetKernel() != 10_000_000 {
		t.Errorf("cpu usage %+v", u)
	}
	if m.CPU.GetThrottling().GetThrottledTime() != 7 {
		t.Errorf("throttling %+v", m.CPU.GetThrottling())
	}
	mem := m.Memory
	if mem.GetUsage().GetUsage() != 4096 || mem.GetUsage().GetLimit() != 9223372036854771712 || mem.GetUsage().GetMax() != 8192 ||
		mem.GetCache() != 100 || mem.GetRSS() != 200 || mem.GetTotalCache() != 300 || mem.GetSwap() != nil {
		t.Errorf("memory %+v", mem)
	}
	if _, err := metricsV1(map[string]string{"freezer": root}); err == nil {
		t.Error("no statistics: no error")
	}
}

func TestMetricsV2(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"pids.current": "2\n", "pids.max": "100\n",
		"cpu.stat":       "usage_usec 50\nuser_usec 30\nsystem_usec 20\nnr_periods 0\n",
		"memory.current": "8192\n", "memory.max": "max\n", "memory.stat": "anon 4096\nfile 1024\n",
		"memory.events": "low 0\nhigh 0\nmax 1\noom 0\noom_kill 0\n",
	})
	m, err := metricsV2(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pids.GetCurrent() != 2 || m.Pids.GetLimit() != 100 || m.CPU.GetUsageUsec() != 50 || m.CPU.GetSystemUsec() != 20 ||
		m.Memory.GetUsage() != 8192 || m.Memory.GetUsageLimit() != 0 || m.Memory.GetAnon() != 4096 || m.MemoryEvents.GetMax() != 1 {
		t.Errorf("metrics %+v", m)
	}
}

func TestSetFrozenFiles(t *testing.T) {
	// Regular files stand in for the cgroup files: what is written is
	// read back at once.
	ctx := context.Background()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"freezer.state": "THAWED\n"})
	if err := setFrozenV1(ctx, dir, true); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "freezer.state")); string(data) != "FROZEN" {
		t.Fatalf("freezer.state %q", data)
	}
	if err := setFrozenV1(ctx, dir, false); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"cgroup.freeze": "0\n", "cgroup.events": "populated 1\nfrozen 1\n"})
	if err := setFrozenV2(ctx, dir, true); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "cgroup.freeze")); string(data) != "1" {
		t.Fatalf("cgroup.freeze %q", data)
	}
	// frozen stays 1: thawing times out with ctx.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := setFrozenV2(cctx, dir, false); err == nil {
		t.Fatal("thaw with frozen 1 and a cancelled ctx: no error")
	}
}
