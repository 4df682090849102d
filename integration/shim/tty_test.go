package shim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestTerminalStdin covers `ctr run -t` (a pty in the container, its
// output, its size, input typed on the terminal, the exit code) and
// `ctr run` (stdin attached, as -i elsewhere) with stdin that ends
// (CloseIO: cat ends), on every containerd flavor with the zfslxc
// snapshotter on a real pool. Container ids are unique on the host: LXC's
// cgroups are named after them (lxc.payload.ID), across daemons.
func TestTerminalStdin(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			t.Run("RunTTY", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				// ctr sends its terminal's size after the start
				// (ResizePty); the script waits for it (busybox stty size
				// fails, or prints nothing, while the size is 0x0).
				script := `test -t 0 && test -t 1 && echo is-a-tty; tty; ` +
					`i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); case "$s" in [1-9]*) break;; esac; sleep 0.1; i=$((i+1)); done; ` +
					`echo "size=$s"; echo ready; read line; echo "got=$line"; exit 7`
				term := startPtyCtr(t, ctx, e, 37, 111, "run", "-t", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, "ttyrun", "sh", "-c", script)
				term.waitFor(t, "ready")
				term.write(t, "typed input\r")
				out, code := term.wait(t)
				// ctr's own terminal may add a \r to the pty's \r\n.
				out = strings.ReplaceAll(out, "\r", "")
				// The pty is the container's own (ttyname works).
				for _, want := range []string{"is-a-tty\n/dev/pts/0\n", "size=37 111\n", "got=typed input\n"} {
					if !strings.Contains(out, want) {
						t.Errorf("output %q lacks %q\n%s", out, want, e.d.LogTail(30))
					}
				}
				if code != 7 {
					t.Errorf("ctr run -t: exit code %d, want 7; output %q", code, out)
				}
				e.checkClean(t, "ttyrun")
			})
			t.Run("RunTTYFastExit", func(t *testing.T) {
				// Output of a process that exits at once is not lost.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				term := startPtyCtr(t, ctx, e, 24, 80, "run", "-t", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, "ttyfast",
					"sh", "-c", "seq 1 2000; echo end-of-output")
				out, code := term.wait(t)
				out = strings.ReplaceAll(out, "\r", "")
				if code != 0 || !strings.Contains(out, "1\n2\n3\n") || !strings.Contains(out, "1999\n2000\nend-of-output\n") {
					t.Errorf("ctr run -t: code %d, output ends %q", code, tail(out, 80))
				}
				e.checkClean(t, "ttyfast")
			})
			t.Run("RunStdinClosed", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				data := "line one\nline  two\n" + strings.Repeat("x", 100000) + "\n"
				out, stderr, code := ctrStdin(ctx, e, strings.NewReader(data), "run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, "ttystdin", "cat")
				if code != 0 || out != data {
					t.Fatalf("echo data | ctr run cat: code %d, %d bytes out (want %d), stderr %q\n%s", code, len(out), len(data), stderr, e.d.LogTail(30))
				}
				e.checkClean(t, "ttystdin")
			})
		})
	}
}

// ctrStdin runs ctr against e's daemon with stdin and returns stdout,
// stderr and the exit code (-1 when ctr could not run or was killed).
func ctrStdin(ctx context.Context, e *env, stdin io.Reader, args ...string) (string, string, int) {
	cmd := exec.CommandContext(ctx, e.d.Flavor.Ctr, append([]string{"--address", e.d.Address}, args...)...)
	cmd.Env = ctrEnv()
	var o, se bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &o, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), se.String(), 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return o.String(), se.String(), ee.ExitCode()
	}
	return o.String(), se.String() + err.Error(), -1
}

func ctrEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINERD_") {
			env = append(env, kv)
		}
	}
	return env
}

// ptyCtr is ctr run on a terminal of its own, as a person would run it:
// the slave of a pty is its controlling terminal, stdin, stdout and
// stderr; the test reads and types on the master.
type ptyCtr struct {
	master *os.File
	cmd    *exec.Cmd
	done   chan struct{} // closed when the master reads EIO (ctr is gone)

	mu  sync.Mutex
	out bytes.Buffer // guarded by mu
}

func startPtyCtr(t *testing.T, ctx context.Context, e *env, rows, cols uint, args ...string) *ptyCtr {
	t.Helper()
	cmd := exec.CommandContext(ctx, e.d.Flavor.Ctr, append([]string{"--address", e.d.Address}, args...)...)
	cmd.Env = ctrEnv()
	return startPty(t, cmd, rows, cols)
}

// startPty starts cmd (ctr, nerdctl) with a pty's slave as its
// controlling terminal and stdio.
func startPty(t *testing.T, cmd *exec.Cmd, rows, cols uint) *ptyCtr {
	t.Helper()
	master, slave, err := lxcrun.OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	if err := lxcrun.Resize(master, cols, rows); err != nil {
		t.Fatal(err)
	}
	p := &ptyCtr{master: master, cmd: cmd, done: make(chan struct{})}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() { master.Close() })
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *ptyCtr) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the output contains s.
func (p *ptyCtr) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.done:
			t.Fatalf("ctr ended before %q appeared; output %q", s, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within a minute; output %q", s, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *ptyCtr) write(t *testing.T, s string) {
	t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// wait waits for ctr to exit and its output to end, and returns the
// output and ctr's exit code.
func (p *ptyCtr) wait(t *testing.T) (string, int) {
	t.Helper()
	err := p.cmd.Wait()
	<-p.done
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("ctr: %v; output %q", err, p.output())
		}
		code = ee.ExitCode()
	}
	return p.output(), code
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("…%s", s[len(s)-n:])
}
