package task

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func TestParseStdio(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     stdioURI
	}{
		{"empty", "", stdioURI{}},
		{"fifo path", "/run/x/stdout", stdioURI{kind: stdioFifo, path: "/run/x/stdout"}},
		{"fifo scheme", "fifo:///run/x", stdioURI{kind: stdioFifo, path: "/run/x"}},
		{"file", "file:///var/log/x.log", stdioURI{kind: stdioFile, path: "/var/log/x.log"}},
		{"file escaped", "file:///var/log/a%20b", stdioURI{kind: stdioFile, path: "/var/log/a b"}},
		{"binary no args", "binary:///usr/bin/logger", stdioURI{kind: stdioBinary, path: "/usr/bin/logger"}},
		{"binary args sorted", "binary:///usr/bin/logger?b=2&a=%2Fvar%2Flib&c", stdioURI{kind: stdioBinary, path: "/usr/bin/logger", args: []string{"a", "/var/lib", "b", "2", "c", ""}}},
		{"nerdctl", "binary:///usr/local/bin/nerdctl?_NERDCTL_INTERNAL_LOGGING=%2Fvar%2Flib%2Fnerdctl%2F1935db59", stdioURI{kind: stdioBinary, path: "/usr/local/bin/nerdctl", args: []string{"_NERDCTL_INTERNAL_LOGGING", "/var/lib/nerdctl/1935db59"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStdio("stdout", tc.in)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseStdio(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseStdioErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, msg string
	}{
		{"unknown scheme", "http://x/y", `stdout "http://x/y": unsupported scheme "http"`},
		{"file empty path", "file://", `stdout "file://": empty path`},
		{"binary empty path", "binary://", `stdout "binary://": empty path`},
		{"file host", "file://host/x", `host "host" given`},
		{"file relative", "file://./x", `host "." given`},
		{"file root", "file:///", `path "/" is not an absolute file path`},
		{"file query", "file:///x?a=b", "file:// takes no query"},
		{"fifo empty", "fifo://", "empty FIFO path"},
		{"bad escape", "binary:///x%zz", `stdout "binary:///x%zz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStdio("stdout", tc.in)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("parseStdio(%q): %v; want InvalidArgument containing %q", tc.in, err, tc.msg)
			}
		})
	}
}

// Combinations of streams that cannot work are refused before anything is
// opened or started.
func TestNewProcessIORefuses(t *testing.T) {
	owner := ioOwner{ID: "c1", Namespace: "ns"}
	for _, tc := range []struct {
		name                  string
		owner                 ioOwner
		stdin, stdout, stderr string
		is                    error
		msg                   string
	}{
		{"stdin file", owner, "file:///x", "", "", errdefs.ErrInvalidArgument, `stdin "file:///x": only a FIFO`},
		{"stdin binary", owner, "binary:///x", "", "", errdefs.ErrInvalidArgument, `stdin "binary:///x": only a FIFO`},
		{"stderr other", owner, "", "binary:///bin/a", "binary:///bin/b", errdefs.ErrInvalidArgument, "stdout and stderr alike"},
		{"stderr only", owner, "", "/run/fifo", "binary:///bin/b", errdefs.ErrInvalidArgument, "must be given as stdout too"},
		{"no owner", ioOwner{}, "", "binary:///bin/a", "binary:///bin/a", errdefs.ErrNotImplemented, "needs the container's id"},
		{"bad stderr", owner, "", "", "tcp://x", errdefs.ErrInvalidArgument, `stderr "tcp://x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newProcessIO(context.Background(), tc.owner, tc.stdin, tc.stdout, tc.stderr)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("newProcessIO: %v, %v; want %v containing %q", p, err, tc.is, tc.msg)
			}
		})
	}
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

// Output written to the child ends arrives in the FIFOs, all of it, by
// the time waitOutput returns; nothing stays open afterwards.
func TestPipeIOOutput(t *testing.T) {
	dir := t.TempDir()
	out, errp := filepath.Join(dir, "out"), filepath.Join(dir, "err")
	for _, p := range []string{out, errp} {
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := openFds(t)
	// The reader side, as ctr opens it.
	rOut, err := os.OpenFile(out, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	rErr, err := os.OpenFile(errp, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPipeIO(context.Background(), "", out, errp)
	if err != nil {
		t.Fatal(err)
	}
	if p.childIn != nil || p.childOut == nil || p.childErr == nil {
		t.Fatalf("child ends: %v %v %v", p.childIn, p.childOut, p.childErr)
	}
	w1, w2 := p.childOut, p.childErr
	got := make(chan []byte, 2)
	for _, r := range []*os.File{rOut, rErr} {
		go func(r *os.File) {
			b, _ := io.ReadAll(r)
			got <- b
		}(r)
	}
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = 'x'
	}
	if _, err := w1.Write(big); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Write([]byte("e")); err != nil {
		t.Fatal(err)
	}
	p.closeChild()
	p.waitOutput()
	p.Close()
	a, b := <-got, <-got
	if len(a)+len(b) != len(big)+1 {
		t.Fatalf("got %d+%d bytes, want %d", len(a), len(b), len(big)+1)
	}
	rOut.Close()
	rErr.Close()
	if after := openFds(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}

// The copy to an output FIFO ends (and waitOutput returns, so the exit is
// reported) only once the FIFO's reader has taken what is in it:
// containerd's client closes its read end when it deletes the exited task,
// and what it had not read would be lost.
func TestPipeIOWaitsForTheReader(t *testing.T) {
	out, r := fifoWithReader(t)
	p, err := newPipeIO(context.Background(), "", out, "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	data := bytes.Repeat([]byte("y"), 48<<10) // fits in the FIFO: the copy ends at once
	if _, err := p.childOut.Write(data); err != nil {
		t.Fatal(err)
	}
	p.closeChild()
	done := make(chan struct{})
	go func() {
		p.waitOutput()
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("waitOutput returned while the FIFO's reader had read nothing")
	case <-time.After(300 * time.Millisecond):
	}
	got, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(fifoDrainTimeout + 5*time.Second):
		t.Fatal("waitOutput did not return once the reader had read everything")
	}
	if len(got) != len(data) {
		t.Fatalf("reader got %d bytes, want %d", len(got), len(data))
	}
}

// A reader that never reads holds the copy for fifoDrainTimeout at most.
func TestDrainFifoGivesUp(t *testing.T) {
	path, _ := fifoWithReader(t)
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		drainFifo(context.Background(), w, path, 50*time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("drainFifo did not give up on a reader that never reads")
	}
}

// fifoWithReader makes a FIFO and opens its read end as ctr does (closed
// at the test's end); the reader reads nothing until the test does.
func fifoWithReader(t *testing.T) (string, *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return path, r
}
