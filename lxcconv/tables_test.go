package lxcconv

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCapabilityTable(t *testing.T) {
	// Every capability of the kernel headers, once.
	seen := map[uint]string{}
	for name, n := range capabilities {
		if other, dup := seen[n]; dup {
			t.Errorf("%s and %s both %d", name, other, n)
		}
		seen[n] = name
	}
	if len(seen) != unix.CAP_LAST_CAP+1 {
		t.Errorf("%d capabilities, want %d (CAP_LAST_CAP+1)", len(seen), unix.CAP_LAST_CAP+1)
	}
	for _, tc := range []struct {
		in, canonical string
		n             uint
		ok            bool
	}{
		{"CAP_NET_RAW", "CAP_NET_RAW", unix.CAP_NET_RAW, true},
		{"net_raw", "CAP_NET_RAW", unix.CAP_NET_RAW, true},
		{"Cap_Sys_Admin", "CAP_SYS_ADMIN", unix.CAP_SYS_ADMIN, true},
		{"CAP_FUTURE", "CAP_FUTURE", 0, false},
	} {
		c, n, ok := Capability(tc.in)
		if c != tc.canonical || n != tc.n || ok != tc.ok {
			t.Errorf("Capability(%q) = %q, %d, %v", tc.in, c, n, ok)
		}
	}
}

func TestRlimitTable(t *testing.T) {
	res, names := map[int]bool{}, map[string]bool{}
	for typ, r := range rlimits {
		if res[r.resource] || names[r.lxc] {
			t.Errorf("%s: resource %d or LXC name %q twice", typ, r.resource, r.lxc)
		}
		res[r.resource], names[r.lxc] = true, true
	}
	// Linux has 16 resources (RLIMIT_AS … RLIMIT_RTTIME, 0…15).
	if len(rlimits) != 16 {
		t.Errorf("%d rlimits, want Linux's 16", len(rlimits))
	}
	if r, ok := RlimitResource("RLIMIT_NOFILE"); !ok || r != unix.RLIMIT_NOFILE {
		t.Errorf("RlimitResource(RLIMIT_NOFILE) = %d, %v", r, ok)
	}
	if _, ok := RlimitResource("RLIMIT_FUTURE"); ok {
		t.Error("RLIMIT_FUTURE known")
	}
}
