package shim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

const (
	// debianCNIDir is where Debian's containernetworking-plugins installs
	// the CNI plugins (nerdctl looks in /opt/cni/bin by default).
	debianCNIDir = "/usr/lib/cni"
	// nerdNamespace is the containerd namespace the nerdctl tests use.
	nerdNamespace = "nerdtest"
)

// nerd runs nerdctl against a test daemon, with every directory of its
// own (data root, CNI config) in the test's scratch directory.
type nerd struct {
	e       *env
	bin     string
	global  []string // global flags, before the command
	env     []string
	scratch string
}

func nerdctlBinary(t *testing.T) string {
	t.Helper()
	bin := containerdtest.NerdctlBinary(t)
	if _, err := os.Stat(filepath.Join(debianCNIDir, "bridge")); err != nil {
		containerdtest.SkipOrFail(t, "CNI plugins: %v (apt-get install containernetworking-plugins)", err)
	}
	return bin
}

// newNerd starts containerd flavor f with the zfslxc snapshotter on a
// fresh pool and the shim, and loads the test image with nerdctl load.
func newNerd(t *testing.T, f containerdtest.Flavor) *nerd {
	t.Helper()
	bin := nerdctlBinary(t)
	e := setup(t, f, sn)
	scratch := containerdtest.ScratchDir(t, "zfslxc-nerdctl-")
	n := &nerd{
		e:   e,
		bin: bin,
		global: []string{
			"--address", e.d.Address,
			"--namespace", nerdNamespace,
			"--snapshotter", sn,
			"--data-root", filepath.Join(scratch, "data"),
			"--cni-path", debianCNIDir,
			"--cni-netconfpath", filepath.Join(scratch, "cni"),
			"--cgroup-manager", "cgroupfs",
		},
		// Hooks run with nerdctl's environment: PATH must find iptables.
		env:     []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + scratch, "NERDCTL_TOML=" + filepath.Join(scratch, "nerdctl.toml")},
		scratch: scratch,
	}
	// Before the daemon's cleanup (LIFO): nerdctl's containers, so their
	// poststop hooks (CNI teardown) run.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _, _, _ := n.run(ctx, "ps", "-a", "-q")
		for _, id := range strings.Fields(out) {
			if _, stderr, code, _ := n.run(ctx, "rm", "-f", id); code != 0 {
				t.Logf("cleanup: nerdctl rm -f %s: %s", id, stderr)
			}
		}
	})
	_, tar := helloImage(t)
	n.must(t, "load", "-i", tar)
	return n
}

// run runs nerdctl and returns its stdout, stderr and exit code; err is
// set only when it could not run.
func (n *nerd) run(ctx context.Context, args ...string) (string, string, int, error) {
	return n.runStdin(ctx, "", args...)
}

// runStdin is run with stdin ("": none).
func (n *nerd) runStdin(ctx context.Context, stdin string, args ...string) (string, string, int, error) {
	return containerdtest.CLI{Bin: n.bin, Args: n.global, Env: n.env}.Run(ctx, stdin, args...)
}

func (n *nerd) must(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, stderr, code, err := n.run(ctx, args...)
	if err != nil || code != 0 {
		t.Fatalf("nerdctl %s: code %d, %v, stderr %q\n%s", strings.Join(args, " "), code, err, stderr, n.e.d.LogTail(40))
	}
	return out
}

// checkClean asserts that no container, task, bundle, mount, shim or
// zfslxc-start process of nerdctl's namespace is left.
func (n *nerd) checkClean(t *testing.T) {
	t.Helper()
	for _, what := range []string{"containers", "tasks"} {
		out, _, err := n.e.d.Ctr(t, "--namespace", nerdNamespace, what, "ls", "-q")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("%s left: %q", what, out)
		}
	}
	bundles := filepath.Join(n.e.d.State, "io.containerd.runtime.v2.task", nerdNamespace)
	if ents, err := os.ReadDir(bundles); err == nil && len(ents) > 0 {
		t.Errorf("bundles left in %s: %v", bundles, ents)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, bundles+"/") {
			t.Errorf("mount left: %s", l)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Scoped to this daemon: other tests on the host use the same
		// namespace name.
		procs := procsMatching(bundles+"/", "-address "+n.e.d.Address+" ")
		if len(procs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left: %v", procs)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestNerdctl(t *testing.T) {
	for i, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			n := newNerd(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			run := []string{"run", "--rm", "--runtime", runtimeType, "--net", "none"}

			t.Run("RunNetNone", func(t *testing.T) {
				out, stderr, code, err := n.run(ctx, append(run, n.e.ref)...)
				if err != nil || code != 0 || out != "hello from the image\n" {
					t.Fatalf("nerdctl run: code %d, %v, stdout %q, stderr %q\n%s", code, err, out, stderr, n.e.d.LogTail(40))
				}
				out, stderr, code, err = n.run(ctx, append(run, "--entrypoint", "/bin/sh", n.e.ref, "-c", "echo out; echo err >&2; exit 42")...)
				if err != nil || code != 42 || out != "out\n" || !strings.Contains(stderr, "err\n") {
					t.Fatalf("nerdctl run exit 42: code %d, %v, stdout %q, stderr %q", code, err, out, stderr)
				}
				n.checkClean(t)
			})

			t.Run("HostNetwork", func(t *testing.T) {
				// --net host: the host's interfaces, no CNI.
				out, stderr, code, err := n.run(ctx, "run", "--rm", "--runtime", runtimeType, "--net", "host",
					"--entrypoint", "/bin/sh", n.e.ref, "-c", "cat /proc/net/dev")
				if err != nil || code != 0 {
					t.Fatalf("nerdctl run --net host: code %d, %v, stderr %q", code, err, stderr)
				}
				// The host's default-route interface (other tests add
				// and remove bridges and veths meanwhile).
				routes, err := os.ReadFile("/proc/net/route")
				if err != nil {
					t.Fatal(err)
				}
				var dev string
				for _, l := range strings.Split(string(routes), "\n") {
					if f := strings.Fields(l); len(f) > 1 && f[1] == "00000000" {
						dev = f[0]
					}
				}
				if dev == "" {
					t.Fatalf("no default route on the host:\n%s", routes)
				}
				if !strings.Contains(out, " "+dev+":") {
					t.Errorf("host interface %s not seen in the container:\n%s", dev, out)
				}
				n.checkClean(t)
			})

			t.Run("Stdin", func(t *testing.T) {
				// -i: stdin through the task's FIFO, EOF ends cat.
				in := "line 1\nline 2\n"
				out, stderr, code, err := n.runStdin(ctx, in, append(append([]string{}, run...), "-i", "--entrypoint", "/bin/cat", n.e.ref)...)
				if err != nil || code != 0 || out != in {
					t.Fatalf("nerdctl run -i: code %d, %v, stdout %q (want %q), stderr %q", code, err, out, in, stderr)
				}
				n.checkClean(t)
			})

			t.Run("Terminal", func(t *testing.T) {
				// run -it on a terminal of nerdctl's own: the process has
				// a tty of the size nerdctl's, typed input reaches it.
				cmd := exec.CommandContext(ctx, n.bin, append(append([]string{}, n.global...), append(append([]string{}, run...),
					"-it", "--name", "tty", "--entrypoint", "/bin/sh", n.e.ref, "-c",
					// nerdctl sends the size after Start (as under runc):
					// wait for it (busybox stty size fails at 0x0).
					`[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo isatty; `+
						`i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); case "$s" in [1-9]*) break;; esac; sleep 0.1; i=$((i+1)); done; `+
						`stty size; read l; echo "got:$l"; exit 5`)...)...)
				cmd.Env = n.env
				// A failure must not leave the container to the next cases.
				t.Cleanup(func() { n.run(context.Background(), "rm", "-f", "tty") }) //nolint:errcheck // gone when the case passed
				p := startPty(t, cmd, 30, 100)
				p.waitFor(t, "30 100")
				p.write(t, "typed\r")
				out, code := p.wait(t)
				if code != 5 || !strings.Contains(out, "isatty") || !strings.Contains(out, "got:typed") {
					t.Fatalf("nerdctl run -it: code %d (want 5), output %q", code, out)
				}
				n.checkClean(t)
			})

			t.Run("DetachedExecLogsStopRm", func(t *testing.T) {
				// PID 1 exits 143 on TERM (it has a handler, as under
				// runc); output before and after nerdctl logs is read.
				script := "trap 'echo got TERM; exit 143' TERM; echo started; echo to-stderr >&2; while :; do sleep 0.1; done"
				id := strings.TrimSpace(n.must(t, "run", "-d", "--name", "web", "--runtime", runtimeType, "--net", "none",
					"--entrypoint", "/bin/sh", n.e.ref, "-c", script))
				if len(id) != 64 {
					t.Fatalf("nerdctl run -d printed %q, want a container id", id)
				}
				// The logger is nerdctl itself (binary://), run by our shim.
				var logs, logsErr string
				deadline := time.Now().Add(30 * time.Second)
				for {
					o, e, code, err := n.run(ctx, "logs", "web")
					if err != nil {
						t.Fatal(err)
					}
					logs, logsErr = o, e
					if code == 0 && strings.Contains(logs, "started") && strings.Contains(logsErr, "to-stderr") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("nerdctl logs web: code %d, stdout %q, stderr %q\n%s", code, o, e, n.e.d.LogTail(40))
					}
					time.Sleep(200 * time.Millisecond)
				}
				if p := procsMatching(shimBinary + " -namespace " + nerdNamespace + " -id " + id + " "); len(p) != 1 {
					t.Fatalf("shim processes for %s: %v (want 1)", id, p)
				}
				// nerdctl exec: output, exit code, env, workdir, stdin.
				out, stderr, code, err := n.run(ctx, "exec", "-e", "FOO=bar baz", "-w", "/tmp", "web", "sh", "-c", "echo \"$FOO\"; pwd; echo e >&2; exit 7")
				// nerdctl 1.7.7 exits 1 and names the process's status.
				if err != nil || code != 1 || out != "bar baz\n/tmp\n" || !strings.Contains(stderr, "e\n") || !strings.Contains(stderr, "exec failed with exit code 7") {
					t.Errorf("nerdctl exec: code %d, %v, stdout %q, stderr %q; want status 7 reported", code, err, out, stderr)
				}
				out, stderr, code, err = n.runStdin(ctx, "via stdin\n", "exec", "-i", "web", "cat")
				if err != nil || code != 0 || out != "via stdin\n" {
					t.Errorf("nerdctl exec -i: code %d, %v, stdout %q, stderr %q", code, err, out, stderr)
				}
				time.Sleep(300 * time.Millisecond) // let the trap be set
				n.must(t, "stop", "web")
				exitCode := strings.TrimSpace(n.must(t, "inspect", "--format", "{{.State.ExitCode}}", "web"))
				if exitCode != "143" {
					t.Errorf("exit code after nerdctl stop: %s, want 143 (TERM handled)", exitCode)
				}
				// Output written on the way out is not lost.
				if out := n.must(t, "logs", "web"); out != "started\ngot TERM\n" {
					t.Errorf("nerdctl logs after stop: %q, want %q", out, "started\ngot TERM\n")
				}
				n.must(t, "rm", "web")
				if out := n.must(t, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
					t.Errorf("nerdctl ps -a after rm: %q", out)
				}
				n.checkClean(t)
			})

			t.Run("LoggerAcrossRestart", func(t *testing.T) {
				// The binary:// logger belongs to the shim: a containerd
				// restart leaves it reading, so output written after the
				// restart (here by an exec, to PID 1's stdout) is logged.
				name := "restartlog"
				n.must(t, "run", "-d", "--name", name, "--runtime", runtimeType, "--net", "none",
					"--entrypoint", "/bin/sh", n.e.ref, "-c", "trap 'echo got TERM; exit 143' TERM; echo before; while :; do sleep 0.1; done")
				n.waitLogs(t, ctx, name, "before\n")
				n.e.d.Restart(t)
				n.must(t, "exec", name, "sh", "-c", "echo after restart > /proc/1/fd/1")
				n.waitLogs(t, ctx, name, "before\nafter restart\n")
				n.must(t, "stop", name)
				if code := strings.TrimSpace(n.must(t, "inspect", "--format", "{{.State.ExitCode}}", name)); code != "143" {
					t.Errorf("exit code after restart and stop: %s, want 143", code)
				}
				if out := n.must(t, "logs", name); out != "before\nafter restart\ngot TERM\n" {
					t.Errorf("nerdctl logs: %q", out)
				}
				n.must(t, "rm", name)
				n.checkClean(t)
			})

			t.Run("BridgeNetwork", func(t *testing.T) {
				// A subnet and network of this test only (other tests,
				// engineers and nerdctl's default nerd0 may run beside).
				subnet := freeSubnet(t, 200+i, os.Getpid()%250)
				netName := fmt.Sprintf("zfslxc-%d-%d", os.Getpid(), i)
				n.must(t, "network", "create", "--subnet", subnet, netName)
				bridge := n.bridgeName(t, netName)
				t.Cleanup(func() { removeCNILeftovers(t, netName, bridge) })
				// runc first, for what nerdctl 1.7.7 leaves behind with
				// Debian's CNI plugins whatever the runtime (see below).
				runcLeft := n.bridgeRun(t, ctx, "io.containerd.runc.v2", netName, bridge, subnet)
				lxcLeft := n.bridgeRun(t, ctx, runtimeType, netName, bridge, subnet)
				// nerdctl's postStop hook calls CNI DEL without a netns
				// path; the bridge plugin (1.1.1) then releases the IP but
				// not its ipMasq NAT rule: a leak under runc too. Ours
				// must leave no more than runc's.
				t.Logf("NAT rules left by nerdctl's postStop: runc %d, lxc %d", runcLeft, lxcLeft)
				if lxcLeft > runcLeft {
					t.Errorf("lxc left %d NAT rules for %s, runc %d", lxcLeft, netName, runcLeft)
				}
				n.publishedPort(t, ctx, netName)
				n.shimKilled(t, ctx, netName)
				n.must(t, "network", "rm", netName)
			})
		})
	}
}

// publishedPort runs a TCP server with -p HOSTIP:PORT:7777 on network
// netName: the createRuntime hook reads the mapping from the annotations
// in the OCI state, and the portmap plugin forwards the host's port.
func (n *nerd) publishedPort(t *testing.T, ctx context.Context, netName string) {
	t.Helper()
	hostIP := defaultRouteIP(t)
	l, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	id := strings.TrimSpace(n.must(t, "run", "-d", "--runtime", runtimeType, "--net", netName,
		"-p", fmt.Sprintf("%s:%d:7777", hostIP, port),
		"--entrypoint", "/bin/sh", n.e.ref, "-c", "while :; do echo published | nc -l -p 7777; done"))
	addr := net.JoinHostPort(hostIP, strconv.Itoa(port))
	var reply string
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			if reply = string(b); reply != "" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer on the published port %s within 30 s: %v\n%s", addr, err, n.e.d.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if reply != "published\n" {
		t.Errorf("from %s: %q", addr, reply)
	}
	dnat := func() bool {
		out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
		if err != nil {
			t.Fatalf("iptables -t nat -S: %v", err)
		}
		return strings.Contains(string(out), "--dport "+strconv.Itoa(port)+" ")
	}
	if !dnat() {
		t.Errorf("no DNAT rule for port %d while the container runs", port)
	}
	n.must(t, "rm", "-f", id)
	n.checkClean(t)
	// portmap's DEL removes its DNAT rules (no netns needed).
	if dnat() {
		t.Errorf("DNAT rule for port %d left after rm", port)
	}
}

// defaultRouteIP is the IPv4 address of the host's default-route
// interface.
func defaultRouteIP(t *testing.T) string {
	t.Helper()
	routes, err := os.ReadFile("/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(routes), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[1] != "00000000" {
			continue
		}
		ifi, err := net.InterfaceByName(f[0])
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	t.Fatalf("no IPv4 address on the default route's interface")
	return ""
}

// shimKilled runs a TCP server on network netName (the host must reach
// it at the address nerdctl inspect reports), kills its shim with
// SIGKILL and removes it: containerd's cleanup runs the shim's delete
// action, which must run nerdctl's postStop hook (as runc's `delete
// --force` does), so the container's IP is released and nothing is left.
func (n *nerd) shimKilled(t *testing.T, ctx context.Context, netName string) {
	t.Helper()
	ipDir := filepath.Join("/var/lib/cni/networks", netName)
	reserved := func() []string {
		var ips []string
		ents, _ := os.ReadDir(ipDir)
		for _, e := range ents {
			if net.ParseIP(e.Name()) != nil {
				ips = append(ips, e.Name())
			}
		}
		return ips
	}
	before := reserved()
	id := strings.TrimSpace(n.must(t, "run", "-d", "--runtime", runtimeType, "--net", netName,
		"--entrypoint", "/bin/sh", n.e.ref, "-c", "while :; do echo hello over the bridge | nc -l -p 7777; done"))
	got := reserved()
	if len(got) != len(before)+1 {
		t.Fatalf("IP reservations with a running container: %v (before %v)", got, before)
	}
	// The host reaches the container over the bridge and its veth.
	ip := strings.TrimSpace(n.must(t, "inspect", "--format", "{{.NetworkSettings.IPAddress}}", id))
	if !slices.Contains(got, ip) {
		t.Fatalf("nerdctl inspect: IP %q, reserved %v", ip, got)
	}
	var reply string
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "7777"), 2*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			if reply = string(b); reply != "" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from %s:7777 within 30 s: %v", ip, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if reply != "hello over the bridge\n" {
		t.Errorf("from %s:7777: %q", ip, reply)
	}
	procs := procsMatching(shimBinary + " -namespace " + nerdNamespace + " -id " + id + " ")
	if len(procs) != 1 {
		t.Fatalf("shim processes for %s: %v (want 1)", id, procs)
	}
	pid, err := strconv.Atoi(strings.SplitN(procs[0], ":", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// containerd notices the dead shim and cleans up after it: the
	// shim's delete action, then the bundle is removed (tasks ls drops
	// the task at once, so wait for the bundle).
	bundle := filepath.Join(n.e.d.State, "io.containerd.runtime.v2.task", nerdNamespace, id)
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(bundle); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bundle %s still there 30 s after its shim was killed\n%s", bundle, n.e.d.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	n.must(t, "rm", "-f", id)
	n.checkClean(t)
	if got := reserved(); len(got) != len(before) {
		t.Errorf("IP reservations after the killed shim's cleanup: %v (before %v): postStop hook not run", got, before)
	}
	if cached, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", netName+"-"+nerdNamespace+"-"+id+"-*")); len(cached) > 0 {
		t.Errorf("CNI result cache left after the killed shim's cleanup: %v", cached)
	}
	if p := procsWith(n.e.d.State + "/io.containerd.runtime.v2.task/" + nerdNamespace + "/" + id); len(p) > 0 {
		t.Errorf("processes left: %v", p)
	}
}

// waitLogs waits until `nerdctl logs name` prints want (the logger
// writes asynchronously).
func (n *nerd) waitLogs(t *testing.T, ctx context.Context, name, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, stderr, code, err := n.run(ctx, "logs", name)
		if err != nil {
			t.Fatal(err)
		}
		if code == 0 && out == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nerdctl logs %s: code %d, stdout %q (want %q), stderr %q\n%s", name, code, out, want, stderr, n.e.d.LogTail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// bridgeName is the bridge of nerdctl network name, from the conflist
// nerdctl wrote into its CNI config directory.
func (n *nerd) bridgeName(t *testing.T, name string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.scratch, "cni", "*.conflist"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var conf struct {
			Name    string `json:"name"`
			Plugins []struct {
				Type   string `json:"type"`
				Bridge string `json:"bridge"`
			} `json:"plugins"`
		}
		if err := json.Unmarshal(data, &conf); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, p := range conf.Plugins {
			if conf.Name == name && p.Type == "bridge" && p.Bridge != "" {
				return p.Bridge
			}
		}
	}
	t.Fatalf("no bridge for network %s in %v", name, files)
	return ""
}

// bridgeRun runs a container on network netName with runtime rt and
// checks it gets an address of subnet on eth0 and a default route there,
// and that nothing of it is left afterwards (container, task, bundle,
// mounts, processes, veth, IP reservation, CNI result cache). It returns
// how many ipMasq NAT rules the run added and left.
func (n *nerd) bridgeRun(t *testing.T, ctx context.Context, rt, netName, bridge, subnet string) int {
	t.Helper()
	natBefore := len(natRules(t, netName))
	out, stderr, code, err := n.run(ctx, "run", "--rm", "--runtime", rt, "--net", netName,
		"--entrypoint", "/bin/sh", n.e.ref, "-c", "ip -4 -o addr show eth0; cat /proc/net/route")
	if err != nil || code != 0 {
		t.Fatalf("%s: nerdctl run --net %s: code %d, %v, stdout %q, stderr %q\n%s", rt, netName, code, err, out, stderr, n.e.d.LogTail(40))
	}
	_, ipnet, _ := net.ParseCIDR(subnet)
	var ip net.IP
	for _, f := range strings.Fields(out) {
		if a, _, err := net.ParseCIDR(f); err == nil && ipnet.Contains(a) {
			ip = a
		}
	}
	if ip == nil || !strings.Contains(out, "eth0") {
		t.Fatalf("%s: no address in %s on eth0:\n%s", rt, subnet, out)
	}
	// The default route goes out of eth0.
	if !strings.Contains(out, "eth0\t00000000") {
		t.Errorf("%s: no default route through eth0:\n%s", rt, out)
	}
	t.Logf("%s: eth0 has %s", rt, ip)
	n.checkClean(t)
	if ports := bridgePorts(t, bridge); len(ports) > 0 {
		t.Errorf("%s: veths left on %s: %v", rt, bridge, ports)
	}
	ipDir := filepath.Join("/var/lib/cni/networks", netName)
	if ents, err := os.ReadDir(ipDir); err == nil {
		for _, e := range ents {
			if net.ParseIP(e.Name()) != nil {
				t.Errorf("%s: IP reservation left: %s", rt, filepath.Join(ipDir, e.Name()))
			}
		}
	}
	if ents, err := os.ReadDir("/var/lib/cni/results"); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), netName+"-") {
				t.Errorf("%s: CNI result left: %s", rt, e.Name())
			}
		}
	}
	return len(natRules(t, netName)) - natBefore
}

// natRules returns the POSTROUTING rules (line number, target chain) the
// bridge plugin added for network netName (its comment names it).
func natRules(t *testing.T, netName string) [][2]string {
	t.Helper()
	return iptablesRules(t, "nat", "POSTROUTING", `name: "`+netName+`"`)
}

// iptablesRules lists the rules of chain in table whose listing contains
// match, as (line number, target).
func iptablesRules(t *testing.T, table, chain, match string) [][2]string {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-t", table, "-L", chain, "-n", "-v", "--line-numbers").Output()
	if err != nil {
		t.Logf("iptables -t %s -L %s: %v", table, chain, err)
		return nil
	}
	var rules [][2]string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && strings.Contains(l, match) {
			rules = append(rules, [2]string{f[0], f[3]})
		}
	}
	return rules
}

// removeCNILeftovers removes what CNI leaves on the host for a network
// after its containers are gone: ipMasq NAT rules and chains, the
// firewall plugin's isolation rules for the bridge, host-local's
// directory, the bridge.
func removeCNILeftovers(t *testing.T, netName, bridge string) {
	ipt := func(args ...string) {
		if out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput(); err != nil {
			t.Logf("iptables %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	nat := natRules(t, netName)
	for i := len(nat) - 1; i >= 0; i-- {
		ipt("-t", "nat", "-D", "POSTROUTING", nat[i][0])
	}
	for _, r := range nat {
		if strings.HasPrefix(r[1], "CNI-") {
			ipt("-t", "nat", "-F", r[1])
			ipt("-t", "nat", "-X", r[1])
		}
	}
	if bridge != "" {
		for _, chain := range []string{"CNI-ISOLATION-STAGE-1", "CNI-ISOLATION-STAGE-2"} {
			rules := iptablesRules(t, "filter", chain, " "+bridge+" ")
			for i := len(rules) - 1; i >= 0; i-- {
				ipt("-t", "filter", "-D", chain, rules[i][0])
			}
		}
		if _, err := net.InterfaceByName(bridge); err == nil {
			if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
				t.Logf("ip link del %s: %v %s", bridge, err, out)
			}
		}
	}
	if err := os.RemoveAll(filepath.Join("/var/lib/cni/networks", netName)); err != nil {
		t.Logf("%v", err)
	}
	// libcni's result cache, left when a test failed before CNI DEL.
	cached, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", netName+"-*"))
	for _, f := range cached {
		if err := os.Remove(f); err != nil {
			t.Logf("%v", err)
		}
	}
}

// freeSubnet returns a 10.a.b.0/24 that no host route overlaps, trying
// b, b+1, ...
func freeSubnet(t *testing.T, a, b int) string {
	t.Helper()
	for k := 0; k < 250; k++ {
		subnet := fmt.Sprintf("10.%d.%d.0/24", a, (b+k)%250)
		out, err := exec.Command("ip", "-4", "route", "show", "match", subnet).Output()
		if err != nil {
			t.Fatalf("ip route show match %s: %v", subnet, err)
		}
		// Only the default route may cover it.
		used := false
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.HasPrefix(l, "default ") {
				used = true
			}
		}
		if !used {
			return subnet
		}
	}
	t.Fatalf("no free 10.%d.x.0/24 subnet", a)
	return ""
}

// bridgePorts lists the interfaces (the containers' veths) attached to
// bridge.
func bridgePorts(t *testing.T, bridge string) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show", "master", bridge).Output()
	if err != nil {
		t.Fatalf("ip link show master %s: %v", bridge, err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, strings.TrimSuffix(f[1], ":"))
		}
	}
	return names
}
