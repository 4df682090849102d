package lxcconv

import (
	"strings"
	"testing"
)

func TestConfigAdd(t *testing.T) {
	tests := []struct {
		key, value string
		wantErr    string
	}{
		{"lxc.uts.name", "web", ""},
		{"lxc.cgroup2.hugetlb.2MB.max", "1", ""},
		{"lxc.net", "", ""},
		{"lxc.cgroup2.cpu.max", "max 100000", ""},
		{"lxc.uts.name", "a\nlxc.init.cmd = /evil", "lxc.uts.name"},
		{"lxc.uts.name", "a\rb", "lxc.uts.name"},
		{"lxc.uts.name", "a\x00b", "lxc.uts.name"},
		{"lxc.uts.name", " web", "leading or trailing"},
		{"lxc.uts.name", "web\t", "leading or trailing"},
		{"", "x", "empty key"},
		{"uts.name", "x", "must start with"},
		{"lxc.uts name", "x", "invalid character"},
		{"lxc.a=b", "x", "invalid character"},
		{"lxc..x", "x", "empty key component"},
	}
	for _, tc := range tests {
		var c Config
		err := c.Add(tc.key, tc.value)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Add(%q, %q): %v", tc.key, tc.value, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Add(%q, %q) = %v, want error containing %q", tc.key, tc.value, err, tc.wantErr)
		}
	}
}

func TestConfigWriteParse(t *testing.T) {
	var c Config
	for _, e := range []Entry{
		{"lxc.uts.name", "web"},
		{"lxc.net", ""},
		{"lxc.mount.entry", `/srv/a\040b data none bind,create=dir 0 0`},
		{"lxc.cgroup2.cpu.max", "max 100000"},
		{"lxc.idmap", "u 0 100000 65536"},
		{"lxc.idmap", "g 0 100000 65536"},
	} {
		if err := c.Add(e.Key, e.Value); err != nil {
			t.Fatal(err)
		}
	}
	want := "lxc.uts.name = web\nlxc.net =\nlxc.mount.entry = /srv/a\\040b data none bind,create=dir 0 0\n" +
		"lxc.cgroup2.cpu.max = max 100000\nlxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"
	if got := c.String(); got != want {
		t.Fatalf("String:\n%s\nwant:\n%s", got, want)
	}
	back, err := Parse(strings.NewReader("# generated\n\n   \n" + want + "  # trailing comment\n"))
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != want {
		t.Errorf("Parse round trip:\n%s", back.String())
	}
	if got := back.Get("lxc.idmap"); len(got) != 2 || got[1] != "g 0 100000 65536" {
		t.Errorf("Get = %v", got)
	}
	for _, bad := range []string{"lxc.uts.name web\n", "= x\n", "lxc.a b = c\n"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestEscapeFstab(t *testing.T) {
	got, err := escapeFstab("/a b\tc\\d\ne")
	if err != nil || got != `/a\040b\011c\134d\012e` {
		t.Errorf("escapeFstab = %q, %v", got, err)
	}
	for _, bad := range []string{"a\rb", "a\x00b", "a\u00a0b", "a\x01"} {
		if _, err := escapeFstab(bad); err == nil {
			t.Errorf("escapeFstab(%q) succeeded", bad)
		}
	}
}
