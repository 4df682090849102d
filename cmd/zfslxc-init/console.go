package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// openConsole opens a new pty in the container's own devpts, as runc's
// init does for its console socket, and makes its slave the helper's
// stdin, stdout and stderr (setupTerminal then makes it the controlling
// terminal). It returns the master, which the host gets over the sync
// socket. The slave's name (/dev/pts/N) is then the container's: ttyname
// and tty(1) work in the container, unlike with a pty of the host's
// devpts passed in as stdio.
func openConsole() (int, error) {
	var master int
	var err error
	// /dev/ptmx opens a pty of the devpts mounted at the pts directory
	// beside it; /dev/pts/ptmx is that instance's own.
	for _, p := range []string{"/dev/ptmx", "/dev/pts/ptmx"} {
		if master, err = unix.Open(p, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
			break
		}
	}
	if err != nil {
		return -1, fmt.Errorf("opening the container's ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(master)
		return -1, fmt.Errorf("unlocking the pty: %w", err)
	}
	// TIOCGPTPEER: the slave without a path lookup.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY))
	if errno != 0 {
		unix.Close(master)
		return -1, fmt.Errorf("opening the pty's slave: %w", errno)
	}
	slave := int(r)
	defer unix.Close(slave)
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			unix.Close(master)
			return -1, fmt.Errorf("pty slave as fd %d: %w", fd, err)
		}
	}
	return master, nil
}

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
