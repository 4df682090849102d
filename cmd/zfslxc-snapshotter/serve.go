package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/zfslxc/zfslxc/internal/version"
	"github.com/zfslxc/zfslxc/snapshotter"
	"github.com/zfslxc/zfslxc/snapshotter/config"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// serve runs the daemon until SIGINT or SIGTERM.
func serve(cfg config.Config) error {
	if err := log.SetLevel(cfg.LogLevel); err != nil {
		return fmt.Errorf("log level %q: %w", cfg.LogLevel, err)
	}
	// Text logs get nanosecond timestamps, as containerd's: the debug log
	// times each zfs command (docs/benchmarks.md reads it).
	format := log.TextFormat
	if cfg.LogFormat == "json" {
		format = log.JSONFormat
	}
	if err := log.SetFormat(format); err != nil {
		return err
	}
	if cfg.Dataset == "" {
		return errors.New("no parent dataset: give --dataset POOL/NAME or dataset in the config file (see --help)")
	}
	quota, err := cfg.QuotaBytes()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := log.G(ctx).WithField("version", version.String())

	var dopts []zfsdriver.Option
	if cfg.ZFS.ZFSPath != "" || cfg.ZFS.ZpoolPath != "" {
		dopts = append(dopts, zfsdriver.WithBinaries(cfg.ZFS.ZFSPath, cfg.ZFS.ZpoolPath))
	}
	drv, err := zfsdriver.New(ctx, dopts...)
	if err != nil {
		return err
	}
	sopts := []snapshotter.Opt{snapshotter.WithDataset(cfg.Dataset), snapshotter.WithDriver(drv), snapshotter.WithDefaultQuota(quota)}
	if cfg.Mountpoint != "" {
		sopts = append(sopts, snapshotter.WithMountpoint(cfg.Mountpoint))
	}
	sn, err := snapshotter.New(ctx, cfg.Root, sopts...)
	if err != nil {
		return err
	}
	defer sn.Close()
	// Whatever a crash left behind is put right before serving.
	if err := sn.Cleanup(ctx); err != nil {
		logger.WithError(err).Warn("startup cleanup failed; will retry on containerd's next garbage collection")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	served, err := snapshotter.Instrument(sn, reg)
	if err != nil {
		return err
	}

	l, err := listen(cfg.Address)
	if err != nil {
		return err
	}
	rpc := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(rpc, snapshotservice.FromSnapshotter(served))

	errCh := make(chan error, 2)
	go func() { errCh <- rpc.Serve(l) }()
	metricsSrv, err := serveMetrics(cfg.MetricsAddress, reg, errCh)
	if err != nil {
		rpc.Stop()
		return err
	}
	logger.WithFields(log.Fields{
		"address": cfg.Address, "dataset": cfg.Dataset, "root": cfg.Root,
		"zfs": drv.Capabilities().Implementation, "metrics": cfg.MetricsAddress,
	}).Info("zfslxc-snapshotter serving")
	notify("READY=1")

	select {
	case <-ctx.Done():
		logger.Info("stopping on signal")
	case err := <-errCh:
		logger.WithError(err).Error("server failed")
		rpc.Stop()
		return err
	}
	notify("STOPPING=1")
	stopGracefully(logger, rpc)
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	return nil
}

// serveMetrics serves Prometheus metrics from reg at http://address/metrics
// (nothing when address is empty); a serving error goes to errCh.
func serveMetrics(address string, reg *prometheus.Registry, errCh chan<- error) (*http.Server, error) {
	if address == "" {
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: address, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ml, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", address, err)
	}
	go func() { errCh <- srv.Serve(ml) }()
	return srv, nil
}

// stopGracefully lets running requests finish, for 10 s at most.
func stopGracefully(logger *log.Entry, rpc *grpc.Server) {
	done := make(chan struct{})
	go func() { rpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		logger.Warn("requests still running after 10s; stopping anyway")
		rpc.Stop()
	}
}

// listen creates the socket directory (0700), removes a stale socket left by
// a daemon that died, and refuses to take over one that still answers.
func listen(address string) (net.Listener, error) {
	if !filepath.IsAbs(address) {
		return nil, fmt.Errorf("address %q: want the absolute path of a unix socket", address)
	}
	if err := os.MkdirAll(filepath.Dir(address), 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if err := os.Chmod(filepath.Dir(address), 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if fi, err := os.Lstat(address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("address %s exists and is not a socket; remove it or choose another --address", address)
		}
		if c, err := net.DialTimeout("unix", address, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another snapshotter is serving on %s; stop it or choose another --address", address)
		}
		if err := os.Remove(address); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", address, err)
	}
	// The directory already keeps others out; the socket too, whatever
	// the umask.
	if err := os.Chmod(address, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket: %w", err)
	}
	return l, nil
}

// notify sends a state to systemd when run as a Type=notify service.
func notify(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if sock[0] == '@' {
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}
