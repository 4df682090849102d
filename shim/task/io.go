package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

const (
	// fifoOpenTimeout bounds the wait for containerd's side of a FIFO.
	fifoOpenTimeout = 30 * time.Second
	// fifoDrainTimeout bounds the wait for the reader of an output FIFO
	// to take what is still in it (see drainFifo).
	fifoDrainTimeout = 2 * time.Second
)

// pipeIO connects the task's stdio, as containerd names it, to pipes the
// container gets as stdin/stdout/stderr: FIFOs (ctr, containerd's cio),
// file:// (appended to) and binary:// (a logger process, nerdctl's log
// driver), as containerd's runc shim does. The container never holds
// containerd's FIFOs, the log file or the logger's pipes directly.
type pipeIO struct {
	// Child ends, given to lxcrun.Start, closed by closeChild.
	childIn, childOut, childErr *os.File

	outs    sync.WaitGroup // stdout and stderr copies
	logger  *logger        // binary:// logger, or nil; set once
	closers []io.Closer    // our ends and FIFOs, closed by Close
	mu      sync.Mutex     // guards closers
}

// ioOwner names the process whose stdio a pipeIO serves: a binary://
// logger gets them as CONTAINER_ID and CONTAINER_NAMESPACE.
type ioOwner struct {
	ID, Namespace string
}

// newPipeIO is newProcessIO for FIFOs and file:// (no binary:// logger,
// which needs the container's id).
func newPipeIO(ctx context.Context, stdin, stdout, stderr string) (*pipeIO, error) {
	return newProcessIO(ctx, ioOwner{}, stdin, stdout, stderr)
}

// ttyStderr is the stderr to connect for a process: none with a terminal,
// where the pty merges stderr into stdout. Clients still name a stderr
// FIFO then (nerdctl run -t) but never create it; runc's shim ignores it
// too.
func ttyStderr(terminal bool, stderr string) string {
	if terminal {
		return ""
	}
	return stderr
}

// newProcessIO parses the three stdio values (see parseStdio) and sets up
// their copies; with a binary:// stdout it starts the logger and returns
// once the logger says it is ready.
func newProcessIO(ctx context.Context, owner ioOwner, stdin, stdout, stderr string) (_ *pipeIO, retErr error) {
	in, err := parseStdio("stdin", stdin)
	if err != nil {
		return nil, err
	}
	out, err := parseStdio("stdout", stdout)
	if err != nil {
		return nil, err
	}
	errURI, err := parseStdio("stderr", stderr)
	if err != nil {
		return nil, err
	}
	if in.kind == stdioFile || in.kind == stdioBinary {
		return nil, fmt.Errorf("stdin %q: only a FIFO can be stdin: %w", stdin, errdefs.ErrInvalidArgument)
	}
	if out.kind == stdioBinary || errURI.kind == stdioBinary {
		// One logger reads both streams (fds 3 and 4), as under runc.
		if out.kind != stdioBinary {
			return nil, fmt.Errorf("stderr %q: a binary:// logger must be given as stdout too (stdout is %q): %w", stderr, stdout, errdefs.ErrInvalidArgument)
		}
		if errURI.kind != stdioNone && stderr != stdout {
			return nil, fmt.Errorf("stdout %q, stderr %q: a binary:// logger must be given as stdout and stderr alike: %w", stdout, stderr, errdefs.ErrInvalidArgument)
		}
		if owner.ID == "" {
			return nil, fmt.Errorf("stdout %q: a binary:// logger needs the container's id: %w", stdout, errdefs.ErrNotImplemented)
		}
	}

	p := &pipeIO{}
	defer func() {
		if retErr != nil {
			p.closeChild()
			p.Close()
		}
	}()
	if out.kind == stdioBinary {
		l, wOut, wErr, err := startLogger(ctx, out, owner)
		if err != nil {
			return nil, err
		}
		p.logger = l
		p.childOut, p.childErr = wOut, wErr
	} else {
		if out.kind != stdioNone {
			if p.childOut, err = p.output(ctx, out); err != nil {
				return nil, err
			}
		}
		if errURI.kind != stdioNone {
			if p.childErr, err = p.output(ctx, errURI); err != nil {
				return nil, err
			}
		}
	}
	if in.kind != stdioNone {
		fifo, err := p.openInput(in.path)
		if err != nil {
			return nil, err
		}
		r, w, err := os.Pipe()
		if err != nil {
			fifo.Close()
			return nil, err
		}
		p.childIn = r
		p.addCloser(w)
		go p.input(ctx, fifo, w)
	}
	return p, nil
}

func (p *pipeIO) addCloser(c io.Closer) {
	p.mu.Lock()
	p.closers = append(p.closers, c)
	p.mu.Unlock()
}

// output opens u (a FIFO for writing, or a file to append to) and returns
// the write end of a pipe whose output is copied to it until every writer
// has closed the pipe.
func (p *pipeIO) output(ctx context.Context, u stdioURI) (*os.File, error) {
	var f *os.File
	var err error
	if u.kind == stdioFile {
		f, err = openLogFile(u.path)
	} else {
		f, err = openWriteFifo(ctx, u.path)
	}
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	p.outs.Add(1)
	go func() {
		defer p.outs.Done()
		defer r.Close()
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			log.G(ctx).WithError(err).WithField("path", u.path).Warn("copying output; discarding the rest")
			_, _ = io.Copy(io.Discard, r)
			return
		}
		if u.kind != stdioFile {
			drainFifo(ctx, f, u.path, fifoDrainTimeout)
		}
	}()
	return w, nil
}

// drainFifo waits until the reader of the FIFO f (our write end) has
// taken everything written to it, at most timeout. The exit is reported
// only after the output is copied, and containerd's client (cio, ctr and
// nerdctl alike) closes its read end as soon as it deletes the exited
// task: what it had not read by then, up to a pipe's 64 KiB, would be
// lost (seen under load: a 1 MiB output 56 KiB short). A reader that
// went away leaves the data unread: the wait then ends at the timeout.
func drainFifo(ctx context.Context, f *os.File, path string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
		n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ) // FIONREAD
		if err != nil || n == 0 {
			return
		}
		if time.Now().After(deadline) {
			log.G(ctx).WithField("path", path).WithField("unread", n).Warn("output FIFO not drained by its reader; reporting the exit")
			return
		}
		time.Sleep(pause)
	}
}

// openLogFile opens path for appending, creating it (0644, as runc's shim)
// and its directories (0755).
func openLogFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// openInput opens the stdin FIFO for reading, at once and without
// blocking: the client (ctr, CRI, nerdctl) opened its writer before it
// created the task, and the kernel counts a writer waiting in open as
// present, so a read sees the client's data and then end of file once
// its writer is closed — also when the client's stdin was empty and its
// writer came and went before this open (then the first read is end of
// file). A reader that waited in a blocking open instead would wait
// forever for a writer that is gone, unless CloseIO came, which ctr only
// sends when its stdin ends after the task exists. The shim holds no
// writer of its own (runc's shim does, and so needs CloseIO for every
// end of file).
func (p *pipeIO) openInput(path string) (*os.File, error) {
	// Non-blocking: reads go through the poller, so Close interrupts them.
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	p.addCloser(r)
	return r, nil
}

// input copies the stdin FIFO into w, and closes w at end of file (the
// container then reads EOF).
func (p *pipeIO) input(ctx context.Context, fifo, w *os.File) {
	if _, err := io.Copy(w, fifo); err != nil && !errors.Is(err, os.ErrClosed) {
		log.G(ctx).WithError(err).Debug("copying stdin")
	}
	w.Close()
}

// openWriteFifo opens a FIFO for writing, waiting for its reader (ctr
// opens it before it creates the task, so that is normally at once).
func openWriteFifo(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, syscall.ENXIO) {
		return nil, err
	}
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		ch <- result{f, err}
	}()
	ctx, cancel := context.WithTimeout(ctx, fifoOpenTimeout)
	defer cancel()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		// Unblock the open with a reader of our own.
		if rf, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			if r := <-ch; r.f != nil {
				r.f.Close()
			}
			rf.Close()
		}
		return nil, fmt.Errorf("opening %s: no reader: %w", path, ctx.Err())
	}
}

// closeChild closes our copies of the child ends (after Start, or on
// failure).
func (p *pipeIO) closeChild() {
	for _, f := range []*os.File{p.childIn, p.childOut, p.childErr} {
		if f != nil {
			f.Close()
		}
	}
}

// waitOutput waits until stdout and stderr are copied to the end (every
// writer in the container is gone), and a binary:// logger has read them
// to the end and exited (bounded by loggerDrainTimeout).
func (p *pipeIO) waitOutput() {
	p.outs.Wait()
	if p.logger != nil {
		p.logger.waitDrained()
	}
}

// Close closes stdin's pipe and FIFO and stops a binary:// logger
// (SIGTERM, then SIGKILL), waiting for it.
func (p *pipeIO) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.closers {
		c.Close()
	}
	p.closers = nil
	if p.logger != nil {
		p.logger.stop()
	}
}
