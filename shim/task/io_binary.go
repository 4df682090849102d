package task

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/containerd/log"
)

const (
	// loggerReadyTimeout bounds the wait for a logger to close its ready
	// pipe (fd 5); runc's shim waits forever.
	loggerReadyTimeout = 30 * time.Second
	// loggerDrainTimeout bounds the wait, after the container's exit,
	// for the logger to read its pipes to the end and exit.
	loggerDrainTimeout = 10 * time.Second
	// loggerStopTimeout is how long a logger may take to exit after
	// SIGTERM before it is killed (runc's shim waits 12 s).
	loggerStopTimeout = 12 * time.Second
)

// logger is a binary:// logging process, started as containerd's runc
// shim starts it: `path args...` with only CONTAINER_ID and
// CONTAINER_NAMESPACE in its environment, the read ends of the
// container's stdout and stderr pipes as fds 3 and 4, and fd 5 a pipe it
// closes (or writes a byte to) once it is ready.
type logger struct {
	cmd  *exec.Cmd
	path string
	// readEnds are our copies of the pipes' read ends, kept as runc's
	// shim keeps them: if the logger dies, the container's writes block
	// when the pipe is full instead of killing it with SIGPIPE. Closed by
	// stop.
	readEnds []*os.File
	done     chan struct{} // closed once cmd is waited for
	err      error         // cmd.Wait's, written before done is closed
	logged   chan struct{} // closed once the logger's stderr is read to the end
}

// startLogger starts u's logger and waits until it is ready. It returns
// the write ends of the stdout and stderr pipes for the container.
func startLogger(ctx context.Context, u stdioURI, owner ioOwner) (_ *logger, stdout, stderr *os.File, retErr error) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	readyR, readyW, err := pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	// The logger's own stderr goes to the shim's log (its failures).
	logR, logW, err := pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(u.path, u.args...)
	cmd.Env = []string{"CONTAINER_ID=" + owner.ID, "CONTAINER_NAMESPACE=" + owner.Namespace}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	cmd.Stderr = logW
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("starting binary:// logger: %w", err)
	}
	l := &logger{cmd: cmd, path: u.path, readEnds: []*os.File{outR, errR}, done: make(chan struct{}), logged: make(chan struct{})}
	go func() {
		l.err = cmd.Wait()
		close(l.done)
	}()
	go func() {
		defer close(l.logged)
		logLines(ctx, u.path, logR)
	}()
	defer func() {
		if retErr != nil {
			l.stop()
		}
	}()
	// Only the logger keeps the ready pipe's write end: we read EOF on
	// it once the logger is ready (or gone).
	readyW.Close()
	logW.Close()
	files = []*os.File{outW, errW, readyR}

	if err := readyR.SetReadDeadline(time.Now().Add(loggerReadyTimeout)); err != nil {
		return nil, nil, nil, err
	}
	readDone := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := readyR.Read(b[:])
		readDone <- err
	}()
	select {
	case err = <-readDone:
	case <-ctx.Done():
		readyR.SetReadDeadline(time.Now())
		<-readDone
		return nil, nil, nil, fmt.Errorf("waiting for binary:// logger %s: %w", u.path, ctx.Err())
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, nil, fmt.Errorf("waiting for binary:// logger %s to be ready: %w", u.path, err)
	}
	readyR.Close()
	files = nil
	log.G(ctx).WithField("logger", u.path).WithField("pid", cmd.Process.Pid).Debug("binary logger ready")
	return l, outW, errW, nil
}

// logLines logs what the logger writes on its stderr, line by line,
// until every writer has closed it.
func logLines(ctx context.Context, path string, r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		log.G(ctx).WithField("logger", path).Warn(sc.Text())
	}
}

// waitDrained waits for the logger to exit by itself, which it does once
// it has read both pipes to the end (every writer is closed after the
// container's exit), for at most loggerDrainTimeout.
func (l *logger) waitDrained() {
	select {
	case <-l.done:
		if l.err != nil {
			log.L.WithError(l.err).WithField("logger", l.path).Warn("binary logger failed")
		}
	case <-time.After(loggerDrainTimeout):
		log.L.WithField("logger", l.path).Warnf("binary logger still running %v after the container's exit", loggerDrainTimeout)
	}
}

// stop ends the logger, if it still runs, with SIGTERM (so it can flush),
// then SIGKILL after loggerStopTimeout, and waits for it.
func (l *logger) stop() {
	defer func() {
		for _, f := range l.readEnds {
			f.Close()
		}
		l.readEnds = nil
		// Its stderr ends with it, unless a child of its keeps it.
		select {
		case <-l.logged:
		case <-time.After(time.Second):
		}
	}()
	select {
	case <-l.done:
		return
	default:
	}
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		log.L.WithError(err).WithField("logger", l.path).Warn("signalling the binary logger")
	}
	select {
	case <-l.done:
		return
	case <-time.After(loggerStopTimeout):
	}
	log.L.WithField("logger", l.path).Warnf("binary logger did not exit within %v of SIGTERM; killing it", loggerStopTimeout)
	if err := l.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		log.L.WithError(err).WithField("logger", l.path).Warn("killing the binary logger")
	}
	<-l.done
}
