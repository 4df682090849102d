package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// fifoOpenTimeout bounds the wait for containerd's side of a FIFO.
const fifoOpenTimeout = 30 * time.Second

// pipeIO connects the task's FIFOs (as ctr and containerd create them) to
// pipes the container gets as stdin/stdout/stderr. The container never
// holds containerd's FIFOs.
type pipeIO struct {
	// Child ends, given to lxcrun.Start, closed by closeChild.
	childIn, childOut, childErr *os.File

	outs    sync.WaitGroup // stdout and stderr copies
	closers []io.Closer    // our ends and FIFOs, closed by Close
	mu      sync.Mutex     // guards closers
}

// checkPath accepts a plain FIFO path (or fifo://); other schemes
// (file://, binary://) are not implemented yet.
func checkPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if i := strings.Index(p, "://"); i >= 0 {
		if p[:i] != "fifo" {
			return "", fmt.Errorf("stdio %q: scheme %q: %w", p, p[:i], errdefs.ErrNotImplemented)
		}
		p = p[i+3:]
	}
	return p, nil
}

func newPipeIO(ctx context.Context, stdin, stdout, stderr string) (_ *pipeIO, retErr error) {
	p := &pipeIO{}
	defer func() {
		if retErr != nil {
			p.closeChild()
			p.Close()
		}
	}()
	var err error
	if stdin, err = checkPath(stdin); err != nil {
		return nil, err
	}
	if stdout, err = checkPath(stdout); err != nil {
		return nil, err
	}
	if stderr, err = checkPath(stderr); err != nil {
		return nil, err
	}
	if stdout != "" {
		if p.childOut, err = p.output(ctx, stdout); err != nil {
			return nil, err
		}
	}
	if stderr != "" {
		if p.childErr, err = p.output(ctx, stderr); err != nil {
			return nil, err
		}
	}
	if stdin != "" {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		p.childIn = r
		p.addCloser(w)
		go p.input(ctx, stdin, w)
	}
	return p, nil
}

func (p *pipeIO) addCloser(c io.Closer) {
	p.mu.Lock()
	p.closers = append(p.closers, c)
	p.mu.Unlock()
}

// output opens FIFO path for writing and returns the write end of a pipe
// whose output is copied to it until every writer has closed the pipe.
func (p *pipeIO) output(ctx context.Context, path string) (*os.File, error) {
	f, err := openWriteFifo(ctx, path)
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
			log.G(ctx).WithError(err).WithField("fifo", path).Warn("copying output; discarding the rest")
			_, _ = io.Copy(io.Discard, r)
		}
	}()
	return w, nil
}

// input copies FIFO path into w, and closes w at end of file (the
// container then reads EOF).
func (p *pipeIO) input(ctx context.Context, path string, w *os.File) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0) // blocks until a writer opens it
	if err != nil {
		log.G(ctx).WithError(err).WithField("fifo", path).Warn("opening stdin")
		w.Close()
		return
	}
	p.addCloser(f)
	if _, err := io.Copy(w, f); err != nil && !errors.Is(err, os.ErrClosed) {
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
// writer in the container is gone).
func (p *pipeIO) waitOutput() { p.outs.Wait() }

// Close closes stdin's pipe and FIFO.
func (p *pipeIO) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.closers {
		c.Close()
	}
	p.closers = nil
}
