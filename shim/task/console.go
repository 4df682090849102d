package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/zfslxc/zfslxc/lxcrun"
)

// console is the terminal of a process.terminal process (ctr run -t,
// ctr task exec -t): a pty that zfslxc-init opens in the container's own
// devpts (lxcrun's Stdio.NewConsole, as runc's console socket), whose
// slave the process has as stdin, stdout, stderr and controlling
// terminal, and whose master the shim copies to and from the task's IO,
// as runc's shim does with its console. The copies go through pipeIO's
// child ends, so every stdio kind pipeIO knows (FIFOs, file://,
// binary://) works with a terminal too:
//
//	stdin FIFO → pipeIO → childIn → master → slave (the process)
//	the process → slave → master → childOut → pipeIO → stdout FIFO
//
// There is no stderr in terminal mode: the pty merges it into stdout.
type console struct {
	master *os.File
	done   chan struct{}

	closeOnce sync.Once
}

// newConsole starts copying between master and pio's child ends, which it
// takes over (closeChild then leaves them alone).
func newConsole(ctx context.Context, pio *pipeIO, master *os.File) (*console, error) {
	if master == nil {
		return nil, errors.New("terminal: no pty master from the container")
	}
	c := &console{master: master, done: make(chan struct{})}
	if in := pio.childIn; in != nil {
		pio.childIn = nil
		go func() {
			defer in.Close()
			// Ends at stdin's end of file, or when pipeIO's Close
			// closes the pipe's write end after the exit.
			if _, err := io.Copy(master, in); err != nil && !isPtyGone(err) {
				log.G(ctx).WithError(err).Debug("copying stdin to the pty")
			}
		}()
	}
	out := pio.childOut
	pio.childOut = nil
	go func() {
		defer close(c.done)
		if out == nil {
			_, _ = io.Copy(io.Discard, master)
			return
		}
		defer out.Close()
		// Reads of the master return what the process wrote, then EIO
		// once every slave descriptor is closed: the process and
		// everything it started have ended. Nothing written before is
		// lost.
		if _, err := io.Copy(out, master); err != nil && !isPtyGone(err) {
			log.G(ctx).WithError(err).Warn("copying the pty's output")
		}
	}()
	// stderr is merged into the terminal; nobody writes to it.
	if e := pio.childErr; e != nil {
		pio.childErr = nil
		e.Close()
	}
	return c, nil
}

// isPtyGone reports the errors that only say the other side is closed.
func isPtyGone(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, os.ErrClosed)
}

// resize sets the terminal's window size (ResizePty).
func (c *console) resize(width, height uint32) error {
	return lxcrun.Resize(c.master, uint(width), uint(height))
}

// wait waits until the output is copied to the end.
func (c *console) wait() { <-c.done }

// Close closes the master (after wait, or to give up).
func (c *console) Close() {
	c.closeOnce.Do(func() { c.master.Close() })
}

// processStdio returns what the starter gets as stdin, stdout and
// stderr: pio's child ends, or with a terminal nothing but the request
// for a pty made in the container (see console; newConsole takes the
// child ends once the master is there).
func processStdio(pio *pipeIO, terminal bool) lxcrun.Stdio {
	if terminal {
		return lxcrun.Stdio{NewConsole: true}
	}
	stdio := lxcrun.Stdio{}
	// Typed nil *os.File would not be nil interfaces: set only what exists.
	if pio.childIn != nil {
		stdio.Stdin = pio.childIn
	}
	if pio.childOut != nil {
		stdio.Stdout = pio.childOut
	}
	if pio.childErr != nil {
		stdio.Stderr = pio.childErr
	}
	return stdio
}

// resizeConsole is ResizePty for a process whose console is con.
func resizeConsole(id string, con *console, width, height uint32) error {
	if con == nil {
		return fmt.Errorf("process %s has no terminal: %w", id, errdefs.ErrFailedPrecondition)
	}
	return con.resize(width, height)
}
