package task

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcrun"
)

// The console copies stdin's FIFO to the pty and the pty to stdout's FIFO:
// what the process wrote before it closed the slave all arrives, the
// output ends once the last slave is closed, and nothing stays open.
func TestConsole(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	for _, p := range []string{in, out} {
		if err := unix.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := openFds(t)
	rOut, err := os.OpenFile(out, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	wIn, err := os.OpenFile(in, os.O_RDWR, 0) // as ctr: a writer before create
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pio, err := newPipeIO(ctx, in, out, "")
	if err != nil {
		t.Fatal(err)
	}
	if stdio := processStdio(pio, true); !stdio.NewConsole || stdio.Stdin != nil || stdio.Stdout != nil {
		t.Fatalf("terminal stdio %+v, want only NewConsole", stdio)
	}
	// The pty zfslxc-init would make in the container, and the process's
	// end of it.
	master, slave, err := lxcrun.OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	con, err := newConsole(ctx, pio, master)
	if err != nil {
		t.Fatal(err)
	}
	pio.closeChild()
	if err := resizeConsole("t", con, 100, 30); err != nil {
		t.Fatal(err)
	}
	var ws *unix.Winsize
	rc, _ := slave.SyscallConn()
	_ = rc.Control(func(fd uintptr) { ws, err = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) })
	if err != nil || ws.Col != 100 || ws.Row != 30 {
		t.Errorf("window size %+v, %v; want 100x30", ws, err)
	}
	// Input typed on stdin reaches the process (canonical mode: a line).
	if _, err := wIn.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := slave.Read(buf)
	if err != nil || string(buf[:n]) != "typed\n" {
		t.Errorf("process read %q, %v", buf[:n], err)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rOut)
		got <- string(b)
	}()
	big := strings.Repeat("y", 100000)
	if _, err := slave.Write([]byte(big + "\nlast line\n")); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the process ends
	pio.waitOutput()
	con.wait()
	o := <-got
	if !strings.HasSuffix(o, "last line\r\n") || !strings.Contains(o, big) {
		t.Errorf("output: %d bytes, ends %q", len(o), o[max(0, len(o)-20):])
	}
	wIn.Close()
	pio.Close()
	con.Close()
	rOut.Close()
	// The stdin copy ends on its own once stdin's pipe is closed.
	deadline := time.Now().Add(10 * time.Second)
	for openFds(t) != before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := openFds(t); after != before {
		t.Errorf("open fds: %d before, %d after", before, after)
	}
}
