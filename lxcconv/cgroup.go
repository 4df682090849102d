package lxcconv

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cg adds a cgroup key for the host's cgroup version.
func (c *converter) cg(file, value string) error {
	prefix := "lxc.cgroup."
	if c.opts.CgroupVersion == 2 {
		prefix = "lxc.cgroup2."
	}
	return c.add(prefix+file, value)
}

func (c *converter) v2() bool { return c.opts.CgroupVersion == 2 }

func (c *converter) cgroups() error {
	if err := c.cgroupsPath(); err != nil {
		return err
	}
	r := c.spec.Linux.Resources
	if err := c.deviceRules(r); err != nil {
		return err
	}
	return c.resources(r)
}

// resources maps linux.resources without the device rules.
func (c *converter) resources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	for _, step := range []func(*specs.LinuxResources) error{
		c.memory, c.cpu, c.pids, c.blockIO, c.hugepages, c.netCgroup, c.rdma, c.unified,
	} {
		if err := step(r); err != nil {
			return err
		}
	}
	return nil
}

// ResourceEntries returns the cgroup keys (lxc.cgroup.* for cgroup
// version 1, lxc.cgroup2.* for 2) that Convert writes for r, in the same
// order, and the warnings, so that updating a running container's
// resources applies exactly what creating it would have. Device rules are
// left out: `runc update` does not change them either. An error names the
// field that cannot be applied.
func ResourceEntries(r *specs.LinuxResources, cgroupVersion int) ([]Entry, []Warning, error) {
	if cgroupVersion != 1 && cgroupVersion != 2 {
		return nil, nil, fmt.Errorf("cgroup version %d: want 1 or 2", cgroupVersion)
	}
	c := &converter{
		spec: &specs.Spec{Linux: &specs.Linux{Resources: r}},
		opts: Options{CgroupVersion: cgroupVersion},
		cfg:  &Config{},
		res:  &Result{},
	}
	if err := c.resources(r); err != nil {
		return nil, nil, err
	}
	return append(c.cfg.Entries, c.res.LateCgroup...), c.res.Warnings, nil
}

// expandSlice turns a systemd slice name into its cgroup path, as systemd
// does ("a-b.slice" lives in "a.slice/a-b.slice").
func expandSlice(slice string) (string, error) {
	if !strings.HasSuffix(slice, ".slice") || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice %q", slice)
	}
	name := strings.TrimSuffix(slice, ".slice")
	if name == "-" || name == "" {
		return "", nil
	}
	var parts []string
	prefix := ""
	for _, comp := range strings.Split(name, "-") {
		if comp == "" {
			return "", fmt.Errorf("invalid slice %q", slice)
		}
		parts = append(parts, prefix+comp+".slice")
		prefix += comp + "-"
	}
	return path.Join(parts...), nil
}

func (c *converter) cgroupsPath() error {
	p := c.spec.Linux.CgroupsPath
	if p == "" {
		return nil
	}
	const field = "linux.cgroupsPath"
	if !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2 {
		// systemd form "slice:prefix:name".
		parts := strings.SplitN(p, ":", 3)
		slice := parts[0]
		if slice == "" {
			slice = "system.slice"
		}
		dir, err := expandSlice(slice)
		if err != nil {
			return fieldErr(field, "%v", err)
		}
		unit := parts[2]
		if !strings.HasSuffix(unit, ".slice") {
			if parts[1] != "" {
				unit = parts[1] + "-" + unit
			}
			unit += ".scope"
		}
		p = path.Join(dir, unit)
		c.warn(field, "systemd form mapped to the cgroupfs path %q; LXC does not register a systemd unit", p)
	}
	clean := strings.TrimPrefix(path.Clean("/"+p), "/")
	if clean == "" {
		return fieldErr(field, "%q is the root cgroup", c.spec.Linux.CgroupsPath)
	}
	if err := noBlank(field, clean); err != nil {
		return err
	}
	// As root, LXC escapes to the root cgroup (lxc.cgroup.relative = 0),
	// so these are relative to the hierarchy root, like runc's cgroupfs
	// driver. The monitor needs a cgroup of its own (LXC wants both keys).
	monitor, err := c.monitorCgroup(clean)
	if err != nil {
		return err
	}
	if err := c.add("lxc.cgroup.dir.container", clean); err != nil {
		return err
	}
	return c.add("lxc.cgroup.dir.monitor", monitor)
}

// monitorCgroup is lxc.cgroup.dir.monitor for the container cgroup clean:
// Options.MonitorCgroup, or a sibling of clean. It must be apart from the
// container's cgroup: neither it, nor above or below it.
func (c *converter) monitorCgroup(clean string) (string, error) {
	const field = "Options.MonitorCgroup"
	if c.opts.MonitorCgroup == "" {
		dir, base := path.Split(clean)
		return path.Join(dir, "lxc.monitor."+base), nil
	}
	m := strings.TrimPrefix(path.Clean("/"+c.opts.MonitorCgroup), "/")
	switch {
	case m == "":
		return "", fieldErr(field, "%q is the root cgroup", c.opts.MonitorCgroup)
	case m == clean || strings.HasPrefix(clean, m+"/") || strings.HasPrefix(m, clean+"/"):
		return "", fieldErr(field, "%q is, or is above or below, the container's cgroup %q", m, clean)
	}
	if err := noBlank(field, m); err != nil {
		return "", err
	}
	return m, nil
}

type devRule struct {
	typ          string
	major, minor *int64
	access       string
}

func (r devRule) String() string {
	num := func(p *int64) string {
		if p == nil {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	return fmt.Sprintf("%s %s:%s %s", r.typ, num(r.major), num(r.minor), r.access)
}

func (r devRule) overlaps(o devRule) bool {
	eq := func(a, b *int64) bool { return a == nil || b == nil || *a == *b }
	if r.typ != o.typ && r.typ != "a" && o.typ != "a" {
		return false
	}
	return eq(r.major, o.major) && eq(r.minor, o.minor) && strings.ContainsAny(r.access, o.access)
}

func i64(v int64) *int64 { return &v }

// runcAllowedDevices are appended after the spec's rules, as runc does, so
// the nodes LXC's autodev and devpts create are usable.
var runcAllowedDevices = []devRule{
	{"c", nil, nil, "m"},
	{"b", nil, nil, "m"},
	{"c", i64(1), i64(3), "rwm"}, // null
	{"c", i64(1), i64(8), "rwm"}, // random
	{"c", i64(1), i64(7), "rwm"}, // full
	{"c", i64(5), i64(0), "rwm"}, // tty
	{"c", i64(1), i64(5), "rwm"}, // zero
	{"c", i64(1), i64(9), "rwm"}, // urandom
	{"c", i64(136), nil, "rwm"},  // pts
	{"c", i64(5), i64(2), "rwm"}, // ptmx
}

// deviceRules maps linux.resources.devices. OCI rules are evaluated in
// order, last match wins, from a deny-all start (runc). LXC's device
// program (cgroup1 files or the cgroup2 eBPF emulation) is an allowlist
// after "deny = a" (specific deny rules ignored) or a denylist after
// "allow = a" (specific allow rules ignored). A spec that revokes access an
// earlier rule granted cannot be expressed and is refused.
func (c *converter) deviceRules(r *specs.LinuxResources) error {
	var rules []specs.LinuxDeviceCgroup
	if r != nil {
		rules = r.Devices
	}
	// The deny-all start, unless the spec's first rule says it already.
	if len(rules) == 0 || rules[0].Allow || rules[0].Type != "" && rules[0].Type != "a" ||
		rules[0].Major != nil || rules[0].Minor != nil || rules[0].Access != "" && rules[0].Access != "rwm" {
		if err := c.cg("devices.deny", "a"); err != nil {
			return err
		}
	}
	allowlist := true
	var granted []devRule
	for i, d := range rules {
		field := fmt.Sprintf("linux.resources.devices[%d]", i)
		rule := devRule{typ: d.Type, major: d.Major, minor: d.Minor, access: d.Access}
		if rule.typ == "" {
			rule.typ = "a"
		}
		if rule.access == "" {
			rule.access = "rwm"
		}
		switch rule.typ {
		case "a", "c", "b":
		default:
			return fieldErr(field+".type", "unknown device type %q", d.Type)
		}
		if strings.Trim(rule.access, "rwm") != "" || len(rule.access) > 3 {
			return fieldErr(field+".access", "invalid access %q", d.Access)
		}
		all := rule.typ == "a" && rule.major == nil && rule.minor == nil &&
			strings.Contains(rule.access, "r") && strings.Contains(rule.access, "w") && strings.Contains(rule.access, "m")
		if all {
			allowlist = !d.Allow
			granted = nil
			key := "devices.deny"
			if d.Allow {
				key = "devices.allow"
			}
			if err := c.cg(key, "a"); err != nil {
				return err
			}
			continue
		}
		if rule.typ == "a" {
			return fieldErr(field, "a rule on all device types with a major, minor or partial access cannot be expressed in LXC")
		}
		switch {
		case d.Allow && allowlist:
			if slices.ContainsFunc(granted, func(g devRule) bool { return g.String() == rule.String() }) {
				continue
			}
			granted = append(granted, rule)
			if err := c.cg("devices.allow", rule.String()); err != nil {
				return err
			}
		case !d.Allow && !allowlist:
			if err := c.cg("devices.deny", rule.String()); err != nil {
				return err
			}
		case !d.Allow && allowlist:
			for _, g := range granted {
				if g.overlaps(rule) {
					return fieldErr(field, "denying %q after allowing %q cannot be expressed in LXC's allowlist device program", rule, g)
				}
			}
			// Denying what is already denied: nothing to write.
		default:
			c.warn(field, "allow %q after allowing all devices is ignored by LXC's denylist device program", rule)
		}
	}
	if allowlist {
		for _, d := range runcAllowedDevices {
			if slices.ContainsFunc(granted, func(g devRule) bool { return g.String() == d.String() }) {
				continue
			}
			if err := c.cg("devices.allow", d.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

func limitValue(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// swapV2 converts OCI memory+swap to cgroup2 memory.swap.max as runc does.
func swapV2(swap, mem int64) (int64, error) {
	if mem == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if mem == 0 || mem == -1 {
		return 0, fmt.Errorf("unable to set swap limit without memory limit")
	}
	if mem < 0 {
		return 0, fmt.Errorf("invalid memory value %d", mem)
	}
	if swap < mem {
		return 0, fmt.Errorf("memory+swap limit %d should be >= memory limit %d", swap, mem)
	}
	return swap - mem, nil
}

// memoryField is the OCI path of the memory resources.
const memoryField = "linux.resources.memory"

func (c *converter) memory(r *specs.LinuxResources) error {
	m := r.Memory
	if m == nil {
		return nil
	}
	for name, v := range map[string]*int64{"limit": m.Limit, "reservation": m.Reservation, "swap": m.Swap} {
		if v != nil && *v < -1 {
			return fieldErr(memoryField+"."+name, "%d is invalid (want -1 for unlimited or a byte count)", *v)
		}
	}
	if m.Kernel != nil {
		c.warn(memoryField+".kernel", "kernel memory limits are deprecated and not applied (as runc)")
	}
	if m.CheckBeforeUpdate != nil {
		c.warn(memoryField+".checkBeforeUpdate", "only meaningful for updates; not applied at create")
	}
	if c.v2() {
		return c.memoryV2(m)
	}
	return c.memoryV1(m)
}

// memoryV2 maps the memory resources to cgroup v2 files; what v2 lacks
// is a warning, as runc.
func (c *converter) memoryV2(m *specs.LinuxMemory) error {
	if m.Limit != nil && *m.Limit != 0 {
		if err := c.cg("memory.max", limitValue(*m.Limit)); err != nil {
			return err
		}
	}
	if m.Reservation != nil && *m.Reservation != 0 {
		if err := c.cg("memory.low", limitValue(*m.Reservation)); err != nil {
			return err
		}
	}
	if m.Swap != nil {
		var mem int64
		if m.Limit != nil {
			mem = *m.Limit
		}
		sw, err := swapV2(*m.Swap, mem)
		if err != nil {
			return fieldErr(memoryField+".swap", "%v", err)
		}
		if sw != 0 {
			if err := c.cg("memory.swap.max", limitValue(sw)); err != nil {
				return err
			}
		}
	}
	if m.KernelTCP != nil {
		c.warn(memoryField+".kernelTCP", "not available on cgroup v2; not applied (as runc)")
	}
	if m.Swappiness != nil {
		c.warn(memoryField+".swappiness", "not available on cgroup v2; not applied (as runc)")
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		c.warn(memoryField+".disableOOMKiller", "not available on cgroup v2; not applied (as runc)")
	}
	if m.UseHierarchy != nil {
		c.warn(memoryField+".useHierarchy", "always on in cgroup v2")
	}
	return nil
}

// memoryV1 maps the memory resources to the v1 memory controller's files.
func (c *converter) memoryV1(m *specs.LinuxMemory) error {
	for _, e := range []struct {
		file string
		v    *int64
	}{
		{"memory.limit_in_bytes", m.Limit},
		{"memory.soft_limit_in_bytes", m.Reservation},
		{"memory.memsw.limit_in_bytes", m.Swap},
		{"memory.kmem.tcp.limit_in_bytes", m.KernelTCP},
	} {
		if e.v == nil || *e.v == 0 {
			continue
		}
		if err := c.cg(e.file, strconv.FormatInt(*e.v, 10)); err != nil {
			return err
		}
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			return fieldErr(memoryField+".swappiness", "%d is above 100", *m.Swappiness)
		}
		if err := c.cg("memory.swappiness", strconv.FormatUint(*m.Swappiness, 10)); err != nil {
			return err
		}
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		if err := c.cg("memory.oom_control", "1"); err != nil {
			return err
		}
	}
	if m.UseHierarchy != nil {
		v := "0"
		if *m.UseHierarchy {
			v = "1"
		}
		if err := c.cg("memory.use_hierarchy", v); err != nil {
			return err
		}
	}
	return nil
}

// sharesToWeight converts cgroup1 cpu.shares to cgroup2 cpu.weight as runc.
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + ((shares-2)*9999)/262142
}

func (c *converter) cpu(r *specs.LinuxResources) error {
	p := r.CPU
	if p == nil {
		return nil
	}
	const f = "linux.resources.cpu"
	if c.v2() {
		if p.Shares != nil && *p.Shares != 0 {
			if err := c.cg("cpu.weight", strconv.FormatUint(sharesToWeight(*p.Shares), 10)); err != nil {
				return err
			}
		}
		if p.Quota != nil || p.Period != nil {
			q := "max"
			if p.Quota != nil && *p.Quota > 0 {
				q = strconv.FormatInt(*p.Quota, 10)
			}
			v := q
			if p.Period != nil && *p.Period != 0 {
				v += " " + strconv.FormatUint(*p.Period, 10)
			}
			if p.Quota != nil && *p.Quota == 0 && (p.Period == nil || *p.Period == 0) {
				v = ""
			}
			if v != "" {
				if err := c.cg("cpu.max", v); err != nil {
					return err
				}
			}
		}
		if p.Burst != nil {
			if err := c.cg("cpu.max.burst", strconv.FormatUint(*p.Burst, 10)); err != nil {
				return err
			}
		}
		if p.RealtimeRuntime != nil || p.RealtimePeriod != nil {
			return fieldErr(f+".realtimeRuntime", "realtime scheduling limits are not available on cgroup v2")
		}
		if p.Idle != nil {
			if err := c.cg("cpu.idle", strconv.FormatInt(*p.Idle, 10)); err != nil {
				return err
			}
		}
	} else {
		if p.Shares != nil && *p.Shares != 0 {
			if err := c.cg("cpu.shares", strconv.FormatUint(*p.Shares, 10)); err != nil {
				return err
			}
		}
		if p.Quota != nil && *p.Quota != 0 {
			if err := c.cg("cpu.cfs_quota_us", strconv.FormatInt(*p.Quota, 10)); err != nil {
				return err
			}
		}
		if p.Period != nil && *p.Period != 0 {
			if err := c.cg("cpu.cfs_period_us", strconv.FormatUint(*p.Period, 10)); err != nil {
				return err
			}
		}
		if p.Burst != nil {
			if err := c.cg("cpu.cfs_burst_us", strconv.FormatUint(*p.Burst, 10)); err != nil {
				return err
			}
		}
		if p.RealtimePeriod != nil && *p.RealtimePeriod != 0 {
			if err := c.cg("cpu.rt_period_us", strconv.FormatUint(*p.RealtimePeriod, 10)); err != nil {
				return err
			}
		}
		if p.RealtimeRuntime != nil && *p.RealtimeRuntime != 0 {
			if err := c.cg("cpu.rt_runtime_us", strconv.FormatInt(*p.RealtimeRuntime, 10)); err != nil {
				return err
			}
		}
		if p.Idle != nil {
			return fieldErr(f+".idle", "cpu.idle is only available on cgroup v2")
		}
	}
	if p.Cpus != "" {
		if err := c.cg("cpuset.cpus", p.Cpus); err != nil {
			return fieldErr(f+".cpus", "%v", err)
		}
	}
	if p.Mems != "" {
		if err := c.cg("cpuset.mems", p.Mems); err != nil {
			return fieldErr(f+".mems", "%v", err)
		}
	}
	return nil
}

// pids maps the pids limit to Result.LateCgroup (see there).
func (c *converter) pids(r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit == 0 {
		return nil
	}
	if _, ok := r.Unified["pids.max"]; ok && c.v2() {
		return nil // unified wins, as in runc
	}
	key := "lxc.cgroup.pids.max"
	if c.v2() {
		key = "lxc.cgroup2.pids.max"
	}
	c.res.LateCgroup = append(c.res.LateCgroup, Entry{Key: key, Value: limitValue(*r.Pids.Limit)})
	return nil
}

// blkioToIOWeight converts a blkio weight (10…1000) to io.weight (1…10000).
func blkioToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

func (c *converter) blockIO(r *specs.LinuxResources) error {
	b := r.BlockIO
	if b == nil {
		return nil
	}
	const f = "linux.resources.blockIO"
	checkW := func(field string, w *uint16) error {
		if w != nil && *w != 0 && (*w < 10 || *w > 1000) {
			return fieldErr(field, "%d is outside 10…1000", *w)
		}
		return nil
	}
	if err := checkW(f+".weight", b.Weight); err != nil {
		return err
	}
	for i, d := range b.WeightDevice {
		if err := checkW(fmt.Sprintf("%s.weightDevice[%d].weight", f, i), d.Weight); err != nil {
			return err
		}
	}
	type thr struct {
		v1, v2 string
		list   []specs.LinuxThrottleDevice
	}
	throttles := []thr{
		{"blkio.throttle.read_bps_device", "rbps", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", "wbps", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", "riops", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", "wiops", b.ThrottleWriteIOPSDevice},
	}
	if c.v2() {
		if b.Weight != nil && *b.Weight != 0 {
			if err := c.cg("io.weight", strconv.FormatUint(blkioToIOWeight(*b.Weight), 10)); err != nil {
				return err
			}
		}
		if b.LeafWeight != nil {
			c.warn(f+".leafWeight", "not available on cgroup v2; not applied (as runc)")
		}
		for i, d := range b.WeightDevice {
			if d.LeafWeight != nil {
				c.warn(fmt.Sprintf("%s.weightDevice[%d].leafWeight", f, i), "not available on cgroup v2; not applied (as runc)")
			}
			if d.Weight != nil && *d.Weight != 0 {
				if err := c.cg("io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, blkioToIOWeight(*d.Weight))); err != nil {
					return err
				}
			}
		}
		for _, t := range throttles {
			for _, d := range t.list {
				if err := c.cg("io.max", fmt.Sprintf("%d:%d %s=%d", d.Major, d.Minor, t.v2, d.Rate)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if b.Weight != nil && *b.Weight != 0 {
		if err := c.cg("blkio.weight", strconv.FormatUint(uint64(*b.Weight), 10)); err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := c.cg("blkio.leaf_weight", strconv.FormatUint(uint64(*b.LeafWeight), 10)); err != nil {
			return err
		}
	}
	for _, d := range b.WeightDevice {
		if d.Weight != nil {
			if err := c.cg("blkio.weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)); err != nil {
				return err
			}
		}
		if d.LeafWeight != nil {
			if err := c.cg("blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight)); err != nil {
				return err
			}
		}
	}
	for _, t := range throttles {
		for _, d := range t.list {
			if err := c.cg(t.v1, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *converter) hugepages(r *specs.LinuxResources) error {
	for i, h := range r.HugepageLimits {
		field := fmt.Sprintf("linux.resources.hugepageLimits[%d].pageSize", i)
		if h.Pagesize == "" || strings.Trim(h.Pagesize, "0123456789KMGB") != "" {
			return fieldErr(field, "invalid page size %q", h.Pagesize)
		}
		file := "hugetlb." + h.Pagesize + ".limit_in_bytes"
		if c.v2() {
			file = "hugetlb." + h.Pagesize + ".max"
		}
		if err := c.cg(file, strconv.FormatUint(h.Limit, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (c *converter) netCgroup(r *specs.LinuxResources) error {
	n := r.Network
	if n == nil {
		return nil
	}
	if c.v2() {
		return fieldErr("linux.resources.network", "net_cls/net_prio are not available on cgroup v2")
	}
	if n.ClassID != nil {
		if err := c.cg("net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	for i, p := range n.Priorities {
		if err := noBlank(fmt.Sprintf("linux.resources.network.priorities[%d].name", i), p.Name); err != nil {
			return err
		}
		if err := c.cg("net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
			return err
		}
	}
	return nil
}

func (c *converter) rdma(r *specs.LinuxResources) error {
	names := make([]string, 0, len(r.Rdma))
	for k := range r.Rdma {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, dev := range names {
		field := "linux.resources.rdma[" + dev + "]"
		if err := noBlank(field, dev); err != nil {
			return err
		}
		l := r.Rdma[dev]
		v := dev
		if l.HcaHandles != nil {
			v += fmt.Sprintf(" hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			v += fmt.Sprintf(" hca_object=%d", *l.HcaObjects)
		}
		if v == dev {
			continue
		}
		if err := c.cg("rdma.max", v); err != nil {
			return fieldErr(field, "%v", err)
		}
	}
	return nil
}

func (c *converter) unified(r *specs.LinuxResources) error {
	if len(r.Unified) == 0 {
		return nil
	}
	if !c.v2() {
		return fieldErr("linux.resources.unified", "needs a cgroup v2 host")
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := "linux.resources.unified[" + k + "]"
		if !strings.Contains(k, ".") || strings.Contains(k, "/") || strings.HasPrefix(k, "cgroup.") && k != "cgroup.freeze" {
			return fieldErr(field, "not a controller file")
		}
		if strings.HasPrefix(k, "devices.") {
			return fieldErr(field, "cgroup v2 has no devices files; use linux.resources.devices")
		}
		// Written after the typed fields, so unified wins, as in runc.
		if err := c.cg(k, r.Unified[k]); err != nil {
			return fieldErr(field, "%v", err)
		}
	}
	return nil
}

// autodevNodes are the nodes LXC's autodev creates.
var autodevNodes = map[string][2]int64{
	"/dev/null": {1, 3}, "/dev/zero": {1, 5}, "/dev/full": {1, 7},
	"/dev/random": {1, 8}, "/dev/urandom": {1, 9}, "/dev/tty": {5, 0},
}

// devices maps linux.devices: LXC has no key for arbitrary nodes, so they
// go to Result.Devices, which the runtime creates in the container's mount
// namespace once init is ready (before the process runs). Access is the
// device cgroup's (linux.resources.devices), as under runc.
func (c *converter) devices() error {
	for i, d := range c.spec.Linux.Devices {
		field := fmt.Sprintf("linux.devices[%d]", i)
		p := path.Clean(d.Path)
		if !path.IsAbs(d.Path) || strings.ContainsAny(d.Path, "\x00\n") {
			return fieldErr(field+".path", "%q is not an absolute path", d.Path)
		}
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			return fieldErr(field+".type", "unknown device type %q", d.Type)
		}
		if mm, ok := autodevNodes[p]; ok && c.autodev {
			if d.Type != "c" || d.Major != mm[0] || d.Minor != mm[1] {
				return fieldErr(field, "%s must be c %d:%d (LXC autodev creates it)", p, mm[0], mm[1])
			}
			continue
		}
		c.res.Devices = append(c.res.Devices, Device{
			Path: p, Type: d.Type, Major: d.Major, Minor: d.Minor,
			FileMode: d.FileMode, UID: d.UID, GID: d.GID,
		})
	}
	return nil
}
