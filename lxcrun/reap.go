package lxcrun

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// pidfdInfo is struct pidfd_info of linux/pidfd.h (Linux 6.15+), up to
// exit_code (PIDFD_INFO_SIZE_VER0, 64 bytes).
type pidfdInfo struct {
	Mask                                    uint64
	CgroupID                                uint64
	Pid, Tgid, Ppid, Ruid, Rgid, Euid, Egid uint32
	Suid, Sgid, Fsuid, Fsgid                uint32
	ExitCode                                int32
}

const (
	// pidfdGetInfo is PIDFD_GET_INFO, _IOWR(0xFF, 11, struct pidfd_info).
	pidfdGetInfo = 0xC040FF0B
	// pidfdInfoExit is PIDFD_INFO_EXIT: exit_code is set once the
	// process has been reaped.
	pidfdInfoExit = 0x8
)

// exitInfo asks the kernel for the wait status of the reaped process of
// fd: ok false when it has not been reaped yet; an error when the kernel
// cannot tell (before 6.15: ENOTTY or EINVAL).
func exitInfo(fd int) (ws syscall.WaitStatus, ok bool, err error) {
	info := pidfdInfo{Mask: pidfdInfoExit}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), pidfdGetInfo, uintptr(unsafe.Pointer(&info))); e != 0 {
		return 0, false, e
	}
	if info.Mask&pidfdInfoExit == 0 {
		return 0, false, nil
	}
	return syscall.WaitStatus(info.ExitCode), true, nil
}

// statusOf turns a kernel wait status into a Status.
func statusOf(ws syscall.WaitStatus) Status {
	if ws.Signaled() {
		return Status{Signal: ws.Signal()}
	}
	return Status{Code: ws.ExitStatus()}
}

// reapPoll is how often watchExit asks again between the process's exit
// (the pidfd is readable) and its reaping by liblxc's monitor.
const reapPoll = 200 * time.Microsecond

// watchExit records the process's status the moment it is reaped: the
// pidfd fd (a duplicate, closed here) of pid turns readable when the
// process exits. While the starter is its parent, PIDFD_GET_INFO gives
// its status once the starter has reaped it; once detached, it is this
// process's child, reaped here (wait4: a child's pid cannot be recycled
// before it is reaped), and its status also goes to the status file for
// Cleanup. Without that ioctl (kernels before 6.15) the starter's status
// file is the only source for an init the starter reaps.
func (s *starter) watchExit(fd, pid int) {
	defer unix.Close(fd)
	waitReadable(fd)
	for {
		var ws unix.WaitStatus
		if wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err == nil && wpid == pid {
			st := statusOf(syscall.WaitStatus(ws))
			if err := writeStatusFile(s.statusFile, st); err != nil {
				log.L.WithError(err).WithField("pid", pid).Warn("lxcrun: recording the exit status")
			}
			s.exitWatched(st, "reap")
			return
		}
		ws2, ok, err := exitInfo(fd)
		if ok {
			s.exitWatched(statusOf(ws2), "pidfd")
			return
		}
		s.mu.Lock()
		detached := s.detached
		if !detached && (err != nil || s.finished()) {
			s.watching = false // detach may no longer count on us
			s.mu.Unlock()
			return // the starter's status file tells
		}
		s.mu.Unlock()
		if detached && err != nil {
			if _, werr := unix.Wait4(pid, &ws, unix.WNOHANG, nil); errors.Is(werr, unix.ECHILD) {
				// Reaped by the starter before it was killed, on a
				// kernel that keeps no status for the pidfd.
				log.L.WithField("pid", pid).Warn("lxcrun: exit status lost (kernel without PIDFD_GET_INFO); reporting SIGKILL")
				s.exitWatched(Status{Signal: syscall.SIGKILL}, "lost")
				return
			}
		}
		select {
		case <-s.done:
			return
		case <-time.After(reapPoll):
		}
	}
}

// waitReadable returns once the pidfd fd is readable (its process has
// exited). It waits in Go's poller, so that a container's watch costs a
// goroutine, not a thread blocked in poll(2); fd stays open (a duplicate
// is given to the poller).
func waitReadable(fd int) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		err = unix.SetNonblock(dup, true)
		if err != nil {
			unix.Close(dup)
		}
	}
	if err != nil {
		waitPidfd(fd, forever) // no poller then: a blocking poll
		return
	}
	f := os.NewFile(uintptr(dup), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool { return waitPidfd(int(fd), 0) })
}

// forever is a waitPidfd timeout that does not end.
const forever = 100 * 365 * 24 * time.Hour

// exitWatched records st, and makes it final when the starter is
// detached (else the starter's exit does).
func (s *starter) exitWatched(st Status, from string) {
	s.mu.Lock()
	s.setExit(st, nil, from)
	detached := s.detached
	s.mu.Unlock()
	if detached {
		s.finish()
	}
}

// writeStatusFile writes st to file as zfslxc-start does, atomically.
func writeStatusFile(file string, st Status) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(st.String()+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
