package ondisk

import (
	"strings"
	"testing"
)

func TestParseCommitted(t *testing.T) {
	for _, tc := range []struct {
		name, parent string
		id           uint64
		ok           bool
	}{
		{"tank/zfslxc/12@committed", "tank/zfslxc", 12, true},
		{Committed(Dataset("p/a/b", "7")), "p/a/b", 7, true},
		{"tank/zfslxc/12", "", 0, false},
		{"tank/zfslxc/12@template", "", 0, false},
		{"tank/zfslxc/web@committed", "", 0, false},
		{"12@committed", "", 0, false},
		{"tank/zfslxc/-1@committed", "", 0, false},
	} {
		parent, id, ok := ParseCommitted(tc.name)
		if parent != tc.parent || id != tc.id || ok != tc.ok {
			t.Errorf("ParseCommitted(%q) = %q, %d, %v; want %q, %d, %v", tc.name, parent, id, ok, tc.parent, tc.id, tc.ok)
		}
	}
}

func TestKeyPropRoundTrip(t *testing.T) {
	for _, key := range []string{"default/3/sha256:abc", "k8s.io/1/a b\nc%d", "with/slash/é"} {
		v := KeyProp(key)
		if strings.ContainsAny(v, " \n") {
			t.Errorf("KeyProp(%q) = %q: unescaped", key, v)
		}
		got, err := ParseKeyProp(v)
		if err != nil || got != key {
			t.Errorf("ParseKeyProp(KeyProp(%q)) = %q, %v", key, got, err)
		}
	}
	if v := KeyProp(strings.Repeat("x", 10000)); len(v) != maxKeyProp+3 {
		t.Errorf("long key: %d bytes, want it cut to %d", len(v), maxKeyProp+3)
	}
}

func TestIsID(t *testing.T) {
	for name, want := range map[string]bool{"0": true, "184": true, "": false, "a1": false, "1.5": false, "-2": false} {
		if IsID(name) != want {
			t.Errorf("IsID(%q) = %v", name, !want)
		}
	}
}
