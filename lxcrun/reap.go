package lxcrun

import (
	"errors"
	"syscall"
	"time"
	"unsafe"

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
// pidfd fd (a duplicate, closed here) turns readable when the process
// exits, and PIDFD_GET_INFO gives its status once its parent, the
// starter, has reaped it. Without that ioctl (kernels before 6.15) the
// starter's status file is the only source, as before.
func (s *starter) watchExit(fd int) {
	defer unix.Close(fd)
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 1000)
		if err == nil && n > 0 {
			break
		}
		if (err != nil && !errors.Is(err, unix.EINTR)) || s.finished() {
			return
		}
	}
	for {
		ws, ok, err := exitInfo(fd)
		if err != nil {
			return
		}
		if ok {
			s.setExit(statusOf(ws), nil, "pidfd")
			return
		}
		select {
		case <-s.done:
			return
		case <-time.After(reapPoll):
		}
	}
}
