package snapshotter

import (
	"context"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/prometheus/client_golang/prometheus"
)

// Instrumented wraps a Snapshotter with Prometheus metrics: operations by
// name and result class, their latency, snapshots by kind and the zfs
// commands run.
type Instrumented struct {
	*Snapshotter
	ops     *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// Instrument registers the metrics of s with reg and returns the wrapper to
// serve instead of s.
func Instrument(s *Snapshotter, reg prometheus.Registerer) (*Instrumented, error) {
	in := &Instrumented{
		Snapshotter: s,
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "zfslxc", Subsystem: "snapshotter", Name: "operations_total",
			Help: "Snapshotter operations by name and result (ok, or the errdefs class of the error).",
		}, []string{"op", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "zfslxc", Subsystem: "snapshotter", Name: "operation_duration_seconds",
			Help:    "Latency of snapshotter operations.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"op"}),
	}
	collectors := []prometheus.Collector{
		in.ops, in.latency,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "zfslxc", Subsystem: "snapshotter", Name: "zfs_commands_total",
			Help: "zfs and zpool commands run.",
		}, func() float64 { return float64(s.zfs.Commands()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "zfslxc", Subsystem: "snapshotter", Name: "zfs_busy_retries_total",
			Help: "zfs commands run again because zfs answered that a dataset was busy.",
		}, func() float64 { return float64(s.zfs.Retries()) }),
		&snapshotCounter{s: s, desc: prometheus.NewDesc("zfslxc_snapshotter_snapshots",
			"Snapshots (one dataset each) by kind.", []string{"kind"}, nil)},
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func (in *Instrumented) observe(op string, start time.Time, err error) {
	in.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	in.ops.WithLabelValues(op, resultClass(err)).Inc()
}

// resultClass names the errdefs class of err for the result label.
func resultClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errdefs.IsNotFound(err):
		return "not_found"
	case errdefs.IsAlreadyExists(err):
		return "already_exists"
	case errdefs.IsFailedPrecondition(err):
		return "failed_precondition"
	case errdefs.IsInvalidArgument(err):
		return "invalid_argument"
	case errdefs.IsResourceExhausted(err):
		return "resource_exhausted"
	case errdefs.IsUnavailable(err):
		return "unavailable"
	}
	return "error"
}

// Prepare is Snapshotter.Prepare, measured.
func (in *Instrumented) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) (m []mount.Mount, err error) {
	defer func(start time.Time) { in.observe("prepare", start, err) }(time.Now())
	return in.Snapshotter.Prepare(ctx, key, parent, opts...)
}

// View is Snapshotter.View, measured.
func (in *Instrumented) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) (m []mount.Mount, err error) {
	defer func(start time.Time) { in.observe("view", start, err) }(time.Now())
	return in.Snapshotter.View(ctx, key, parent, opts...)
}

// Commit is Snapshotter.Commit, measured.
func (in *Instrumented) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) (err error) {
	defer func(start time.Time) { in.observe("commit", start, err) }(time.Now())
	return in.Snapshotter.Commit(ctx, name, key, opts...)
}

// Remove is Snapshotter.Remove, measured.
func (in *Instrumented) Remove(ctx context.Context, key string) (err error) {
	defer func(start time.Time) { in.observe("remove", start, err) }(time.Now())
	return in.Snapshotter.Remove(ctx, key)
}

// Usage is Snapshotter.Usage, measured.
func (in *Instrumented) Usage(ctx context.Context, key string) (u snapshots.Usage, err error) {
	defer func(start time.Time) { in.observe("usage", start, err) }(time.Now())
	return in.Snapshotter.Usage(ctx, key)
}

// Cleanup is Snapshotter.Cleanup, measured.
func (in *Instrumented) Cleanup(ctx context.Context) (err error) {
	defer func(start time.Time) { in.observe("cleanup", start, err) }(time.Now())
	return in.Snapshotter.Cleanup(ctx)
}

// snapshotCounter counts the snapshots by kind from the metadata at scrape
// time (no zfs command).
type snapshotCounter struct {
	s    *Snapshotter
	desc *prometheus.Desc
}

func (c *snapshotCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *snapshotCounter) Collect(ch chan<- prometheus.Metric) {
	counts := map[snapshots.Kind]int{snapshots.KindActive: 0, snapshots.KindView: 0, snapshots.KindCommitted: 0}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.s.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		counts[info.Kind]++
		return nil
	})
	for kind, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), kind.String())
	}
}
