package lxcrun

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func i64p(v int64) *int64   { return &v }
func u64p(v uint64) *uint64 { return &v }
func boolp(v bool) *bool    { return &v }
func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fakeV1 makes controller directories as a v1 host mounts them here
// (cpu and cpuacct apart) with the files Update may write.
func fakeV1(t *testing.T) *cgroups {
	t.Helper()
	root := t.TempDir()
	cg := &cgroups{v1: map[string]string{}}
	files := map[string][]string{
		"memory": {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.swappiness"},
		"cpu":    {"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"},
		"cpuset": {"cpuset.cpus", "cpuset.mems"},
		"pids":   {"pids.max"},
	}
	for ctrl, names := range files {
		dir := filepath.Join(root, ctrl, "lxc.payload.c1")
		m := map[string]string{}
		for _, n := range names {
			m[n] = "old\n"
		}
		writeFiles(t, dir, m)
		cg.v1[ctrl] = dir
	}
	return cg
}

func fakeV2(t *testing.T) *cgroups {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"memory.max": "max\n", "memory.swap.max": "max\n", "memory.low": "0\n", "memory.current": "1048576\n",
		"cpu.weight": "100\n", "cpu.max": "max 100000\n", "pids.max": "max\n", "cpuset.cpus": "\n",
	})
	return &cgroups{unified: dir}
}

func TestUpdateCgroups(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		v2   bool
		res  specs.LinuxResources
		want map[string]string // controller/file (v1) or file (v2) -> content
	}{{
		name: "v1 memory cpu pids",
		res: specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: i64p(64 << 20), Reservation: i64p(32 << 20)},
			CPU:    &specs.LinuxCPU{Shares: u64p(512), Quota: i64p(50000), Period: u64p(100000), Cpus: "0"},
			Pids:   &specs.LinuxPids{Limit: i64p(42)},
		},
		want: map[string]string{
			"memory/memory.limit_in_bytes": "67108864", "memory/memory.soft_limit_in_bytes": "33554432",
			"memory/memory.memsw.limit_in_bytes": "old\n", // not asked: unchanged
			"cpu/cpu.shares":                     "512", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000",
			"cpuset/cpuset.cpus": "0", "pids/pids.max": "42",
		},
	}, {
		name: "v1 unlimited memory takes swap along",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(-1)}, Pids: &specs.LinuxPids{Limit: i64p(-1)}},
		want: map[string]string{"memory/memory.limit_in_bytes": "-1", "memory/memory.memsw.limit_in_bytes": "-1", "pids/pids.max": "max"},
	}, {
		name: "v1 only cpu shares",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64p(2048)}},
		want: map[string]string{"cpu/cpu.shares": "2048", "cpu/cpu.cfs_quota_us": "old\n", "memory/memory.limit_in_bytes": "old\n"},
	}, {
		name: "v2 memory cpu pids",
		v2:   true,
		res: specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: i64p(64 << 20), Swap: i64p(128 << 20)},
			CPU:    &specs.LinuxCPU{Shares: u64p(1024), Quota: i64p(50000), Period: u64p(100000)},
			Pids:   &specs.LinuxPids{Limit: i64p(42)},
		},
		want: map[string]string{
			"memory.max": "67108864", "memory.swap.max": "67108864", "memory.low": "0\n",
			"cpu.weight": "39", "cpu.max": "50000 100000", "pids.max": "42",
		},
	}, {
		name: "v2 unlimited",
		v2:   true,
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(-1)}, CPU: &specs.LinuxCPU{Quota: i64p(-1)}},
		want: map[string]string{"memory.max": "max", "cpu.max": "max"},
	}, {
		// cgroups/v3's ToResources writes nothing for a quota without a
		// period, and swap-limit (a negative number) for swap -1 (ADR 0006).
		name: "v2 quota alone, unlimited swap",
		v2:   true,
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(64 << 20), Swap: i64p(-1)}, CPU: &specs.LinuxCPU{Quota: i64p(20000)}},
		want: map[string]string{"memory.max": "67108864", "memory.swap.max": "max", "cpu.max": "20000"},
	}, {
		name: "v2 unified wins",
		v2:   true,
		res:  specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64p(42)}, Unified: map[string]string{"pids.max": "7"}},
		want: map[string]string{"pids.max": "7"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cg := fakeV1(t)
			if tc.v2 {
				cg = fakeV2(t)
			}
			if err := updateCgroups(ctx, cg, &tc.res, writeCgroupFile); err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				p := filepath.Join(cg.unified, k)
				if !tc.v2 {
					ctrl, file, _ := strings.Cut(k, "/")
					p = filepath.Join(cg.v1[ctrl], file)
				}
				if got := readFile(t, p); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestUpdateCgroupsRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		v2   bool
		res  specs.LinuxResources
		want string      // in the error
		is   error       // errdefs class
		keep [][2]string // controller/file that must be unchanged (v1)
	}{{
		name: "unified on v1",
		res:  specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64p(5)}, Unified: map[string]string{"pids.max": "7"}},
		want: "linux.resources.unified: needs a cgroup v2 host", is: errdefs.ErrInvalidArgument,
		keep: [][2]string{{"pids", "pids.max"}}, // nothing half-applied
	}, {
		name: "controller the container lacks",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(1 << 20)}, HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}},
		want: "cgroup file hugetlb.2MB.limit_in_bytes: the container has no hugetlb cgroup", is: errdefs.ErrNotImplemented,
		keep: [][2]string{{"memory", "memory.limit_in_bytes"}},
	}, {
		name: "invalid swappiness",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64p(101)}},
		want: "linux.resources.memory.swappiness: 101 is above 100", is: errdefs.ErrInvalidArgument,
	}, {
		name: "net_cls on v2",
		v2:   true,
		res:  specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: func() *uint32 { v := uint32(1); return &v }()}},
		want: "linux.resources.network: net_cls/net_prio are not available on cgroup v2", is: errdefs.ErrInvalidArgument,
	}, {
		name: "realtime on v2",
		v2:   true,
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64p(10)}},
		want: "linux.resources.cpu.realtimeRuntime", is: errdefs.ErrInvalidArgument,
	}, {
		name: "checkBeforeUpdate below usage",
		v2:   true,
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(4096), CheckBeforeUpdate: boolp(true)}},
		want: "linux.resources.memory.limit: 4096 is below the current usage 1048576", is: errdefs.ErrFailedPrecondition,
	}, {
		name: "file missing",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimePeriod: u64p(1000)}},
		want: "cpu.rt_period_us: no such file or directory",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cg := fakeV1(t)
			if tc.v2 {
				cg = fakeV2(t)
			}
			err := updateCgroups(ctx, cg, &tc.res, writeCgroupFile)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if tc.is != nil && !errorsIs(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, k := range tc.keep {
				if got := readFile(t, filepath.Join(cg.v1[k[0]], k[1])); got != "old\n" {
					t.Errorf("%s/%s written (%q) though the update was refused", k[0], k[1], got)
				}
			}
		})
	}
}

func errorsIs(err, target error) bool {
	switch target {
	case errdefs.ErrInvalidArgument:
		return errdefs.IsInvalidArgument(err)
	case errdefs.ErrNotImplemented:
		return errdefs.IsNotImplemented(err)
	case errdefs.ErrFailedPrecondition:
		return errdefs.IsFailedPrecondition(err)
	}
	return false
}

// kernelV1 is a fake of the cgroup v1 memory checks: memory.limit_in_bytes
// may not exceed memory.memsw.limit_in_bytes (EINVAL), -1 is unlimited.
type kernelV1 struct {
	files  map[string]int64
	writes []string
}

func (k *kernelV1) write(path, value string) error {
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: syscall.EINVAL}
	}
	if n == -1 {
		n = 1 << 62
	}
	name := filepath.Base(path)
	mem, sw := k.files["memory.limit_in_bytes"], k.files["memory.memsw.limit_in_bytes"]
	switch name {
	case "memory.limit_in_bytes":
		mem = n
	case "memory.memsw.limit_in_bytes":
		sw = n
	}
	if mem > sw {
		return &os.PathError{Op: "write", Path: path, Err: syscall.EINVAL}
	}
	k.files[name] = n
	k.writes = append(k.writes, fmt.Sprintf("%s=%s", name, value))
	return nil
}

func TestUpdateCgroupsOrder(t *testing.T) {
	ctx := context.Background()
	cg := &cgroups{v1: map[string]string{"memory": "/fake/memory"}}
	for _, tc := range []struct {
		name            string
		mem, sw         int64 // before
		newMem, newSw   int64
		wantMem, wantSw int64
	}{
		{"raise both", 50 << 20, 100 << 20, 200 << 20, 300 << 20, 200 << 20, 300 << 20},
		{"lower both", 200 << 20, 300 << 20, 50 << 20, 100 << 20, 50 << 20, 100 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &kernelV1{files: map[string]int64{"memory.limit_in_bytes": tc.mem, "memory.memsw.limit_in_bytes": tc.sw}}
			res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(tc.newMem), Swap: i64p(tc.newSw)}}
			if err := updateCgroups(ctx, cg, res, k.write); err != nil {
				t.Fatal(err)
			}
			if k.files["memory.limit_in_bytes"] != tc.wantMem || k.files["memory.memsw.limit_in_bytes"] != tc.wantSw {
				t.Fatalf("files %v after writes %v", k.files, k.writes)
			}
		})
	}
	// Memory above a memsw limit that is not raised: the kernel's error,
	// naming the file.
	k := &kernelV1{files: map[string]int64{"memory.limit_in_bytes": 50 << 20, "memory.memsw.limit_in_bytes": 100 << 20}}
	err := updateCgroups(ctx, cg, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64p(200 << 20)}}, k.write)
	if err == nil || !strings.Contains(err.Error(), "memory.limit_in_bytes") || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("memory above memsw: error %v, want InvalidArgument naming memory.limit_in_bytes", err)
	}
}

func TestWriteCgroupFileDoesNotCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "memory.memsw.limit_in_bytes")
	if err := writeCgroupFile(p, "1"); err == nil {
		t.Fatal("writing a missing cgroup file: no error")
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("the missing file was created")
	}
}

func TestRemountFlags(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want uintptr
	}{
		{[]string{"nosuid", "strictatime", "mode=755", "size=65536k"}, unix.MS_NOSUID | unix.MS_STRICTATIME},
		{[]string{"nosuid", "noexec", "nodev", "ro"}, unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY},
		{[]string{"rw", "relatime", "nodiratime", "noatime"}, unix.MS_RELATIME | unix.MS_NODIRATIME | unix.MS_NOATIME},
		{nil, 0},
	} {
		if got := remountFlags(tc.opts); got != tc.want {
			t.Errorf("remountFlags(%q) = %#x, want %#x", tc.opts, got, tc.want)
		}
	}
}
