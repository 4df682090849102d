package lxcrun

import (
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// stdioMessage is what init reads first from the sync socket, with its
// stdin, stdout and stderr attached (zfslxc-init --stdio-from-sync).
const stdioMessage = "stdio"

// sendStdio hands init its standard streams through the sync socket
// instead of as zfslxc-start's own: the starter, liblxc's monitor, lives
// on through the container's teardown after init is reaped, and as long
// as it held the write end of an output pipe, the reader saw no end of
// file (docs/adr/0004-exit-at-reap.md). *os.File values go as they are;
// other readers and writers through pipes copied by goroutines (s.outputs
// counts the output copies); nil is /dev/null. The message waits in the
// socket until init takes it.
func (s *starter) sendStdio(conn *net.UnixConn, stdio Stdio) error {
	var files, ours []*os.File // ours: our copies of what the container gets
	defer func() { closeFiles(ours) }()
	in, err := s.inputFile(stdio.Stdin, &ours)
	if err != nil {
		return err
	}
	files = append(files, in)
	for _, w := range []io.Writer{stdio.Stdout, stdio.Stderr} {
		f, err := s.outputFile(w, &ours)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if _, _, err := conn.WriteMsgUnix([]byte(stdioMessage), unix.UnixRights(fds...), nil); err != nil {
		return fmt.Errorf("sync socket: sending stdio: %w", err)
	}
	return nil
}

func openNull(flag int, ours *[]*os.File) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, flag, 0)
	if err != nil {
		return nil, err
	}
	*ours = append(*ours, f)
	return f, nil
}

// inputFile is the file init reads r from.
func (s *starter) inputFile(r io.Reader, ours *[]*os.File) (*os.File, error) {
	if f, ok := r.(*os.File); ok && f != nil {
		return f, nil
	}
	if r == nil {
		return openNull(os.O_RDONLY, ours)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	*ours = append(*ours, pr)
	go func() {
		defer pw.Close()
		_, _ = io.Copy(pw, r)
	}()
	return pr, nil
}

// outputFile is the file init writes w to.
func (s *starter) outputFile(w io.Writer, ours *[]*os.File) (*os.File, error) {
	if f, ok := w.(*os.File); ok && f != nil {
		return f, nil
	}
	if w == nil {
		return openNull(os.O_WRONLY, ours)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	*ours = append(*ours, pw)
	s.outputs.Add(1)
	go func() {
		defer s.outputs.Done()
		defer pr.Close()
		_, _ = io.Copy(w, pr)
	}()
	return pw, nil
}
