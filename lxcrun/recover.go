package lxcrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// pidsFile in the state directory records the processes of a started
// container, so that a process other than the one that started it (the
// shim's `delete` action, after the shim died) can stop it: see Cleanup.
const pidsFile = "pids.json"

// procRef names a process by pid and start time (field 22 of
// /proc/PID/stat, clock ticks since boot): a recycled pid has another
// start time, so Cleanup never signals a stranger.
type procRef struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// pidsState is the content of pidsFile.
type pidsState struct {
	Starter procRef  `json:"starter"`
	Init    *procRef `json:"init,omitempty"` // nil until init is ready
	// Cgroups are the container's own cgroup directories (ownCgroups),
	// recorded once init is ready, for Delete and Cleanup to remove when
	// LXC could not (its monitor was killed).
	Cgroups []string `json:"cgroups,omitempty"`
}

// writePids records the starter (and init once known) atomically.
func (c *Container) writePids(starterPid, initPid int) error {
	var st pidsState
	var err error
	if st.Starter, err = refOf(starterPid); err != nil {
		return err
	}
	if initPid > 0 {
		r, err := refOf(initPid)
		if err != nil {
			return err
		}
		st.Init = &r
		st.Cgroups = c.ownCgroups(initPid, starterPid)
		c.cgroups = st.Cgroups
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, "."+pidsFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.dir, pidsFile))
}

func refOf(pid int) (procRef, error) {
	t, err := startTime(pid)
	if err != nil {
		return procRef{}, err
	}
	return procRef{Pid: pid, StartTime: t}, nil
}

// startTime reads field 22 (starttime) of /proc/PID/stat.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces and parentheses: split after the
	// last ')'. Field 3 (state) is then the first field.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	const idx = 22 - 3
	if len(f) <= idx {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after comm", pid, len(f))
	}
	return strconv.ParseUint(f[idx], 10, 64)
}

// openRef returns a pidfd of r's process, or -1 when it is gone (or its
// pid now names another process).
func openRef(r procRef) (int, error) {
	if r.Pid <= 0 {
		return -1, nil
	}
	fd, err := unix.PidfdOpen(r.Pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, nil
		}
		return -1, fmt.Errorf("pidfd of %d: %w", r.Pid, err)
	}
	// Checked after the pidfd is open: it then pins the process.
	t, err := startTime(r.Pid)
	if err != nil || t != r.StartTime {
		unix.Close(fd)
		return -1, nil
	}
	return fd, nil
}

// waitPidfd waits until the process of fd has exited, or timeout.
func waitPidfd(fd int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms < 0 {
			ms = 0
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if err == nil && n > 0 {
			return true
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || time.Now().After(deadline) {
			return false
		}
	}
}

// Cleanup stops what a container started from the state directory dir
// left running when the process that started it is gone (the shim was
// killed), and removes dir. It kills init with SIGKILL (every process of
// the container goes with it, init being PID 1 of its pid namespace),
// kills zfslxc-start if it still runs (only during a create: the shim ends
// it once init is set up, ADR 0007) and removes the recorded cgroups. A
// dir that does not exist is not an error. It returns init's status as
// recorded (by zfslxc-start, or by the shim that reaped init), nil when
// none was (never started, or killed before its status was known).
func Cleanup(ctx context.Context, dir string) (*Status, error) {
	data, err := os.ReadFile(filepath.Join(dir, pidsFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var st pidsState
		if err := json.Unmarshal(data, &st); err != nil {
			log.G(ctx).WithError(err).WithField("dir", dir).Warn("lxcrun: unreadable " + pidsFile)
		} else if err := stopOrphan(ctx, st); err != nil {
			return nil, err
		} else {
			removeCgroups(ctx, st.Cgroups)
		}
	}
	status := recordedStatus(ctx, dir)
	if err := os.RemoveAll(dir); err != nil {
		return status, fmt.Errorf("removing state dir: %w", err)
	}
	return status, nil
}

// recordedStatus reads the status zfslxc-start wrote in dir, if any.
func recordedStatus(ctx context.Context, dir string) *Status {
	data, err := os.ReadFile(filepath.Join(dir, statusFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.G(ctx).WithError(err).WithField("dir", dir).Warn("lxcrun: reading the status file")
		}
		return nil
	}
	st, err := ParseStatus(string(data))
	if err != nil {
		log.G(ctx).WithError(err).WithField("dir", dir).Debug("lxcrun: no exit status recorded")
		return nil
	}
	return &st
}

func stopOrphan(ctx context.Context, st pidsState) error {
	sfd, err := openRef(st.Starter)
	if err != nil {
		return err
	}
	if sfd >= 0 {
		defer unix.Close(sfd)
	}
	if st.Init != nil {
		ifd, err := openRef(*st.Init)
		if err != nil {
			return err
		}
		if ifd >= 0 {
			log.G(ctx).WithField("pid", st.Init.Pid).Info("lxcrun: killing orphaned container init")
			if err := unix.PidfdSendSignal(ifd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				unix.Close(ifd)
				return fmt.Errorf("killing init %d: %w", st.Init.Pid, err)
			}
			unix.Close(ifd)
		}
	} else if sfd >= 0 {
		// Killed during create: init, if cloned, is the starter's child.
		for _, pid := range childPids(st.Starter.Pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if sfd < 0 {
		return nil
	}
	if waitPidfd(sfd, killTimeout) {
		return nil
	}
	log.G(ctx).WithField("pid", st.Starter.Pid).Warn("lxcrun: zfslxc-start did not exit after init was killed; killing it")
	if err := unix.PidfdSendSignal(sfd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("killing zfslxc-start %d: %w", st.Starter.Pid, err)
	}
	if !waitPidfd(sfd, killTimeout) {
		return fmt.Errorf("zfslxc-start %d did not exit after SIGKILL", st.Starter.Pid)
	}
	return nil
}

// recordedCgroups returns the cgroups recorded in dir's pidsFile.
func recordedCgroups(dir string) []string {
	data, err := os.ReadFile(filepath.Join(dir, pidsFile))
	if err != nil {
		return nil
	}
	var st pidsState
	if json.Unmarshal(data, &st) != nil {
		return nil
	}
	return st.Cgroups
}
