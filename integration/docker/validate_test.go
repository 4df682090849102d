package docker_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/dockertest"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
)

// TestDaemonJSONValidates hands what `zfslxc config docker` prints to the
// real dockerd's --validate (no daemon starts): every key is one Docker
// 29 knows, with a value it takes; a misspelt key is refused, so the check
// can fail.
func TestDaemonJSONValidates(t *testing.T) {
	dockerd := os.Getenv(dockertest.DockerdEnv)
	if dockerd == "" {
		dockerd = dockertest.DefaultDockerd
	}
	if _, err := os.Stat(dockerd); err != nil {
		containerdtest.SkipOrFail(t, "dockerd: %v (scripts/deps.sh --test builds it)", err)
	}
	for _, tc := range []struct {
		name string
		json string
		ok   bool
	}{
		{"default", string(dockerconfig.JSON(dockerconfig.Options{})), true},
		{"default runtime, containerd socket", string(dockerconfig.JSON(dockerconfig.Options{RuntimeName: "zl", DefaultRuntime: true, Containerd: "/run/c.sock"})), true},
		{"misspelt key", `{"storage-drivers": "zfslxc"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "daemon.json")
			if err := os.WriteFile(path, []byte(tc.json), 0o600); err != nil {
				t.Fatal(err)
			}
			// A userland proxy path: packaged dockerd finds docker-proxy
			// on PATH, this one is told where it is.
			out, err := exec.Command(dockerd, "--validate", "--config-file", path, "--userland-proxy-path", "/bin/true").CombinedOutput()
			if tc.ok && (err != nil || !strings.Contains(string(out), "configuration OK")) {
				t.Errorf("dockerd --validate refused:\n%s\n%s: %v", tc.json, out, err)
			}
			if !tc.ok && err == nil {
				t.Errorf("dockerd --validate accepted %s", tc.json)
			}
		})
	}
}
