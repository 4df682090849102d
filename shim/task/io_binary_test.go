package task

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeLogger writes a shell-script logger: it records its argv and
// environment, copies fd 3 and fd 4 to files in dir, writes "ready" and
// then closes fd 5; extra runs after that.
func writeLogger(t *testing.T, dir, extra string) string {
	t.Helper()
	script := `#!/bin/sh
d=` + dir + `
echo "$CONTAINER_ID $CONTAINER_NAMESPACE $#:$*" > $d/argv
/usr/bin/env > $d/env
/bin/cat <&3 > $d/out.part 4<&- 5>&- & a=$!
/bin/cat <&4 > $d/err.part 3<&- 5>&- & b=$!
exec 3<&- 4<&-
/bin/sleep 0.2
echo ready > $d/ready
exec 5>&-
` + extra + `
wait $a $b
/bin/mv $d/out.part $d/out
/bin/mv $d/err.part $d/err
`
	p := filepath.Join(dir, "logger.sh")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The logger gets CONTAINER_ID/CONTAINER_NAMESPACE (and nothing else),
// the query as arguments, both streams to the end after a fast exit, and
// the shim waits for its ready signal; afterwards no fd is left open and
// the logger has been waited for.
func TestPipeIOBinary(t *testing.T) {
	dir := t.TempDir()
	bin := writeLogger(t, dir, "")
	before := openFds(t)
	uri := "binary://" + bin + "?-v&--log-dir=" + filepath.Join(dir, "x%20y")
	p, err := newProcessIO(context.Background(), ioOwner{ID: "c1", Namespace: "ns1"}, "", uri, uri)
	if err != nil {
		t.Fatal(err)
	}
	// Ready was signalled after the logger wrote this.
	if _, err := os.Stat(filepath.Join(dir, "ready")); err != nil {
		t.Fatalf("newProcessIO returned before the logger was ready: %v", err)
	}
	runWith(t, p, "head -c 1048576 /dev/zero | tr '\\0' x; printf err >&2")
	p.waitOutput()
	select {
	case <-p.logger.done:
	default:
		t.Fatal("waitOutput returned while the logger still runs")
	}
	p.Close()
	out, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1<<20 || strings.Trim(string(out), "x") != "" {
		t.Errorf("logger got %d bytes of stdout, want %d x's", len(out), 1<<20)
	}
	if e, _ := os.ReadFile(filepath.Join(dir, "err")); string(e) != "err" {
		t.Errorf("logger got stderr %q, want %q", e, "err")
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	// Keys sorted, each followed by its value ("" for -v).
	if want := "c1 ns1 4:--log-dir " + filepath.Join(dir, "x y") + " -v \n"; string(argv) != want {
		t.Errorf("logger argv %q, want %q", argv, want)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env"))
	for _, l := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		if l != "CONTAINER_ID=c1" && l != "CONTAINER_NAMESPACE=ns1" && !strings.HasPrefix(l, "PWD=") {
			t.Errorf("logger environment has %q", l)
		}
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}

// Close stops a logger that does not exit by itself (SIGTERM) and waits
// for it: no process is left.
func TestPipeIOBinaryStop(t *testing.T) {
	dir := t.TempDir()
	bin := writeLogger(t, dir, "exec /bin/sleep 1000")
	uri := "binary://" + bin
	p, err := newProcessIO(context.Background(), ioOwner{ID: "c1", Namespace: "ns1"}, "", uri, "")
	if err != nil {
		t.Fatal(err)
	}
	runWith(t, p, "echo hi")
	pid := p.logger.cmd.Process.Pid
	p.Close()
	select {
	case <-p.logger.done:
	default:
		t.Fatal("Close returned before the logger was waited for")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("logger pid %d after Close: kill 0: %v, want ESRCH", pid, err)
	}
	var ee interface{ Sys() any }
	if !errors.As(p.logger.err, &ee) {
		t.Fatalf("logger exit: %v, want killed by SIGTERM", p.logger.err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("logger exit: %v, want killed by SIGTERM", p.logger.err)
	}
}

// A logger that cannot be started fails Create with its path; nothing is
// left open.
func TestPipeIOBinaryMissing(t *testing.T) {
	before := openFds(t)
	_, err := newProcessIO(context.Background(), ioOwner{ID: "c1"}, "", "binary:///no/such/logger?a=b", "")
	if err == nil || !strings.Contains(err.Error(), "/no/such/logger") {
		t.Fatalf("newProcessIO: %v; want an error naming the logger", err)
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}

// The ready wait ends with the create's context.
func TestPipeIOBinaryNotReady(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "logger.sh")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexec /bin/sleep 1000\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	before := openFds(t)
	_, err := newProcessIO(ctx, ioOwner{ID: "c1"}, "", "binary://"+bin, "")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), bin) {
		t.Fatalf("newProcessIO: %v; want Canceled naming %s", err, bin)
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}

// A logger that exits without reading does not kill the container with
// SIGPIPE (the shim keeps the read ends, as runc's does): a small write
// still succeeds.
func TestPipeIOBinaryLoggerGone(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "logger.sh")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho logger going away >&2\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := openFds(t)
	uri := "binary://" + bin
	p, err := newProcessIO(context.Background(), ioOwner{ID: "c1"}, "", uri, uri)
	if err != nil {
		t.Fatal(err)
	}
	<-p.logger.done
	runWith(t, p, "echo out; echo err >&2")
	p.waitOutput()
	p.Close()
	if after := openFds(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}
