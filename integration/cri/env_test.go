package cri

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

const (
	handler    = "lxc"
	busyboxRef = "docker.io/zfslxc/cri-busybox:latest"
	shimBinary = containerdtest.ShimBinary
)

var (
	imageDir      string
	pauseLayout   imagebuild.LayoutOnce
	busyboxLayout imagebuild.LayoutOnce
)

func TestMain(m *testing.M) {
	os.Exit(containerdtest.MainWithDir(m, "zfslxc-cri-images-", &imageDir))
}

// binDir is $ZFSLXC_BIN_DIR with the shim and its helpers (make build).
func binDir(t testing.TB) string { return containerdtest.ShimBinDir(t) }

// images returns the OCI layout tarballs of the pause and busybox images.
func images(t testing.TB) (pauseTar, busyboxTar string) {
	t.Helper()
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	_, pauseTar, err := pauseLayout.Get(filepath.Join(imageDir, "pause.tar"), func() (*imagebuild.Image, error) {
		return imagebuild.PauseImage("", imagebuild.PauseImageName)
	})
	if err != nil {
		t.Fatalf("pause image: %v", err)
	}
	_, busyboxTar, err = busyboxLayout.Get(filepath.Join(imageDir, "busybox.tar"), func() (*imagebuild.Image, error) {
		return imagebuild.BusyboxImage(busyboxRef, nil, []string{"sh"})
	})
	if err != nil {
		t.Fatalf("busybox image: %v", err)
	}
	return pauseTar, busyboxTar
}

// env is a CRI containerd of one flavor with the zfslxc snapshotter on a
// fresh pool, the images imported.
type env struct {
	*containerdtest.CRI
	dataset  string // the snapshotter's parent dataset
	snapSock string // the snapshotter's socket
	logDir   string // pods' log directories go below
}

// setup starts flavor f's containerd with CRI, the shim first on its PATH,
// and imports the pause and busybox images into zfslxc.
func setup(t testing.TB, f containerdtest.Flavor, o containerdtest.CRIOptions) *env {
	t.Helper()
	bin := binDir(t)
	containerdtest.RequireHost(t, f)
	containerdtest.CrictlPath(t)
	pauseTar, busyboxTar := images(t)
	f = f.PathFirst(bin)
	p := testpool.New(t)
	dataset := p.Name + "/zfslxc"
	s := containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: dataset, Driver: p.Driver})
	o.SnapshotterAddress = s.Address
	o.SandboxImage = imagebuild.PauseImageName
	c := containerdtest.StartCRI(t, f, o)
	c.ImportImage(t, pauseTar, containerdtest.SnapshotterName)
	c.ImportImage(t, busyboxTar, containerdtest.SnapshotterName)
	return &env{CRI: c, dataset: dataset, snapSock: s.Address, logDir: containerdtest.ScratchDir(t, "zfslxc-cri-logs-")}
}

// podConfig is a PodSandboxConfig (crictl's JSON form).
type podConfig map[string]any

// newPod returns the config of a pod named name with its own log
// directory; mutate adjusts it.
func (e *env) newPod(t testing.TB, name string, mutate func(podConfig)) podConfig {
	t.Helper()
	logDir := filepath.Join(e.logDir, name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := podConfig{
		"metadata":      map[string]any{"name": name, "namespace": "zfslxc", "uid": fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), "attempt": 0},
		"hostname":      name,
		"log_directory": logDir,
		"linux":         map[string]any{},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// ctrConfig is a ContainerConfig (crictl's JSON form) of busybox.
func ctrConfig(name string, command ...string) map[string]any {
	return map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": busyboxRef},
		"command":  command,
		"log_path": name + ".log",
		"linux":    map[string]any{},
	}
}

// writeJSON writes v to a file in dir and returns its path.
func writeJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "cfg-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// runPod runs a pod sandbox with runtime handler rt and returns its id.
func (e *env) runPod(t testing.TB, rt string, pod podConfig) string {
	t.Helper()
	return e.MustCrictl(t, "runp", "--runtime", rt, writeJSON(t, pod))
}

// startContainer creates and starts a container in pod and returns its id.
func (e *env) startContainer(t testing.TB, podID string, pod podConfig, ctr map[string]any) string {
	t.Helper()
	id := e.MustCrictl(t, "create", podID, writeJSON(t, ctr), writeJSON(t, pod))
	e.MustCrictl(t, "start", id)
	return id
}

// inspect returns crictl inspect[p] -o json, decoded.
func (e *env) inspect(t testing.TB, cmd, id string) map[string]any {
	t.Helper()
	out := e.MustCrictl(t, cmd, "-o", "json", id)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("crictl %s: %v\n%s", cmd, err, out)
	}
	return v
}

// field walks decoded JSON (or a podConfig) by keys.
func field(v any, keys ...string) any {
	if p, ok := v.(podConfig); ok {
		v = map[string]any(p)
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str is field as a string ("" if absent).
func str(v any, keys ...string) string {
	s, _ := field(v, keys...).(string)
	return s
}

// num is field as a number (0 if absent); JSON numbers of protobuf
// int64s come as strings.
func num(v any, keys ...string) float64 {
	switch x := field(v, keys...).(type) {
	case float64:
		return x
	case string:
		var f float64
		fmt.Sscan(x, &f)
		return f
	}
	return 0
}

// execSync runs cmd in container id (crictl exec -s) and returns stdout
// and the exit code. crictl prints stdout and stderr each with a newline
// added, and fails with "command '…' exited with N" for a non-zero exit
// (its own exit code is then 1).
func (e *env) execSync(t testing.TB, id string, cmd ...string) (string, int) {
	t.Helper()
	out, stderr, err := e.Crictl(t, append([]string{"exec", "-s", id}, cmd...)...)
	if err != nil {
		m := exitedWith.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatal(err)
		}
		code, _ := strconv.Atoi(m[1])
		return "", code
	}
	// stdout + "\n" + stderr + "\n"; stderr is empty for these commands.
	return strings.TrimSuffix(out, "\n\n"), 0
}

var exitedWith = regexp.MustCompile(`exited with (\d+)`)

// jsonOf decodes crictl's JSON output.
func jsonOf(out string, v any) error {
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}
