package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       Config
		err        string // substring; "" = success
	}{
		{name: "empty", file: "", want: Default()},
		{name: "all keys", file: "state_dir = \"/run/x\"\ninit = \"reaper\"\napparmor_profile = \"unconfined\"\nbin_dir = \"/opt/zfslxc\"\nlog_level = \"debug\"\n",
			want: Config{StateDir: "/run/x", Init: InitReaper, AppArmorProfile: "unconfined", BinDir: "/opt/zfslxc", LogLevel: "debug"}},
		{name: "init empty means exec", file: "init = \"\"\n", want: Default()},
		{name: "unknown key", file: "statedir = \"/x\"\n", err: "shim.toml:1:1: unknown key statedir"},
		{name: "bad init", file: "init = \"systemd\"\n", err: `init = "systemd": want "exec" or "reaper"`},
		{name: "relative state_dir", file: "state_dir = \"run/x\"\n", err: `state_dir = "run/x": want an absolute path`},
		{name: "relative bin_dir", file: "bin_dir = \"bin\"\n", err: `bin_dir = "bin": want an absolute path`},
		{name: "bad log level", file: "log_level = \"loud\"\n", err: `log_level = "loud"`},
		{name: "newline in profile", file: "apparmor_profile = \"a\\nb\"\n", err: "apparmor_profile"},
		{name: "wrong type", file: "init = 1\n", err: "shim.toml:1:8: key init"},
		{name: "not toml", file: "init = \n", err: "shim.toml:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "shim.toml")
			if err := os.WriteFile(p, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Load(p, true)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("Load = %v, want InvalidArgument containing %q", err, tc.err)
				}
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Load = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.toml")
	if got, err := Load(p, false); err != nil || got != Default() {
		t.Fatalf("missing default file: %+v, %v; want the defaults", got, err)
	}
	if _, err := Load(p, true); err == nil || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("missing named file: %v, want an error", err)
	}
}

func TestSampleIsDefault(t *testing.T) {
	p := filepath.Join(t.TempDir(), "shim.toml")
	if err := os.WriteFile(p, []byte(Sample), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(p, true)
	if err != nil || got != Default() {
		t.Fatalf("Sample loads as %+v, %v; want the defaults %+v", got, err, Default())
	}
}

func TestPath(t *testing.T) {
	t.Setenv(EnvPath, "")
	if p, named := Path(""); p != DefaultPath || named {
		t.Fatalf("Path() = %s, %v", p, named)
	}
	t.Setenv(EnvPath, "/etc/other.toml")
	if p, named := Path(""); p != "/etc/other.toml" || !named {
		t.Fatalf("Path() with env = %s, %v", p, named)
	}
	if p, named := Path("/opt/opt.toml"); p != "/opt/opt.toml" || !named {
		t.Fatalf("Path(option) = %s, %v", p, named)
	}
}

func TestStateDirFor(t *testing.T) {
	if got := Default().StateDirFor("/b", "ns", "id"); got != "/b/lxc" {
		t.Fatalf("default: %s", got)
	}
	if got := (Config{StateDir: "/run/s"}).StateDirFor("/b", "ns", "id"); got != "/run/s/ns/id" {
		t.Fatalf("state_dir: %s", got)
	}
}

// TestDocsSample: docs/shim.toml (installed as /etc/zfslxc/shim.toml) is
// the Sample.
func TestDocsSample(t *testing.T) {
	b, err := os.ReadFile("../../docs/shim.toml")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Sample {
		t.Fatalf("docs/shim.toml differs from config.Sample; regenerate it:\n%s", Sample)
	}
}

// TestParseInline reads the inline options table of a CRI runtime entry
// as containerd sends it in ConfigBody: TOML marshalled by containerd 2.x
// (go-toml v2: literal strings) or 1.6 (BurntSushi: basic strings).
func TestParseInline(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Config
		err        string
	}{
		{name: "containerd 2.x", body: "init = 'reaper'\nstate_dir = '/run/zfslxc/lxc'\n",
			want: Config{Init: InitReaper, StateDir: "/run/zfslxc/lxc"}},
		{name: "containerd 1.6", body: "apparmor_profile = \"unconfined\"\nlog_level = \"debug\"\n",
			want: Config{Init: InitExec, AppArmorProfile: "unconfined", LogLevel: "debug"}},
		{name: "unknown key", body: "SystemdCgroup = true\n", err: "runtime options:1:1: unknown key SystemdCgroup"},
		{name: "bad value", body: "init = 'systemd'\n", err: `init = "systemd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("runtime options", []byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "runtime options") || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("Parse = %v, want InvalidArgument naming runtime options and %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
