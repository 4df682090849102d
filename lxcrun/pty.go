package lxcrun

import (
	"fmt"
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Terminal mode (process.terminal). LXC never owns the console here
// (lxc.console.path = none always: a console pty of its own would be wired
// to nothing zfslxc-start is given). The caller allocates a pty instead,
// with OpenPty or otherwise, passes the slave as Stdio.Stdin, Stdout and
// Stderr, closes its own copy of the slave once Start has returned, and
// copies between the master and the task's IO. zfslxc-init applies
// process.consoleSize to the slave and makes it the controlling terminal:
// of the payload in exec mode (setsid and TIOCSCTTY before exec), of the
// forked child in reaper mode (PID 1 stays out of the terminal's session).
// Resize changes the window size later; reads from the master fail with
// EIO once every slave descriptor is closed, that is when the container
// has ended.
//
// Inside the container the slave is a descriptor of the host's devpts: the
// tty works (isatty, termios, job control, /dev/tty), but its name
// (/proc/self/fd/0 → /dev/pts/N) is the host's, so ttyname(3) and tty(1)
// name a /dev/pts/N of the container's own devpts that is another (or no)
// pty. runc creates the pty inside the container and sends the master out
// over a socket to avoid that; so does Stdio.NewConsole, which the shim
// uses: zfslxc-init opens /dev/ptmx in the container and sends the master
// with "ready" (Container.Console, Process.Console).

// OpenPty opens a new pty pair on the host's /dev/ptmx: the master and the
// slave, both close-on-exec and without making either the caller's
// controlling terminal.
func OpenPty() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening %s: %w", name, err)
	}
	return master, os.NewFile(uintptr(sfd), name), nil
}

// Resize sets the window size of the pty behind f (the master or a slave)
// to width columns and height rows; the kernel sends SIGWINCH to the
// terminal's foreground process group (the container's process). This is
// what the shim's ResizePty does on the master it holds.
func Resize(f *os.File, width, height uint) error {
	if width > math.MaxUint16 || height > math.MaxUint16 {
		return fmt.Errorf("window size %dx%d too large", width, height)
	}
	ws := &unix.Winsize{Col: uint16(width), Row: uint16(height)}
	if err := control(f, func(fd int) error { return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws) }); err != nil {
		return fmt.Errorf("resizing pty: %w", err)
	}
	return nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	return control(f, func(fd int) error {
		_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		return err
	}) == nil
}

// control runs fn on f's descriptor without f.Fd(), which would switch a
// master read through the runtime poller to blocking mode.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
