package cri

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// KubeletTestEnv set to 1 runs TestKubelet (make kubelet-test): the
// kubelet is a separate build (make deps-kubelet) and the test takes
// minutes, so `make test` leaves it out.
const KubeletTestEnv = "ZFSLXC_TEST_KUBELET"

// TestKubelet runs a real kubelet (k8s.io/kubernetes, standalone: static
// pods from a manifest directory, no API server, cgroupfs) against
// containerd with lxc as the default runtime: a pod of two containers
// becomes ready (httpGet readiness probe, exec liveness probe), a dying
// container is restarted, and removing the manifest removes the pod and
// leaves nothing.
func TestKubelet(t *testing.T) {
	if os.Getenv(KubeletTestEnv) != "1" {
		t.Skipf("%s is not 1 (make kubelet-test runs it)", KubeletTestEnv)
	}
	kubelet := os.Getenv(containerdtest.KubeletEnv)
	if _, err := os.Stat(kubelet); kubelet == "" || err != nil {
		t.Fatalf("%s=%q: %v (make deps-kubelet builds it)", containerdtest.KubeletEnv, kubelet, err)
	}
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, containerdtest.CRIOptions{DefaultLXC: true})
			k := startKubelet(t, e, kubelet)
			baseline := e.datasets(t)
			manifest := filepath.Join(k.manifests, "web.yaml")
			if err := os.WriteFile(manifest, []byte(webManifest), 0o644); err != nil {
				t.Fatal(err)
			}

			// Ready: the readiness probe (httpGet) passed.
			k.waitLog(t, regexp.MustCompile(`"SyncLoop \(probe\)" probe="readiness" status="ready" pod="default/web-`), 3*time.Minute)
			podID := e.MustCrictl(t, "pods", "-q", "--name", "web-", "--state", "ready")
			if podID == "" || strings.Contains(podID, "\n") {
				t.Fatalf("pods: %q", podID)
			}
			sandbox := e.inspect(t, "inspectp", podID)
			if rt := str(sandbox, "status", "runtimeHandler"); rt != "" && rt != handler {
				t.Errorf("sandbox runtime handler %q", rt)
			}
			if rt := str(sandbox, "info", "runtimeType"); rt != "" && rt != "io.containerd.lxc.v1" {
				t.Errorf("sandbox runtime type %q", rt)
			}
			srv := e.MustCrictl(t, "ps", "-q", "--pod", podID, "--name", "server")
			ip := str(sandbox, "status", "network", "ip")
			if body := httpGet(t, "http://"+ip+":8080/"); body != "kubelet-pod\n" {
				t.Errorf("GET pod = %q", body)
			}
			// A dying container is restarted by the kubelet.
			deadline := time.Now().Add(3 * time.Minute)
			for {
				out := e.MustCrictl(t, "ps", "-a", "--pod", podID, "--name", "crasher", "-o", "json")
				var l struct {
					Containers []struct {
						Metadata struct {
							Attempt int `json:"attempt"`
						} `json:"metadata"`
					} `json:"containers"`
				}
				if err := jsonOf(out, &l); err != nil {
					t.Fatal(err)
				}
				max := 0
				for _, c := range l.Containers {
					max = maxInt(max, c.Metadata.Attempt)
				}
				if max >= 1 {
					t.Logf("crasher restarted: attempt %d", max)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("crasher never restarted:\n%s\n%s", out, k.logTail(40))
				}
				time.Sleep(time.Second)
			}
			// The liveness probe (exec) never failed: the server kept
			// its first attempt.
			if n := num(e.inspect(t, "inspect", srv), "status", "metadata", "attempt"); n != 0 {
				t.Errorf("server restarted (attempt %v): liveness probe failed?\n%s", n, k.logTail(40))
			}
			if strings.Contains(k.log(), `probe="liveness" status="unhealthy"`) {
				t.Errorf("liveness probe failed:\n%s", k.logTail(40))
			}
			tr := e.traceOf(t, podID, srv)

			// Removing the manifest removes the pod.
			if err := os.Remove(manifest); err != nil {
				t.Fatal(err)
			}
			deadline = time.Now().Add(3 * time.Minute)
			for e.MustCrictl(t, "pods", "-q") != "" {
				if time.Now().After(deadline) {
					t.Fatalf("pod still there 3 min after its manifest went:\n%s\n%s", e.MustCrictl(t, "pods"), k.logTail(40))
				}
				time.Sleep(time.Second)
			}
			e.checkGone(t, tr, baseline)
		})
	}
}

const webManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: server
    image: ` + busyboxRef + `
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo kubelet-pod > /www/index.html && exec httpd -f -p 8080 -h /www"]
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
    livenessProbe:
      exec: {command: ["test", "-f", "/www/index.html"]}
      initialDelaySeconds: 2
      periodSeconds: 2
  - name: crasher
    image: ` + busyboxRef + `
    imagePullPolicy: Never
    command: ["sh", "-c", "echo up; sleep 2; exit 3"]
`

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// kubeletProc is a running standalone kubelet.
type kubeletProc struct {
	cmd       *exec.Cmd
	logPath   string
	manifests string
	done      chan struct{}
}

// startKubelet runs the kubelet against e's CRI with a config of its own
// (static pods, cgroupfs, no API server, no QoS cgroups, no eviction).
func startKubelet(t *testing.T, e *env, bin string) *kubeletProc {
	t.Helper()
	dir := containerdtest.ScratchDir(t, "zfslxc-kubelet-")
	k := &kubeletProc{logPath: filepath.Join(dir, "kubelet.log"), manifests: filepath.Join(dir, "manifests"), done: make(chan struct{})}
	if err := os.MkdirAll(k.manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %q
fileCheckFrequency: 1s
syncFrequency: 2s
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: %q
imageServiceEndpoint: %q
enableServer: false
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
resolvConf: ""
serializeImagePulls: false
`, k.manifests, e.Endpoint, e.Endpoint)
	cfg := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(k.logPath)
	if err != nil {
		t.Fatal(err)
	}
	k.cmd = exec.Command(bin, "--config", cfg, "--root-dir", filepath.Join(dir, "root"),
		"--cert-dir", filepath.Join(dir, "pki"), "--hostname-override", "zfslxc-node", "--v", "2")
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		k.cmd.Wait()
		logf.Close()
		close(k.done)
	}()
	t.Cleanup(func() {
		select {
		case <-k.done:
		default:
			k.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-k.done:
			case <-time.After(20 * time.Second):
				k.cmd.Process.Kill()
				<-k.done
			}
		}
		if t.Failed() {
			t.Log(k.logTail(80))
		}
		// The kubelet leaves its pods running when it stops.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		e.CrictlContext(ctx, containerdtest.CrictlPath(t), nil, "rmp", "-fa")
		containerdtest.UnmountUnder(t, dir)
	})
	return k
}

func (k *kubeletProc) log() string {
	b, _ := os.ReadFile(k.logPath)
	return string(b)
}

func (k *kubeletProc) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(k.log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- kubelet log (tail) ---\n" + strings.Join(lines, "\n")
}

// waitLog waits until the kubelet's log matches re, failing when the
// kubelet exits or within is over.
func (k *kubeletProc) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !re.MatchString(k.log()) {
		select {
		case <-k.done:
			t.Fatalf("kubelet exited: %v\n%s", k.cmd.ProcessState, k.logTail(60))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the kubelet's log within %v\n%s", re, within, k.logTail(60))
		}
		time.Sleep(500 * time.Millisecond)
	}
}
