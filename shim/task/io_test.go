package task

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func TestCheckPath(t *testing.T) {
	for in, want := range map[string]string{"": "", "/run/x/stdout": "/run/x/stdout", "fifo:///run/x": "/run/x"} {
		got, err := checkPath(in)
		if err != nil || got != want {
			t.Errorf("checkPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"file:///var/log/x", "binary:///usr/bin/logger?a=b"} {
		if _, err := checkPath(in); !errors.Is(err, errdefs.ErrNotImplemented) {
			t.Errorf("checkPath(%q): %v, want NotImplemented", in, err)
		}
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
