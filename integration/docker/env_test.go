package docker_test

import (
	"os"
	"testing"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/dockertest"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

const sn = containerdtest.SnapshotterName

func TestMain(m *testing.M) { os.Exit(containerdtest.Main(m)) }

// env is dockerd on containerd 2.4 with the zfslxc snapshotter as its
// storage driver and the LXC shim as runtime "lxc".
type env struct {
	d      *containerdtest.Daemon
	snap   *containerdtest.Snapshotter
	docker *dockertest.Daemon
	parent string
	// pathPrefix is containerd's PATH prefix: the shim and containerd 2.4's
	// runc shim.
	pathPrefix string
}

// setup starts the snapshotter on a fresh pool, containerd 2.4 with it and
// the shim on its PATH, and dockerd with dockerconfig.Settings plus the
// registries it may reach over plain HTTP.
func setup(t testing.TB, insecureRegistries ...string) *env {
	t.Helper()
	return setupWith(t, nil, insecureRegistries...)
}

// setupWith is setup with more daemon.json keys (replacing those of
// dockerconfig.Settings).
func setupWith(t testing.TB, extra map[string]any, insecureRegistries ...string) *env {
	t.Helper()
	bin := containerdtest.ZfslxcBinDir(t)
	f := containerdtest.V2()
	if _, err := os.Stat(f.Daemon); err != nil {
		containerdtest.SkipOrFail(t, "containerd 2.4: %v", err)
	}
	f = f.PathFirst(bin)
	p := testpool.New(t)
	e := &env{parent: p.Name + "/zfslxc", pathPrefix: f.PathPrefix}
	e.snap = containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: e.parent, Driver: p.Driver})
	e.d = containerdtest.Start(t, f, containerdconfig.Snippet(containerdconfig.Options{
		ConfigVersion: f.ConfigVersion, SnapshotterName: sn, SnapshotterAddress: e.snap.Address,
	}))
	cfg := dockerconfig.Settings(dockerconfig.Options{SnapshotterName: sn})
	// A subnet of its own for docker0, away from nerdctl's and CNI's.
	cfg["bip"] = "172.29.77.1/24"
	// Where dockerd turns IP forwarding on (a fresh host), it would also
	// set the filter FORWARD policy to DROP, for every later test on the
	// host (nerdctl's CNI bridges): leave the policy alone.
	cfg["ip-forward-no-drop"] = true
	for k, v := range extra {
		cfg[k] = v
	}
	if len(insecureRegistries) > 0 {
		cfg["insecure-registries"] = insecureRegistries
	}
	e.docker = dockertest.Start(t, dockertest.Options{Containerd: e.d.Address, Config: cfg, PathPrefix: f.PathPrefix})
	return e
}

// datasets lists the filesystem datasets below the parent.
func (e *env) datasets(t *testing.T) []string {
	t.Helper()
	return containerdtest.ChildDatasets(t, e.parent)
}
