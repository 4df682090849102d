package lxcconv

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestResourceEntries: what Update writes is what Convert configures for
// the same resources, device rules and the cgroup directory aside.
func TestResourceEntries(t *testing.T) {
	res := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(128 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0"},
		Pids:    &specs.LinuxPids{Limit: i64(42)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500)},
	}
	for _, v := range []int{1, 2} {
		spec := baseSpec()
		spec.Linux.Resources = res
		spec.Linux.CgroupsPath = "/zfslxc/c1"
		opts := baseOptions()
		opts.CgroupVersion = v
		full, err := Convert(spec, opts)
		if err != nil {
			t.Fatalf("v%d: Convert: %v", v, err)
		}
		var want []Entry
		for _, e := range full.Config.Entries {
			if (strings.HasPrefix(e.Key, "lxc.cgroup.") || strings.HasPrefix(e.Key, "lxc.cgroup2.")) &&
				!strings.Contains(e.Key, ".devices.") && !strings.HasPrefix(e.Key, "lxc.cgroup.dir.") {
				want = append(want, e)
			}
		}
		want = append(want, full.LateCgroup...)
		got, _, err := ResourceEntries(res, v)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if len(want) < 8 || !slices.Equal(got, want) {
			t.Errorf("v%d: ResourceEntries\n%v\nConvert's cgroup keys\n%v", v, got, want)
		}
	}
	if e, w, err := ResourceEntries(nil, 2); err != nil || e != nil || w != nil {
		t.Errorf("nil resources: %v %v %v", e, w, err)
	}
	if _, _, err := ResourceEntries(res, 3); err == nil {
		t.Error("cgroup version 3: no error")
	}
	_, _, err := ResourceEntries(&specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}, 1)
	if err == nil || err.Error() != "linux.resources.unified: needs a cgroup v2 host" {
		t.Errorf("unified on v1: %v", err)
	}
}
