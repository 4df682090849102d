package cri

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestCRI runs pods under the lxc handler on each containerd, as a node
// operator checks a RuntimeClass runtime with crictl.
func TestCRI(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, containerdtest.CRIOptions{})
			t.Run("Doctor", e.testDoctor)
			t.Run("Pod", e.testPod)
			t.Run("HostNetwork", e.testHostNetwork)
			t.Run("SharedPID", e.testSharedPID)
			t.Run("Sysctls", e.testSysctls)
			t.Run("OOMKilled", e.testOOMKilled)
			t.Run("Privileged", e.testPrivileged)
			t.Run("OneShimPerPod", e.testOneShimPerPod)
			t.Run("ShimKilled", e.testShimKilled)
			t.Run("ContainerdRestart", e.testContainerdRestart)
		})
	}
}

// cgroupParent returns a fresh pod cgroup parent (as the kubelet's
// cgroupfs driver gives one per pod), removed from every controller at
// cleanup.
func cgroupParent(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "zfslxc-cri-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ents, _ := os.ReadDir("/sys/fs/cgroup")
		for _, c := range ents {
			os.Remove(filepath.Join("/sys/fs/cgroup", c.Name(), name))
		}
	})
	return "/" + name
}

// testPod: a pod with two containers sharing the sandbox's namespaces, its
// IP reached from the host, port-forward, exec (sync and with a tty),
// attach, CRI logs, stats, update, and nothing left after stopp+rmp.
func (e *env) testPod(t *testing.T) {
	baseline := e.datasets(t)
	pod := e.newPod(t, "web", func(p podConfig) {
		p["linux"] = map[string]any{"cgroup_parent": cgroupParent(t)}
	})
	podID := e.runPod(t, handler, pod)
	srv := e.startContainer(t, podID, pod, ctrConfig("server", "sh", "-c",
		"mkdir -p /www && echo hello-from-pod > /www/index.html && echo serving && exec httpd -f -v -p 8080 -h /www"))
	// A bind-mounted host file whose name says nothing (the kubelet's
	// termination-log is pods/<uid>/containers/<name>/<random>).
	hostFile := filepath.Join(t.TempDir(), "b510e1d3")
	if err := os.WriteFile(hostFile, []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cliCfg := ctrConfig("client", "sleep", "3600")
	cliCfg["mounts"] = []map[string]any{{"container_path": "/dev/termination-log", "host_path": hostFile}}
	cli := e.startContainer(t, podID, pod, cliCfg)
	tr := e.traceOf(t, podID, srv, cli)
	if out, code := e.execSync(t, cli, "cat", "/dev/termination-log"); code != 0 || out != "from-host\n" {
		t.Errorf("bind-mounted file: %q (code %d)", out, code)
	}

	t.Run("SharedNamespaces", func(t *testing.T) {
		sandboxPid := tr.pids[0]
		for _, ns := range []string{"net", "ipc", "uts"} {
			want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", sandboxPid, ns))
			if err != nil {
				t.Fatal(err)
			}
			host, _ := os.Readlink("/proc/self/ns/" + ns)
			if want == host {
				t.Errorf("sandbox is in the host's %s namespace", ns)
			}
			for _, id := range []string{srv, cli} {
				out, code := e.execSync(t, id, "readlink", "/proc/self/ns/"+ns)
				if got := strings.TrimSpace(out); code != 0 || got != want {
					t.Errorf("%s: %s namespace %q (code %d), sandbox's is %q", id, ns, got, code, want)
				}
			}
		}
		if out, _ := e.execSync(t, cli, "hostname"); strings.TrimSpace(out) != "web" {
			t.Errorf("hostname in the pod = %q, want web", out)
		}
	})

	ip := str(e.inspect(t, "inspectp", podID), "status", "network", "ip")
	t.Run("PodIP", func(t *testing.T) {
		if !strings.HasPrefix(ip, strings.TrimSuffix(e.Subnet, "0/24")) {
			t.Fatalf("pod IP %q is not in the CNI range %s", ip, e.Subnet)
		}
		if body := httpGet(t, "http://"+net.JoinHostPort(ip, "8080")+"/"); body != "hello-from-pod\n" {
			t.Errorf("GET from the host = %q", body)
		}
		// The other container reaches it on localhost: one netns.
		if out, code := e.execSync(t, cli, "wget", "-qO-", "http://127.0.0.1:8080/"); code != 0 || out != "hello-from-pod\n" {
			t.Errorf("wget in the pod: %q, code %d", out, code)
		}
	})

	t.Run("PortForward", func(t *testing.T) {
		port := freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, _, err := e.CrictlContext(ctx, containerdtest.CrictlPath(t), nil, "port-forward", podID, fmt.Sprintf("%d:8080", port))
			done <- err
		}()
		body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
		if body != "hello-from-pod\n" {
			t.Errorf("GET through port-forward = %q", body)
		}
		cancel()
		<-done
	})

	t.Run("ExecSyncExitCode", func(t *testing.T) {
		if out, code := e.execSync(t, cli, "sh", "-c", "echo out; exit 3"); code != 3 {
			t.Errorf("exec -s: code %d, out %q; want 3", code, out)
		}
		if out, code := e.execSync(t, cli, "sh", "-c", "echo out"); code != 0 || out != "out\n" {
			t.Errorf("exec -s: code %d, out %q; want 0, out", code, out)
		}
	})

	t.Run("ExecTTY", func(t *testing.T) {
		out := e.execTTY(t, cli, "tty; echo marker$((40+2)); exit\n", "marker42")
		if !strings.Contains(out, "/dev/pts/") {
			t.Errorf("exec -it: no pts in %q", out)
		}
	})

	t.Run("AttachAndLogs", func(t *testing.T) {
		c := ctrConfig("echoer", "sh", "-c", "echo started; echo to-stderr >&2; while read l; do echo got:$l; done; echo bye")
		c["stdin"], c["stdin_once"] = true, true
		id := e.startContainer(t, podID, pod, c)
		waitLog(t, e, id, "started")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _, err := e.CrictlContext(ctx, containerdtest.CrictlPath(t), []byte("ping\n"), "attach", "--stdin", id)
		if err != nil || !strings.Contains(out, "got:ping") {
			t.Errorf("attach: %q, %v", out, err)
		}
		waitLog(t, e, id, "bye")
		logs, stderr, err := e.Crictl(t, "logs", id)
		if err != nil || !strings.Contains(logs, "started\n") || !strings.Contains(logs, "got:ping\n") || !strings.Contains(stderr, "to-stderr\n") {
			t.Errorf("crictl logs: stdout %q stderr %q, %v", logs, stderr, err)
		}
		// The CRI log format: RFC3339Nano time, stream, tag (F full, P
		// partial), content.
		data, err := os.ReadFile(filepath.Join(str(pod, "log_directory"), "echoer.log"))
		if err != nil {
			t.Fatal(err)
		}
		line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) [FP] .*$`)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		for _, l := range lines {
			if !line.MatchString(l) {
				t.Errorf("log line not in CRI format: %q", l)
			}
		}
		want := []string{"stdout F started", "stderr F to-stderr", "stdout F got:ping", "stdout F bye"}
		for _, w := range want {
			if !strings.Contains(string(data), " "+w+"\n") {
				t.Errorf("log lacks %q:\n%s", w, data)
			}
		}
		st := e.inspect(t, "inspect", id)
		if s := str(st, "status", "state"); s != "CONTAINER_EXITED" || num(st, "status", "exitCode") != 0 {
			t.Errorf("echoer after stdin closed: %s, exit %v", s, num(st, "status", "exitCode"))
		}
	})

	t.Run("Stats", func(t *testing.T) {
		// Some CPU and memory used by the server and the pod.
		httpGet(t, "http://"+net.JoinHostPort(ip, "8080")+"/")
		var st map[string]any
		if err := jsonOf(e.MustCrictl(t, "stats", "-o", "json", "--id", srv), &st); err != nil {
			t.Fatal(err)
		}
		s := asSlice(st["stats"])
		if len(s) != 1 {
			t.Fatalf("stats: %v", st)
		}
		if mem := num(s[0], "memory", "workingSetBytes", "value"); mem <= 0 {
			t.Errorf("container memory working set %v", mem)
		}
		if cpu := num(s[0], "cpu", "usageCoreNanoSeconds", "value"); cpu <= 0 {
			t.Errorf("container CPU usage %v", cpu)
		}
		if err := jsonOf(e.MustCrictl(t, "statsp", "-o", "json", "--id", podID), &st); err != nil {
			t.Fatal(err)
		}
		s = asSlice(st["stats"])
		if len(s) != 1 {
			t.Fatalf("statsp: %v", st)
		}
		if mem := num(s[0], "linux", "memory", "workingSetBytes", "value"); mem <= 0 {
			t.Errorf("pod memory working set %v: %v", mem, s[0])
		}
		if cpu := num(s[0], "linux", "cpu", "usageCoreNanoSeconds", "value"); cpu <= 0 {
			t.Errorf("pod CPU usage %v: %v", cpu, s[0])
		}
		if n := len(asSlice(field(s[0], "linux", "containers"))); n < 2 {
			t.Errorf("pod stats list %d containers, want >= 2", n)
		}
	})

	t.Run("UpdateMemory", func(t *testing.T) {
		const limit = 96 << 20
		e.MustCrictl(t, "update", "--memory", strconv.Itoa(limit), cli)
		file := filepath.Join(cgroupDir(t, tr.pids[2], "memory"), "memory.limit_in_bytes")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(data)); got != strconv.Itoa(limit) {
			t.Errorf("%s = %s after update, want %d", file, got, limit)
		}
		if got := num(e.inspect(t, "inspect", cli), "status", "resources", "linux", "memoryLimitInBytes"); got != limit {
			t.Logf("inspect reports memory limit %v (containerd %s)", got, e.Flavor.Name)
		}
	})

	e.MustCrictl(t, "stopp", podID)
	e.MustCrictl(t, "rmp", podID)
	e.checkGone(t, tr, baseline)
}

// testHostNetwork: a hostNetwork pod's container is in the host's netns.
func (e *env) testHostNetwork(t *testing.T) {
	baseline := e.datasets(t)
	pod := e.newPod(t, "hostnet", func(p podConfig) {
		p["linux"] = map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 2}}}
		// As the kubelet: no hostname without a UTS namespace of the
		// pod's own (runc and lxcconv refuse one).
		delete(p, "hostname")
	})
	podID := e.runPod(t, handler, pod)
	id := e.startContainer(t, podID, pod, ctrConfig("c", "sleep", "3600"))
	tr := e.traceOf(t, podID, id)
	host, _ := os.Readlink("/proc/self/ns/net")
	if out, _ := e.execSync(t, id, "readlink", "/proc/self/ns/net"); strings.TrimSpace(out) != host {
		t.Errorf("hostNetwork container netns %q, host's %q", out, host)
	}
	if ip := str(e.inspect(t, "inspectp", podID), "status", "network", "ip"); ip != "" {
		t.Logf("hostNetwork pod IP %q", ip)
	}
	e.MustCrictl(t, "stopp", podID)
	e.MustCrictl(t, "rmp", podID)
	e.checkGone(t, tr, baseline)
}

// testSharedPID: in a shareProcessNamespace pod a container sees its
// sibling's processes (and pause as PID 1); when a container's init exits,
// the processes it left are killed (as runc does); stopping the pod ends
// every process.
func (e *env) testSharedPID(t *testing.T) {
	baseline := e.datasets(t)
	pod := e.newPod(t, "sharedpid", func(p podConfig) {
		p["linux"] = map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"pid": 0}}}
	})
	podID := e.runPod(t, handler, pod)
	a := e.startContainer(t, podID, pod, ctrConfig("a", "sh", "-c", "sleep 1001 & exec sleep 1002"))
	b := e.startContainer(t, podID, pod, ctrConfig("b", "sleep", "1003"))
	tr := e.traceOf(t, podID, a, b)
	ps := func() string {
		out, code := e.execSync(t, b, "ps", "-o", "pid,args")
		if code != 0 {
			t.Fatalf("ps: %d %q", code, out)
		}
		return out
	}
	out := ps()
	for _, want := range []string{"sleep 1001", "sleep 1002", "sleep 1003"} {
		if !strings.Contains(out, want) {
			t.Errorf("ps in b lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*1\s+/pause`).MatchString(out) {
		t.Errorf("PID 1 is not pause:\n%s", out)
	}
	// a's init (sleep 1002) ends: its child sleep 1001 must go too.
	e.MustCrictl(t, "stop", "--timeout", "2", a)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Contains(out, "sleep 1001") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out = ps()
	}
	if strings.Contains(out, "sleep 1001") {
		t.Errorf("a's background process outlived a's init:\n%s", out)
	}
	e.MustCrictl(t, "stopp", podID)
	e.MustCrictl(t, "rmp", podID)
	e.checkGone(t, tr, baseline)
}

// testSysctls: namespaced sysctls of the pod are set in its containers.
func (e *env) testSysctls(t *testing.T) {
	pod := e.newPod(t, "sysctls", func(p podConfig) {
		p["linux"] = map[string]any{"sysctls": map[string]string{
			"net.ipv4.ip_local_port_range": "20000 30000",
			"kernel.shm_rmid_forced":       "1",
		}}
	})
	podID := e.runPod(t, handler, pod)
	defer e.MustCrictl(t, "rmp", "-f", podID)
	id := e.startContainer(t, podID, pod, ctrConfig("c", "sleep", "3600"))
	for file, want := range map[string]string{
		"/proc/sys/net/ipv4/ip_local_port_range": "20000\t30000",
		"/proc/sys/kernel/shm_rmid_forced":       "1",
	} {
		if out, code := e.execSync(t, id, "cat", file); code != 0 || strings.TrimSpace(out) != want {
			t.Errorf("%s = %q (code %d), want %q", file, out, code, want)
		}
	}
}

// testOOMKilled: a container killed by its memory limit is reported
// OOMKilled with exit code 137.
func (e *env) testOOMKilled(t *testing.T) {
	pod := e.newPod(t, "oom", nil)
	podID := e.runPod(t, handler, pod)
	defer e.MustCrictl(t, "rmp", "-f", podID)
	c := ctrConfig("hog", "sh", "-c", "tail /dev/zero")
	c["linux"] = map[string]any{"resources": map[string]any{"memory_limit_in_bytes": 32 << 20}}
	id := e.startContainer(t, podID, pod, c)
	st := e.waitExited(t, id)
	if r, code := str(st, "status", "reason"), num(st, "status", "exitCode"); r != "OOMKilled" || code != 137 {
		t.Errorf("reason %q, exit code %v; want OOMKilled, 137", r, code)
	}
}

// waitExited waits until container id has exited and returns its inspect.
func (e *env) waitExited(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := e.inspect(t, "inspect", id)
		if str(st, "status", "state") == "CONTAINER_EXITED" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s", id, str(st, "status", "state"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitLog waits until container id's log holds s.
func waitLog(t *testing.T, e *env, id, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, stderr, _ := e.Crictl(t, "logs", id)
		if strings.Contains(out+stderr, s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s never had %q: %q %q", id, s, out, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// execTTY runs `crictl exec -it id sh` with a pty's slave as its
// controlling terminal, types input and reads until want appears (a
// minute at most); it returns what it read.
func (e *env) execTTY(t *testing.T, id, input, want string) string {
	t.Helper()
	master, slave, err := lxcrun.OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := e.CrictlCommand(ctx, containerdtest.CrictlPath(t), "exec", "-it", id, "sh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	output := func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			mu.Lock()
			buf.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	if _, err := io.WriteString(master, input); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(output(), want) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Wait(); err != nil || ctx.Err() != nil {
		t.Errorf("crictl exec -it: %v (context: %v); output %q", err, ctx.Err(), output())
	}
	return output()
}

// httpGet GETs url until it answers 200 (a minute at most) and returns
// the body.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := c.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %s, %v", resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePort returns a TCP port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testShimKilled: kill -9 of a container's shim: containerd reports the
// container exited, and stopp+rmp clean everything.
func (e *env) testShimKilled(t *testing.T) {
	baseline := e.datasets(t)
	pod := e.newPod(t, "shimkill", func(p podConfig) {
		p["linux"] = map[string]any{"cgroup_parent": cgroupParent(t)}
	})
	podID := e.runPod(t, handler, pod)
	id := e.startContainer(t, podID, pod, ctrConfig("c", "sleep", "3600"))
	tr := e.traceOf(t, podID, id)
	shim := shimOf(t, tr.pids[1])
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := e.waitExited(t, id)
	t.Logf("after kill -9 of its shim: %s, exit code %v, reason %q", str(st, "status", "state"), num(st, "status", "exitCode"), str(st, "status", "reason"))
	e.MustCrictl(t, "stopp", podID)
	e.MustCrictl(t, "rmp", podID)
	e.checkGone(t, tr, baseline)
}

// testOneShimPerPod: a pod's sandbox and containers share one shim
// process (grouped by their io.kubernetes.cri.sandbox-id annotation, as
// runc's shim groups them), another pod has its own; removing one
// container leaves the others running in the shim; the shim exits with
// the pod's last task.
func (e *env) testOneShimPerPod(t *testing.T) {
	baseline := e.datasets(t)
	pod := e.newPod(t, "grouped", nil)
	podID := e.runPod(t, handler, pod)
	var ctrs []string
	for i := range 3 {
		ctrs = append(ctrs, e.startContainer(t, podID, pod, ctrConfig(fmt.Sprintf("c%d", i), "sleep", "3600")))
	}
	tr := e.traceOf(t, podID, ctrs...)
	shim := shimOf(t, tr.pids[0])
	addr := readAddress(t, tr.bundles[0])
	for i, id := range tr.ids {
		if s := shimOf(t, tr.pids[i]); s != shim {
			t.Errorf("%s is served by shim %d, the sandbox by %d", id, s, shim)
		}
		if a := readAddress(t, tr.bundles[i]); a != addr {
			t.Errorf("%s's shim address %s, the sandbox's %s", id, a, addr)
		}
	}
	var shims []int
	for _, p := range procsWith(tr.ids...) {
		if f := strings.Fields(p); len(f) > 1 && strings.HasSuffix(f[1], shimBinary) {
			n, _ := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
			shims = append(shims, n)
		}
	}
	if len(shims) != 1 || shims[0] != shim {
		t.Errorf("shim processes of the pod: %v, want only %d", shims, shim)
	}

	withPod := e.datasets(t)
	other := e.newPod(t, "grouped-other", nil)
	otherID := e.runPod(t, handler, other)
	otherTr := e.traceOf(t, otherID)
	if s := shimOf(t, otherTr.pids[0]); s == shim {
		t.Errorf("two pods share shim %d", s)
	}
	e.MustCrictl(t, "rmp", "-f", otherID)
	e.checkGone(t, otherTr, withPod)

	e.MustCrictl(t, "stop", ctrs[0])
	e.MustCrictl(t, "rm", ctrs[0])
	if _, err := os.Stat(tr.bundles[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bundle of the removed container: %v", err)
	}
	if !alive(shim) {
		t.Fatal("the shim is gone with one container of three")
	}
	for _, id := range ctrs[1:] {
		if s := str(e.inspect(t, "inspect", id), "status", "state"); s != "CONTAINER_RUNNING" {
			t.Errorf("%s after removing %s: %s", id, ctrs[0], s)
		}
		if out, code := e.execSync(t, id, "echo", "ok"); code != 0 || out != "ok\n" {
			t.Errorf("exec in %s after removing %s: %q, code %d", id, ctrs[0], out, code)
		}
	}
	if s := str(e.inspect(t, "inspectp", podID), "status", "state"); s != "SANDBOX_READY" {
		t.Errorf("pod after removing %s: %s", ctrs[0], s)
	}

	e.MustCrictl(t, "stopp", podID)
	e.MustCrictl(t, "rmp", podID)
	time.Sleep(3 * time.Second)
	e.checkGone(t, tr, baseline)
	if alive(shim) {
		t.Errorf("shim %d still runs after rmp", shim)
	}
}

// shimOf is the pid of the LXC shim serving the container whose init is
// pid: its nearest ancestor running the shim binary (init's parent once
// the container runs).
func shimOf(t testing.TB, pid int) int {
	t.Helper()
	for p := pid; p > 1; {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		if filepath.Base(exe) == shimBinary {
			return p
		}
		p = parentOf(t, p)
	}
	t.Fatalf("no %s above process %d", shimBinary, pid)
	return 0
}

// alive: process pid exists and is not a zombie (containerd, a child
// subreaper, reaps an exited shim when it gets to it).
func alive(pid int) bool {
	f := statFields(pid)
	return len(f) > 0 && f[0] != "Z"
}

// statFields are the fields of /proc/PID/stat after "pid (comm)" (comm
// may hold blanks and parentheses): state, ppid, …; nil if pid is gone.
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// readAddress is the shim address containerd keeps in a task's bundle.
func readAddress(t testing.TB, bundle string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "address"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// testContainerdRestart: pods keep running across a containerd restart;
// they are listed running and exec works.
func (e *env) testContainerdRestart(t *testing.T) {
	pod := e.newPod(t, "restart", nil)
	podID := e.runPod(t, handler, pod)
	defer e.MustCrictl(t, "rmp", "-f", podID)
	id := e.startContainer(t, podID, pod, ctrConfig("c", "sleep", "3600"))
	pid := int(num(e.inspect(t, "inspect", id), "info", "pid"))
	e.Restart(t)
	e.WaitCRI(t)
	st := e.inspect(t, "inspect", id)
	if s := str(st, "status", "state"); s != "CONTAINER_RUNNING" {
		t.Errorf("after a containerd restart: %s", s)
	}
	if s := str(e.inspect(t, "inspectp", podID), "status", "state"); s != "SANDBOX_READY" {
		t.Errorf("pod after a containerd restart: %s", s)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		t.Errorf("init %d gone after the restart: %v", pid, err)
	}
	if out, code := e.execSync(t, id, "echo", "still-here"); code != 0 || out != "still-here\n" {
		t.Errorf("exec after the restart: %q, code %d", out, code)
	}
}

// testDoctor: `zfslxc doctor` on this CRI containerd's config finds the
// handler, its snapshotter, the CNI network and the sandbox image
// unpacked in zfslxc.
func (e *env) testDoctor(t *testing.T) {
	out, err := exec.Command(filepath.Join(binDir(t), "zfslxc"), "doctor", "--json",
		"--dataset", e.dataset, "--snapshotter-address", e.snapSock,
		"--containerd-config", e.ConfigPath(), "--containerd-address", e.Address, "--containerd", e.Flavor.Daemon).Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("zfslxc doctor: %v", err)
	}
	var rep struct {
		Checks []struct{ Check, Status, Message string } `json:"checks"`
	}
	if err := jsonOf(string(out), &rep); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range rep.Checks {
		switch c.Check {
		case "cri runtime", "cri snapshotter", "cni", "sandbox image":
			seen[c.Check] = true
			if c.Status != "ok" {
				t.Errorf("doctor %s: %s: %s", c.Check, c.Status, c.Message)
			} else {
				t.Logf("doctor %s: %s", c.Check, c.Message)
			}
		}
	}
	if len(seen) != 4 {
		t.Errorf("doctor ran CRI checks %v, want 4:\n%s", seen, out)
	}
}

// testPrivileged: a privileged container (in a privileged pod) has every
// capability and the host's devices.
func (e *env) testPrivileged(t *testing.T) {
	pod := e.newPod(t, "priv", func(p podConfig) {
		p["linux"] = map[string]any{"security_context": map[string]any{"privileged": true}}
	})
	podID := e.runPod(t, handler, pod)
	defer e.MustCrictl(t, "rmp", "-f", podID)
	c := ctrConfig("c", "sleep", "3600")
	c["linux"] = map[string]any{"security_context": map[string]any{"privileged": true}}
	id := e.startContainer(t, podID, pod, c)
	host, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	out, code := e.execSync(t, id, "grep", "CapEff", "/proc/self/status")
	if want := capLine(string(host), "CapEff"); code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("privileged container %q (code %d), host %q", strings.TrimSpace(out), code, want)
	}
	if out, code := e.execSync(t, id, "ls", "/dev/kmsg"); code != 0 {
		t.Errorf("privileged container lacks /dev/kmsg: %q (code %d)", out, code)
	}
}

func capLine(status, key string) string {
	for _, l := range strings.Split(status, "\n") {
		if strings.HasPrefix(l, key+":") {
			return l
		}
	}
	return ""
}
