package lxcconv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzConvert feeds JSON specs to Convert: it must not panic, and every
// config it produces must parse back to the same entries.
func FuzzConvert(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/specs/*.json")
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(2))
	}
	base, _ := json.Marshal(baseSpec())
	f.Add(base, uint8(1))
	f.Add([]byte(`{"process":{"args":["a"],"cwd":"/"},"root":{"path":"/r"},"linux":{"namespaces":[{"type":"mount"}]},"mounts":[{"destination":"/a b","type":"bind","source":"/x\\ny"}]}`), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, cg uint8) {
		var spec = baseSpec()
		spec.Process = nil
		spec.Mounts = nil
		spec.Linux = nil
		if err := json.Unmarshal(data, spec); err != nil {
			return
		}
		o := goldenOptions("fuzz", int(cg%2)+1)
		res, err := Convert(spec, o)
		if err != nil {
			return
		}
		checkRoundTrip(t, res.Config)
		if res.Process == nil {
			t.Fatal("nil Process in a successful Result")
		}
		if res.SeccompProfile != "" {
			for _, l := range strings.Split(strings.TrimSuffix(res.SeccompProfile, "\n"), "\n") {
				if strings.Contains(l, "errno 0") {
					t.Fatalf("seccomp policy denies with errno 0: %q", l)
				}
			}
		}
	})
}

func checkRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	text := c.String()
	back, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, text)
	}
	if !slices.Equal(back.Entries, c.Entries) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", text, back.String())
	}
}

// FuzzConfigRoundTrip: whatever Add accepts, WriteTo and Parse preserve.
func FuzzConfigRoundTrip(f *testing.F) {
	f.Add("lxc.uts.name", "web")
	f.Add("lxc.mount.entry", `/a\040b c none bind 0 0`)
	f.Add("lxc.net", "")
	f.Add("lxc.x", "a = b # c")
	f.Add("lxc.x", "#v")
	f.Fuzz(func(t *testing.T, key, value string) {
		var c Config
		if err := c.Add(key, value); err != nil {
			return
		}
		checkRoundTrip(t, &c)
	})
}
