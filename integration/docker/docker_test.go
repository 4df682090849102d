package docker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/integration/registrytest"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// pushTestImages pushes the two images the Docker tests run: "argv"
// (ENTRYPOINT ["/bin/printf", "[%s]\n"], CMD ["a  b", "c"]: printf shows
// every argument byte for byte) and "sh" (busybox, CMD ["/bin/sh"]),
// both on one busybox layer. It returns their references.
func pushTestImages(t testing.TB, reg *registrytest.Registry) (argv, sh string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := imagebuild.BusyboxImage("", []string{"/bin/printf", `[%s]\n`}, []string{"a  b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push(ctx, "zfslxc/argv:v1", a); err != nil {
		t.Fatal(err)
	}
	s, err := imagebuild.BusyboxImage("", nil, []string{"/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push(ctx, "zfslxc/sh:v1", s); err != nil {
		t.Fatal(err)
	}
	return reg.Ref("zfslxc/argv:v1"), reg.Ref("zfslxc/sh:v1")
}

// TestDocker runs Docker Engine on containerd 2.4 with the zfslxc
// snapshotter as its storage driver and the LXC shim as runtime "lxc":
// docker pull from a local registry lands on zfslxc datasets (one per
// layer, shared by the two images); docker run --runtime lxc keeps the
// argv byte for byte, exit codes, -e -w -u, -it, -d with logs, exec,
// stop (143) and rm, -p on Docker's bridge reachable from the host,
// --read-only and --memory; docker rm and rmi leave no dataset.
func TestDocker(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	argv, sh := pushTestImages(t, reg)
	secure := registrytest.Start(t, registrytest.Options{TLS: true, Auth: true})
	secret, _ := pushTestImages(t, secure)
	e := setup(t, reg.Host)
	d := e.docker

	d.Must(t, "pull", argv)
	d.Must(t, "pull", sh)
	if ds := e.datasets(t); len(ds) != 1 {
		t.Errorf("two images on one shared busybox layer: want 1 dataset, have %v", ds)
	}
	if out := d.Must(t, "info", "--format", "{{.Driver}}"); strings.TrimSpace(out) != sn {
		t.Errorf("docker info: storage driver %q, want %s", out, sn)
	}

	run := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		return d.Docker(t, append([]string{"run", "--rm", "--runtime", "lxc"}, args...)...)
	}
	t.Run("Argv", func(t *testing.T) {
		if out, stderr, code := run(t, argv); code != 0 || out != "[a  b]\n[c]\n" {
			t.Errorf("ENTRYPOINT+CMD: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		if out, _, code := run(t, argv, " x ", "", "$HOME", `"q"`); code != 0 || out != "[ x ]\n[]\n[$HOME]\n[\"q\"]\n" {
			t.Errorf("ENTRYPOINT + args: exit %d, stdout %q", code, out)
		}
		if out, _, code := run(t, "--entrypoint", "/bin/echo", argv, "-n", "no newline"); code != 0 || out != "no newline" {
			t.Errorf("--entrypoint: exit %d, stdout %q", code, out)
		}
	})
	t.Run("ExitCodes", func(t *testing.T) {
		for _, want := range []int{0, 1, 42, 255} {
			if _, _, code := run(t, sh, "sh", "-c", fmt.Sprintf("exit %d", want)); code != want {
				t.Errorf("exit %d: docker run exited %d", want, code)
			}
		}
		// Not found: Docker's 127.
		if _, stderr, code := run(t, sh, "/no/such/binary"); code != 127 {
			t.Errorf("missing binary: exit %d, want 127 (stderr %q)", code, stderr)
		}
	})
	t.Run("EnvWorkdirUser", func(t *testing.T) {
		out, stderr, code := run(t, "-e", "FOO=bar baz", "-w", "/tmp/made", "-u", "1000:2000", sh,
			"sh", "-c", `echo "$FOO"; pwd; id`)
		want := "bar baz\n/tmp/made\nuid=1000(app) gid=2000(extra) groups=2000(extra)\n"
		if code != 0 || out != want {
			t.Errorf("exit %d, stdout %q, want %q (stderr %q)", code, out, want, stderr)
		}
	})
	t.Run("Interactive", func(t *testing.T) {
		out, code := runPty(t, d.Command, "run", "-it", "--rm", "--runtime", "lxc", sh, "sh", "-c", "tty; exit 3")
		if code != 3 || !strings.Contains(out, "/dev/pts/") {
			t.Errorf("docker run -it: exit %d, output %q", code, out)
		}
	})
	t.Run("DetachLogsExecStop", func(t *testing.T) {
		id := strings.TrimSpace(d.Must(t, "run", "-d", "--runtime", "lxc", sh, "sh", "-c",
			`trap 'echo got TERM; exit 143' TERM; echo started; while :; do sleep 0.1; done`))
		waitLogs(t, d, id, "started\n")
		if out := d.Must(t, "exec", id, "sh", "-c", "echo exec in $(hostname)"); !strings.HasPrefix(out, "exec in ") {
			t.Errorf("docker exec printed %q", out)
		}
		if _, _, code := d.Docker(t, "exec", id, "sh", "-c", "exit 7"); code != 7 {
			t.Errorf("docker exec exit 7: got %d", code)
		}
		d.Must(t, "stop", "--time", "20", id)
		if code := strings.TrimSpace(d.Must(t, "inspect", "--format", "{{.State.ExitCode}}", id)); code != "143" {
			t.Errorf("exit code after docker stop: %s, want 143", code)
		}
		if logs := d.Must(t, "logs", id); logs != "started\ngot TERM\n" {
			t.Errorf("logs %q", logs)
		}
		d.Must(t, "rm", id)
	})
	t.Run("PublishedPort", func(t *testing.T) {
		id := strings.TrimSpace(d.Must(t, "run", "-d", "--runtime", "lxc", "-p", "127.0.0.1::8080", sh, "sh", "-c",
			`while :; do printf 'HTTP/1.0 200 OK\r\n\r\nhello from lxc\n' | nc -l -p 8080; done`))
		defer d.Docker(t, "rm", "-f", id)
		hostPort := strings.TrimSpace(d.Must(t, "port", id, "8080/tcp"))
		ip := strings.TrimSpace(d.Must(t, "inspect", "--format", "{{.NetworkSettings.Networks.bridge.IPAddress}}", id))
		for _, addr := range []string{hostPort, net.JoinHostPort(ip, "8080")} {
			if body := httpGet(t, addr); !strings.Contains(body, "hello from lxc") {
				t.Errorf("GET %s: %q", addr, body)
			}
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		_, stderr, code := run(t, "--read-only", sh, "touch", "/x")
		if code != 1 || !strings.Contains(stderr, "Read-only file system") {
			t.Errorf("touch on a --read-only root: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("Memory", func(t *testing.T) {
		// The limit lands in the container's memory cgroup on the host
		// (cgroupfs driver: <memory>/docker/<id>), and the container
		// reads it from its own cgroup. Where that is differs: runc binds
		// the container's cgroup at /sys/fs/cgroup/memory, LXC mounts the
		// hierarchy with the container's path below it (docs/parity.md).
		id := strings.TrimSpace(d.Must(t, "run", "-d", "--runtime", "lxc", "--memory", "64m", sh, "sleep", "600"))
		defer d.Docker(t, "rm", "-f", id)
		host, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory/docker", id, "memory.limit_in_bytes"))
		if err != nil || strings.TrimSpace(string(host)) != "67108864" {
			t.Errorf("--memory 64m: host cgroup limit %q, %v", host, err)
		}
		out, stderr, code := d.Docker(t, "exec", id, "sh", "-c",
			`cg=$(grep ':memory:' /proc/self/cgroup | cut -d: -f3); cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory$cg/memory.limit_in_bytes`)
		if code != 0 || strings.TrimSpace(out) != "67108864" {
			t.Errorf("--memory 64m: the container reads %q (exit %d, stderr %q)", out, code, stderr)
		}
	})
	t.Run("TLSAuth", func(t *testing.T) {
		// dockerd trusts a registry's CA from
		// /etc/docker/certs.d/<host:port>/ca.crt (a path it does not
		// let us move): one directory per test registry port.
		certDir := filepath.Join("/etc/docker/certs.d", secure.Host)
		if err := os.MkdirAll(certDir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(certDir) })
		ca, err := os.ReadFile(secure.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), ca, 0o644); err != nil {
			t.Fatal(err)
		}
		before := e.datasets(t)
		if _, stderr, code := d.Docker(t, "pull", secret); code == 0 || !strings.Contains(strings.ToLower(stderr), "unauthorized") &&
			!strings.Contains(strings.ToLower(stderr), "no basic auth credentials") {
			t.Errorf("pull without login: exit %d, stderr %q", code, stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, stderr, code, err := d.DockerContext(ctx, "wrong\n", "login", "--username", secure.User, "--password-stdin", secure.Host); err != nil || code == 0 ||
			!strings.Contains(strings.ToLower(stderr), "unauthorized") {
			t.Errorf("login with a wrong password: exit %d, %v, stderr %q", code, err, stderr)
		}
		if got := e.datasets(t); len(got) != len(before) {
			t.Errorf("refused pulls changed the datasets: %v → %v", before, got)
		}
		if _, stderr, code, err := d.DockerContext(ctx, secure.Password+"\n", "login", "--username", secure.User, "--password-stdin", secure.Host); err != nil || code != 0 {
			t.Fatalf("login: exit %d, %v, stderr %q", code, err, stderr)
		}
		d.Must(t, "pull", secret)
		if out, stderr, code := run(t, secret); code != 0 || out != "[a  b]\n[c]\n" {
			t.Errorf("image pulled over TLS with auth: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		d.Must(t, "rmi", secret)
	})
	t.Run("SnapshotterRestart", func(t *testing.T) {
		// The snapshotter restarts under a running dockerd (an upgrade,
		// a crash and systemd's restart): Docker keeps working, a
		// running container too.
		id := strings.TrimSpace(d.Must(t, "run", "-d", "--runtime", "lxc", sh, "sleep", "600"))
		e.snap.Restart(t)
		if out, stderr, code := run(t, argv); code != 0 || out != "[a  b]\n[c]\n" {
			t.Errorf("docker run after a snapshotter restart: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		// And after a crash (SIGKILL) and a new start.
		e.snap.Kill9(t)
		e.snap.Start(t)
		if out, stderr, code := run(t, argv); code != 0 || out != "[a  b]\n[c]\n" {
			t.Errorf("docker run after the snapshotter was killed and started again: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		if out := d.Must(t, "exec", id, "echo", "alive"); out != "alive\n" {
			t.Errorf("exec in a container that ran through the restart: %q", out)
		}
		d.Must(t, "rm", "-f", id)
	})
	t.Run("RemoveLeavesNoDataset", func(t *testing.T) {
		if out := d.Must(t, "ps", "-aq"); strings.TrimSpace(out) != "" {
			t.Fatalf("containers left: %q", out)
		}
		d.Must(t, "rmi", argv, sh)
		deadline := time.Now().Add(30 * time.Second)
		for {
			ds := e.datasets(t)
			if len(ds) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("datasets left 30s after docker rmi: %v", ds)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
}

// waitLogs waits (a minute at most) until docker logs of id is want.
func waitLogs(t *testing.T, d interface {
	Docker(testing.TB, ...string) (string, string, int)
}, id, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, _, _ := d.Docker(t, "logs", id)
		if out == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker logs %s: %q, want %q", id, out, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpGet fetches http://addr/ with a raw HTTP/1.0 request (busybox nc
// closes after one answer), retrying for 30 s while the server starts.
func httpGet(t *testing.T, addr string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
			body, _ := io.ReadAll(c)
			c.Close()
			if len(body) > 0 {
				return string(body)
			}
			last = errors.New("empty answer")
		} else {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", addr, last)
	return ""
}

// runPty runs the docker CLI with a pty as its terminal and returns all
// it printed and its exit code.
func runPty(t *testing.T, command func(context.Context, ...string) *exec.Cmd, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	master, slave, err := lxcrun.OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if err := lxcrun.Resize(master, 80, 24); err != nil {
		t.Fatal(err)
	}
	cmd := command(ctx, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, master); close(done) }()
	err = cmd.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // a process in the container kept the pty
		master.Close()
		<-done
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("docker %v: %v", args, err)
	}
	code := 0
	if ee != nil {
		code = ee.ExitCode()
	}
	return out.String(), code
}
