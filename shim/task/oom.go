package task

import (
	"context"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// watchOOM publishes a TaskOOM event each time the kernel's OOM killer
// acts in t's memory cgroup, for as long as the cgroup exists.
func (s *Service) watchOOM(ctx context.Context, t *task) {
	ctx = context.WithoutCancel(ctx)
	err := t.lxc.WatchOOM(ctx, func() {
		log.G(ctx).WithField("id", t.id).Info("OOM kill in the container")
		s.publish(ctx, runtime.TaskOOMEventTopic, &eventstypes.TaskOOM{ContainerID: t.id})
	})
	if err != nil {
		entry := log.G(ctx).WithError(err).WithField("id", t.id)
		if errdefs.IsNotImplemented(err) {
			entry.Debug("no OOM events")
		} else {
			entry.Warn("watching for OOM kills")
		}
	}
}
