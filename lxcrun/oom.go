package lxcrun

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// WatchOOM calls onOOM each time the kernel's OOM killer acts in the
// container's memory cgroup, from a goroutine, until the cgroup is
// removed (the container ended) or ctx is done. cgroup v1: an eventfd
// registered on memory.oom_control through cgroup.event_control; v2:
// inotify on memory.events, whose oom_kill count grows. It reports
// errdefs.ErrNotImplemented when the container has no memory cgroup.
func (c *Container) WatchOOM(ctx context.Context, onOOM func()) error {
	cg, err := c.runningCgroups()
	if err != nil {
		return err
	}
	if cg.unified != "" {
		return watchOOMV2(ctx, cg.unified, onOOM)
	}
	dir, ok := cg.v1["memory"]
	if !ok {
		return fmt.Errorf("container %s has no memory cgroup: %w", c.name, errdefs.ErrNotImplemented)
	}
	return watchOOMV1(ctx, dir, onOOM)
}

func watchOOMV1(ctx context.Context, dir string, onOOM func()) error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	ev := os.NewFile(uintptr(efd), "oom-eventfd")
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		ev.Close()
		return err
	}
	defer ctl.Close() // the registration holds its own reference
	reg := fmt.Sprintf("%d %d", ev.Fd(), ctl.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		ev.Close()
		return fmt.Errorf("registering for OOM events: %w", err)
	}
	go func() {
		defer ev.Close()
		stop := context.AfterFunc(ctx, func() { ev.Close() })
		defer stop()
		buf := make([]byte, 8)
		for {
			if _, err := ev.Read(buf); err != nil {
				return // closed: ctx done
			}
			// The eventfd also fires when the cgroup is removed.
			if _, err := os.Stat(filepath.Join(dir, "cgroup.event_control")); err != nil {
				return
			}
			n := binary.LittleEndian.Uint64(buf)
			log.G(ctx).WithFields(log.Fields{"cgroup": dir, "events": n}).Debug("OOM event")
			onOOM()
		}
	}()
	return nil
}

// oomKills reads the oom_kill count of a v2 memory.events file.
func oomKills(file string) (uint64, error) {
	kv, err := readKV(file)
	if err != nil {
		return 0, err
	}
	return kv["oom_kill"], nil
}

func watchOOMV2(ctx context.Context, dir string, onOOM func()) error {
	events := filepath.Join(dir, "memory.events")
	last, err := oomKills(events)
	if err != nil {
		return fmt.Errorf("container cgroup %s: %w", dir, err)
	}
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	in := os.NewFile(uintptr(ifd), "oom-inotify")
	if _, err := unix.InotifyAddWatch(ifd, events, unix.IN_MODIFY|unix.IN_DELETE_SELF); err != nil {
		in.Close()
		return fmt.Errorf("watching %s: %w", events, err)
	}
	go func() {
		defer in.Close()
		stop := context.AfterFunc(ctx, func() { in.Close() })
		defer stop()
		buf := make([]byte, 4096)
		for {
			n, err := in.Read(buf)
			if err != nil {
				return
			}
			gone := false
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				mask := binary.LittleEndian.Uint32(buf[off+4:])
				nameLen := int(binary.LittleEndian.Uint32(buf[off+12:]))
				if mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF) != 0 {
					gone = true
				}
				off += unix.SizeofInotifyEvent + nameLen
			}
			now, err := oomKills(events)
			if err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					log.G(ctx).WithError(err).WithField("file", events).Warn("reading OOM count")
				}
				return
			}
			for ; last < now; last++ {
				log.G(ctx).WithFields(log.Fields{"cgroup": dir, "oom_kill": strconv.FormatUint(now, 10)}).Debug("OOM event")
				onOOM()
			}
			if gone {
				return
			}
		}
	}()
	return nil
}
