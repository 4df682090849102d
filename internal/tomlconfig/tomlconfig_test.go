package tomlconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

type sub struct {
	Path string `toml:"path"`
}

type conf struct {
	Name  string `toml:"name"`
	Count int    `toml:"count"`
	Sub   sub    `toml:"sub"`
}

func (c *conf) Validate() error {
	if c.Count < 0 {
		return Invalid("count", "negative", "want 0 or more")
	}
	return nil
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       conf
		errs       []string // substrings; none = success
	}{
		{name: "empty keeps defaults", file: "", want: conf{Name: "def"}},
		{name: "values", file: "name = \"x\"\ncount = 3\n[sub]\npath = \"/p\"\n", want: conf{Name: "x", Count: 3, Sub: sub{Path: "/p"}}},
		{name: "unknown key", file: "nmae = \"x\"\n", errs: []string{"c.toml:1:1: unknown key nmae"}},
		{name: "unknown keys, nested", file: "nmae = \"x\"\n[sub]\npaht = 1\n", errs: []string{"unknown key nmae", "c.toml:3:1: unknown key sub.paht"}},
		{name: "unknown table", file: "[other]\na = 1\n", errs: []string{"unknown key other"}},
		{name: "wrong type", file: "count = \"three\"\n", errs: []string{"c.toml:1:", "key count"}},
		{name: "wrong nested type", file: "[sub]\npath = 3\n", errs: []string{"c.toml:2:", "key sub.path"}},
		{name: "syntax", file: "name = \n", errs: []string{"c.toml:1:"}},
		{name: "validate names the key", file: "count = -1\n", errs: []string{"c.toml: count = \"negative\": want 0 or more"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got := conf{Name: "def"}
			found, err := Load(p, true, &got)
			if len(tc.errs) > 0 {
				if err == nil || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("Load = %v, want an InvalidArgument error", err)
				}
				for _, s := range tc.errs {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil || !found || got != tc.want {
				t.Fatalf("Load = %+v, %v, %v; want %+v", got, found, err, tc.want)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.toml")
	got := conf{Name: "def"}
	if found, err := Load(p, false, &got); err != nil || found || got.Name != "def" {
		t.Fatalf("missing default file: %+v, %v, %v; want the defaults, not found", got, found, err)
	}
	_, err := Load(p, true, &got)
	if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), p) {
		t.Fatalf("missing named file: %v, want an InvalidArgument error naming it", err)
	}
}
