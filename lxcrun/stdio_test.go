package lxcrun

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSendStdio: the stdio message carries three descriptors (a file as
// it is, a reader and a writer through pipes, nil as /dev/null), and once
// the receiver has closed what it got, the output copy ends: we keep no
// write end open.
func TestSendStdio(t *testing.T) {
	child, conn, err := syncPair()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	defer conn.Close()
	errFile, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	var out bytes.Buffer
	s := newStarter("container t", ErrStartFailed, "")
	if err := s.sendStdio(conn, Stdio{Stdin: strings.NewReader("in"), Stdout: &out, Stderr: errFile}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := unix.Recvmsg(int(child.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil || string(buf[:n]) != stdioMessage {
		t.Fatalf("Recvmsg: %q, %v", buf[:n], err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v, %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 3 {
		t.Fatalf("rights: %v, %v", fds, err)
	}
	in, stdout, stderr := os.NewFile(uintptr(fds[0]), "in"), os.NewFile(uintptr(fds[1]), "out"), os.NewFile(uintptr(fds[2]), "err")
	if data, err := io.ReadAll(in); err != nil || string(data) != "in" {
		t.Errorf("stdin: %q, %v", data, err)
	}
	if _, err := stdout.WriteString("out"); err != nil {
		t.Fatal(err)
	}
	if _, err := stderr.WriteString("err"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*os.File{in, stdout, stderr} {
		f.Close()
	}
	done := make(chan struct{})
	go func() {
		s.outputs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stdout copy did not end: a write end is still open on our side")
	}
	if out.String() != "out" {
		t.Errorf("stdout = %q", out.String())
	}
	if data, _ := os.ReadFile(errFile.Name()); string(data) != "err" {
		t.Errorf("stderr file = %q (the file itself must be passed)", data)
	}
}
