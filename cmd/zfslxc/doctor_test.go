package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/doctor"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

// asMainEnv makes the test binary run main() with the arguments after
// "--", so tests see the real exit code of zfslxc.
const asMainEnv = "ZFSLXC_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(containerdtest.Main(m))
}

// runMain runs zfslxc as a process and returns its output and exit code.
func runMain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("zfslxc %v: %v", args, err)
	}
	return string(out), 0
}

func TestDoctorHelp(t *testing.T) {
	out, err := runApp(t, "doctor", "--help")
	if err != nil || !strings.Contains(out, "zfslxc doctor --dataset tank/zfslxc") || !strings.Contains(out, "--containerd-config") {
		t.Errorf("doctor --help: %v\n%s", err, out)
	}
	out, err = runApp(t, "--help")
	if err != nil || !strings.Contains(out, "doctor") || !strings.Contains(out, "gc") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}

// doctorJSON runs doctor --json and returns its checks by name (first
// result of each) and the error.
func doctorJSON(t *testing.T, args ...string) (map[string]doctor.Result, string, error) {
	t.Helper()
	out, err := runApp(t, append([]string{"doctor", "--json"}, args...)...)
	var doc struct {
		OK     bool            `json:"ok"`
		Checks []doctor.Result `json:"checks"`
	}
	if jerr := json.Unmarshal([]byte(out), &doc); jerr != nil {
		t.Fatalf("doctor --json: %v\n%s", jerr, out)
	}
	byName := map[string]doctor.Result{}
	for _, r := range doc.Checks {
		if _, ok := byName[r.Check]; !ok {
			byName[r.Check] = r
		}
	}
	if doc.OK != (err == nil) {
		t.Errorf("ok=%v but err=%v", doc.OK, err)
	}
	return byName, out, err
}

// TestDoctorRealSetup runs doctor against a real test pool, a real
// zfslxc-snapshotter and a containerd config written the way `zfslxc config
// containerd` writes it, for each containerd flavor installed (no
// containerd daemon is needed for the config checks); then breaks the
// setup.
func TestDoctorRealSetup(t *testing.T) {
	pool := testpool.New(t)
	ds := pool.Name + "/zfslxc"
	sn := containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: ds, Driver: pool.Driver, LogLevel: "info"})
	dir := t.TempDir()
	snapCfg := filepath.Join(dir, "snapshotter.toml")
	if err := os.WriteFile(snapCfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	writeConfig := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := []string{"--snapshotter-config", snapCfg, "--snapshotter-address", sn.Address,
		"--containerd-address", filepath.Join(dir, "no-containerd.sock")}
	snapshotterChecks := []string{"zfs", "pool", "dataset", "auto-snapshot", "containerd", "containerd config", "unpack_config", "snapshotter"}
	ran := 0
	for _, f := range containerdtest.Flavors() {
		if _, err := os.Stat(f.Daemon); err != nil {
			t.Logf("%s not installed (%v): not checked", f.Name, err)
			continue
		}
		ran++
		t.Run(f.Name, func(t *testing.T) {
			cfg := writeConfig(f.Name+".toml", fmt.Sprintf("version = %d\n", f.ConfigVersion)+
				containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: f.ConfigVersion, SnapshotterAddress: sn.Address}))
			got, out, _ := doctorJSON(t, append(base, "--dataset", ds, "--containerd", f.Daemon, "--containerd-config", cfg)...)
			for _, c := range snapshotterChecks {
				if r, ok := got[c]; !ok || r.Status != doctor.OK {
					t.Errorf("%s: %+v", c, r)
				}
			}
			if r, ok := got["zfs-fuse xattr"]; ok && r.Status != doctor.OK {
				t.Errorf("zfs-fuse xattr: %+v", r)
			}
			if t.Failed() {
				t.Log(out)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no containerd installed")
	}
	goodCfg := writeConfig("good.toml", "version = 2\n"+containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: 2, SnapshotterAddress: sn.Address}))
	deb := containerdtest.Debian().Daemon

	t.Run("pool missing", func(t *testing.T) {
		missing := testpool.UniqueName()
		out, code := runMain(t, append(append([]string{"doctor"}, base...), "--dataset", missing+"/zfslxc", "--containerd", deb, "--containerd-config", goodCfg)...)
		if code == 0 || !strings.Contains(out, "FAIL  pool") || !strings.Contains(out, "fix: zpool create "+missing+" DEVICE") {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
	t.Run("plugin not registered", func(t *testing.T) {
		cfg := writeConfig("none.toml", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n")
		out, code := runMain(t, append(append([]string{"doctor"}, base...), "--dataset", ds, "--containerd", deb, "--containerd-config", cfg)...)
		if code == 0 || !strings.Contains(out, "[proxy_plugins.zfslxc] is not in") ||
			!strings.Contains(out, "fix: zfslxc config containerd --version 1 --address "+sn.Address) {
			t.Errorf("exit %d\n%s", code, out)
		}
	})
	t.Run("unpack_config missing on version 3", func(t *testing.T) {
		cfg := writeConfig("v3.toml", "version = 3\n"+containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: 2, SnapshotterAddress: sn.Address}))
		got, _, err := doctorJSON(t, append(base, "--dataset", ds, "--containerd", "/nonexistent/containerd", "--containerd-config", cfg)...)
		if err == nil || got["unpack_config"].Status != doctor.Fail {
			t.Errorf("%v: %+v", err, got["unpack_config"])
		}
	})
	t.Run("snapshotter stopped", func(t *testing.T) {
		sn.Stop(t)
		defer sn.Start(t)
		got, _, err := doctorJSON(t, append(base, "--dataset", ds, "--containerd", deb, "--containerd-config", goodCfg)...)
		if r := got["snapshotter"]; err == nil || r.Status != doctor.Fail || !strings.Contains(r.Fix, "systemctl start zfslxc-snapshotter") {
			t.Errorf("%v: %+v", err, r)
		}
	})
}
