package lxcrun

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// WatchOOM calls onOOM each time the kernel's OOM killer acts in the
// container's memory cgroup, from a goroutine, until the cgroup is
// removed (the container ended) or ctx is done. It goes through
// containerd/cgroups/v3 as runc's shim does: cgroup v1, the eventfd of
// cgroup1.Cgroup.OOMEventFD (memory.oom_control); v2,
// cgroup2.Manager.EventChan, whose oom_kill count grows. It reports
// errdefs.ErrNotImplemented when the container has no memory cgroup.
func (c *Container) WatchOOM(ctx context.Context, onOOM func()) error {
	m, err := c.cgroupManager()
	if err != nil {
		return err
	}
	if err := m.watchOOM(ctx, onOOM); err != nil {
		return fmt.Errorf("container %s: %w", c.name, c.goneIfMissing(err))
	}
	return nil
}

func (m v1Manager) watchOOM(ctx context.Context, onOOM func()) error {
	fd, err := m.cg.OOMEventFD()
	if errors.Is(err, cgroup1.ErrMemoryNotSupported) {
		return fmt.Errorf("no memory cgroup: %w", errdefs.ErrNotImplemented)
	}
	if err != nil {
		return fmt.Errorf("registering for OOM events: %w", err)
	}
	// Non-blocking, so that closing the file ends a pending read.
	if err := unix.SetNonblock(int(fd), true); err != nil {
		unix.Close(int(fd))
		return fmt.Errorf("OOM eventfd: %w", err)
	}
	ev := os.NewFile(fd, "oom-eventfd")
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
			if m.cg.State() == cgroup1.Deleted {
				return
			}
			log.G(ctx).WithField("events", binary.LittleEndian.Uint64(buf)).Debug("OOM event")
			onOOM()
		}
	}()
	return nil
}

func (m v2Manager) watchOOM(ctx context.Context, onOOM func()) error {
	var last uint64
	if st, err := m.m.StatFiltered(cgroup2.StatMemoryEvents); err == nil {
		last = st.GetMemoryEvents().GetOomKill()
	}
	events, errc := m.m.EventChan()
	select {
	case err := <-errc: // set-up failed (no memory.events: no memory controller)
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: %w", err, errdefs.ErrNotImplemented)
		}
		return fmt.Errorf("watching memory.events: %w", err)
	default:
	}
	go func() {
		defer drainEvents(events, errc)
		for {
			select {
			case <-ctx.Done():
				return
			case err, ok := <-errc:
				if ok && err != nil {
					log.G(ctx).WithError(err).Warn("watching for OOM kills")
				}
				return
			case e := <-events:
				for ; last < e.OOMKill; last++ {
					log.G(ctx).WithField("oom_kill", e.OOMKill).Debug("OOM event")
					onOOM()
				}
			}
		}
	}()
	return nil
}

// drainEvents reads what cgroup2's watcher still sends until it ends
// (the cgroup emptied or its inotify fd failed), so that it never blocks
// on a channel nobody reads.
func drainEvents(events <-chan cgroup2.Event, errc <-chan error) {
	go func() {
		for {
			select {
			case <-events:
			case _, ok := <-errc:
				if !ok {
					return
				}
			}
		}
	}()
}
