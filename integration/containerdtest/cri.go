package containerdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
)

// Environment variables naming the CRI tools (scripts/deps.sh --print-env
// sets them; `make deps-test` builds them).
const (
	CrictlEnv  = "ZFSLXC_CRICTL"
	CritestEnv = "ZFSLXC_CRITEST"
	KubeletEnv = "ZFSLXC_KUBELET"
)

// CNIBinDir is where Debian's containernetworking-plugins puts bridge,
// portmap, loopback and host-local.
const CNIBinDir = "/usr/lib/cni"

// CRIOptions configure StartCRI.
type CRIOptions struct {
	// Snapshotter and SnapshotterAddress register the zfslxc snapshotter
	// (required: the LXC handler uses it).
	SnapshotterAddress string
	// SandboxImage is the pause image (imported by the test under that
	// name before the first pod).
	SandboxImage string
	// DefaultLXC makes the lxc handler CRI's default runtime (the kubelet
	// test: pods without a RuntimeClass).
	DefaultLXC bool
	// ShimOptions are inline shim.toml keys for the lxc handler.
	ShimOptions map[string]string
	// ExtraConfig is containerd config appended as it is (a benchmark's
	// extra runtime handler).
	ExtraConfig string
	// RegistryConfigPath is a containerd hosts directory for CRI pulls
	// (a local registry: registrytest.Registry.HostsDir).
	RegistryConfigPath string
}

// CRI is a containerd with its CRI plugin serving on Address, the LXC
// shim under the runtime handler "lxc" (and runc as "runc"), and a CNI
// bridge network of its own.
type CRI struct {
	*Daemon
	// Endpoint is the CRI endpoint for crictl and the kubelet.
	Endpoint string
	// CNIConfDir holds the network config; Bridge and Subnet are its
	// bridge device and IPv4 range.
	CNIConfDir, Bridge, Subnet string
}

// StartCRI starts flavor f with CRI enabled, configured by
// containerdconfig.Snippet and containerdconfig.CRI (what `zfslxc config
// containerd` prints) plus what this host needs: restrict_oom_score_adj
// (no CAP_SYS_RESOURCE here), Debian's CNI plugins and a bridge+portmap
// network with a fresh bridge and /24 of its own, removed at cleanup.
func StartCRI(t testing.TB, f Flavor, o CRIOptions) *CRI {
	t.Helper()
	RequireHost(t, f)
	for _, p := range []string{"bridge", "portmap", "loopback", "host-local"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, p)); err != nil {
			SkipOrFail(t, "CNI plugin %s missing (apt-get install containernetworking-plugins): %v", p, err)
		}
	}
	c := &CRI{CNIConfDir: ScratchDir(t, "zfslxc-cni-")}
	c.Bridge, c.Subnet = freeBridge(t)
	ipamDir := filepath.Join(c.CNIConfDir, "ipam")
	netconf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "zfslxc-" + c.Bridge,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": c.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": ipamDir,
					"ranges": [][]map[string]string{{{"subnet": c.Subnet}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(netconf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.CNIConfDir, "10-zfslxc.conflist"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// After the daemon's cleanup (registered later, run earlier).
		if err := exec.Command("ip", "link", "del", c.Bridge).Run(); err != nil && linkExists(c.Bridge) {
			t.Logf("removing bridge %s: %v", c.Bridge, err)
		}
	})
	extra := containerdconfig.Snippet(containerdconfig.Options{
		ConfigVersion: f.ConfigVersion, SnapshotterName: SnapshotterName, SnapshotterAddress: o.SnapshotterAddress,
	})
	cri, err := containerdconfig.CRI(containerdconfig.CRIOptions{
		ConfigVersion:       f.ConfigVersion,
		Snapshotter:         SnapshotterName,
		ShimOptions:         o.ShimOptions,
		Default:             o.DefaultLXC,
		SandboxImage:        o.SandboxImage,
		RestrictOOMScoreAdj: true,
		CNIBinDir:           CNIBinDir,
		CNIConfDir:          c.CNIConfDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.RegistryConfigPath != "" {
		plugin := `"io.containerd.grpc.v1.cri"`
		if f.ConfigVersion >= 3 {
			plugin = `"io.containerd.cri.v1.images"`
		}
		cri += fmt.Sprintf("[plugins.%s.registry]\n  config_path = %q\n", plugin, o.RegistryConfigPath)
	}
	c.Daemon = start(t, f, extra+cri+o.ExtraConfig, true)
	c.Endpoint = "unix://" + c.Address
	crictl := CrictlPath(t)
	t.Cleanup(func() {
		// Before the daemon's own cleanup, which knows only ctr's
		// default namespace: every pod goes, with its containers.
		if !c.Running() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, _, err := c.CrictlContext(ctx, crictl, nil, "rmp", "--force", "--all"); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	c.WaitCRI(t)
	return c
}

// WaitCRI waits until the CRI answers and reports its network ready (CNI
// config loaded).
func (c *CRI) WaitCRI(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		out, _, err := c.Crictl(t, "info")
		if err == nil && strings.Contains(out, `"NetworkReady"`) {
			var info struct {
				Status struct {
					Conditions []struct {
						Type   string `json:"type"`
						Status bool   `json:"status"`
					} `json:"conditions"`
				} `json:"status"`
			}
			if json.Unmarshal([]byte(out), &info) == nil {
				// 2.x adds ContainerdHasNoDeprecationWarnings, false on
				// a cgroup v1 host: only these two say it can run pods.
				n, ready := 0, true
				for _, cond := range info.Status.Conditions {
					if cond.Type == "RuntimeReady" || cond.Type == "NetworkReady" {
						n++
						ready = ready && cond.Status
					}
				}
				ready = ready && n == 2
				if ready {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRI of %s not ready after %v: %v\n%s\n%s", c.Flavor.Name, startTimeout, err, out, c.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CrictlPath returns crictl from CrictlEnv, or skips (fails under
// RequireEnv).
func CrictlPath(t testing.TB) string {
	t.Helper()
	return toolPath(t, CrictlEnv, "crictl", "make deps-test")
}

func toolPath(t testing.TB, env, name, how string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		SkipOrFail(t, "%s is not set (eval \"$(scripts/deps.sh --print-env)\"; %s builds %s)", env, how, name)
	}
	if _, err := os.Stat(p); err != nil {
		SkipOrFail(t, "%s=%s: %v (%s builds it)", env, p, err, how)
	}
	return p
}

// CrictlTimeout bounds one crictl call.
const CrictlTimeout = 2 * time.Minute

// Crictl runs crictl against the CRI (bounded by CrictlTimeout) and
// returns its stdout and stderr apart; the error carries both.
func (c *CRI) Crictl(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CrictlTimeout)
	defer cancel()
	return c.CrictlContext(ctx, CrictlPath(t), nil, args...)
}

// MustCrictl is Crictl that fails the test on error and returns stdout
// without its trailing newline.
func (c *CRI) MustCrictl(t testing.TB, args ...string) string {
	t.Helper()
	out, _, err := c.Crictl(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.LogTail(30))
	}
	return strings.TrimRight(out, "\n")
}

// CrictlCommand is crictl at path against the CRI, bounded by ctx, its
// I/O left to the caller.
func (c *CRI) CrictlCommand(ctx context.Context, path string, args ...string) *exec.Cmd {
	full := append([]string{"--runtime-endpoint", c.Endpoint, "--image-endpoint", c.Endpoint, "--timeout", "60s"}, args...)
	cmd := exec.CommandContext(ctx, path, full...)
	cmd.Env = append(c.env(), "CRI_CONFIG_FILE=/dev/null")
	return cmd
}

// CrictlContext runs crictl (at path) with stdin, bounded by ctx.
func (c *CRI) CrictlContext(ctx context.Context, path string, stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := c.CrictlCommand(ctx, path, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), e.String(), fmt.Errorf("crictl %s: %w: %s", shortArgs(args), err, strings.TrimSpace(e.String()+"\n"+o.String()))
	}
	return o.String(), e.String(), nil
}

// ImportImage imports an OCI layout tarball into the CRI's namespace
// (k8s.io), unpacked into snapshotter.
func (c *CRI) ImportImage(t testing.TB, tar, snapshotter string) {
	t.Helper()
	c.MustCtr(t, "-n", "k8s.io", "images", "import", "--snapshotter", snapshotter, tar)
}

// freeBridge picks a bridge name and a 10.222.N.0/24 that no route of
// this host covers.
func freeBridge(t testing.TB) (bridge, subnet string) {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	bridge = "zcri" + hex.EncodeToString(b)[:8]
	for i := 0; i < 50; i++ {
		n, err := rand.Int(rand.Reader, big.NewInt(250))
		if err != nil {
			t.Fatal(err)
		}
		subnet = fmt.Sprintf("10.222.%d.0/24", n.Int64()+2)
		out, err := exec.Command("ip", "-4", "route", "show", "match", fmt.Sprintf("10.222.%d.1", n.Int64()+2)).Output()
		if err != nil {
			t.Fatalf("ip route: %v", err)
		}
		if !strings.Contains(string(out), "10.222.") {
			return bridge, subnet
		}
	}
	t.Fatal("no free 10.222.N.0/24")
	return "", ""
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}
