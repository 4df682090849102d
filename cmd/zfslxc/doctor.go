package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
	"github.com/zfslxc/zfslxc/internal/doctor"
	snapconfig "github.com/zfslxc/zfslxc/snapshotter/config"
)

// snapshotterConfigFlag names the snapshotter's config file, where doctor
// and gc find the dataset, root and socket the daemon uses.
func snapshotterConfigFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "snapshotter-config", Value: snapconfig.DefaultPath,
		Usage: "zfslxc-snapshotter's config file: defaults for --dataset, --root and the socket"}
}

// loadSnapshotterConfig reads --snapshotter-config with the daemon's own
// loader (a missing default file is fine, a missing named one is not; an
// unknown key or a bad value is an error, as it is for the daemon).
func loadSnapshotterConfig(c *cli.Context) (snapconfig.Config, error) {
	return snapconfig.Load(c.String("snapshotter-config"), c.IsSet("snapshotter-config"))
}

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that this host can run zfslxc, and say how to fix what is wrong",
		Description: `Checks zfs (kernel OpenZFS, or zfs-fuse running with --enable-xattr), the pool
of the parent dataset (exists, ONLINE), the parent dataset (mounted,
com.sun:auto-snapshot=false), LXC (lxc-start version, liblxc), the cgroup
layout, containerd (binary version, daemon) and its config.toml (the
[proxy_plugins.zfslxc] entry with the snapshotter's address; on config
version 3 the transfer service's unpack_config entry), the snapshotter
socket (a snapshots List through containerd's proxy client), and the shim
binaries. Each check prints ok, warn or FAIL, and for a problem the command
that fixes it. The exit code is 1 when a check fails (warnings do not count).

The dataset, root and socket default to what /etc/zfslxc/snapshotter.toml says
(--snapshotter-config). See docs/doctor.md.

Examples:
   zfslxc doctor                                    # with /etc/zfslxc/snapshotter.toml
   zfslxc doctor --dataset tank/zfslxc
   zfslxc doctor --dataset tank/zfslxc --containerd-config /etc/containerd/config.toml --json
   zfslxc doctor --snapshotter-address /run/zfslxc/snapshotter.sock --containerd /usr/local/bin/containerd`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the checks as JSON"},
			&cli.StringFlag{Name: "dataset", Usage: "the snapshotter's parent dataset (default: from --snapshotter-config)"},
			&cli.StringFlag{Name: "snapshotter-address", Usage: "the snapshotter's socket (default: from --snapshotter-config, else " + snapconfig.DefaultAddress + ")"},
			&cli.StringFlag{Name: "snapshotter-name", Value: containerdconfig.DefaultSnapshotterName, Usage: "the snapshotter's name in containerd's config"},
			snapshotterConfigFlag(),
			&cli.StringFlag{Name: "containerd-config", Value: containerdconfig.DefaultContainerdConfig, Usage: "containerd's config file"},
			&cli.StringFlag{Name: "containerd-address", Value: containerdconfig.DefaultContainerdAddress, Usage: "containerd's socket"},
			&cli.StringFlag{Name: "containerd", Value: doctor.DefaultContainerd, Usage: "the containerd binary (name on PATH, or path)"},
			&cli.StringFlag{Name: "docker-config", Value: dockerconfig.DefaultPath, Usage: "Docker Engine's daemon.json (checked when Docker is present)"},
			&cli.DurationFlag{Name: "timeout", Value: doctor.DefaultTimeout, Usage: "timeout of each dial and API call"},
		},
		Action: func(c *cli.Context) error {
			sc, err := loadSnapshotterConfig(c)
			if err != nil {
				return err
			}
			cfg := doctor.Config{
				Dataset:            sc.Dataset,
				SnapshotterRoot:    sc.Root,
				SnapshotterAddress: sc.Address,
				SnapshotterName:    c.String("snapshotter-name"),
				ContainerdConfig:   c.String("containerd-config"),
				ContainerdAddress:  c.String("containerd-address"),
				Containerd:         c.String("containerd"),
				DockerConfig:       c.String("docker-config"),
				Timeout:            c.Duration("timeout"),
			}
			if c.IsSet("dataset") {
				cfg.Dataset = c.String("dataset")
			}
			if c.IsSet("snapshotter-address") {
				cfg.SnapshotterAddress = c.String("snapshotter-address")
			}
			if cfg.Timeout <= 0 {
				cfg.Timeout = time.Second
			}
			rep := doctor.Run(c.Context, doctor.Host(), cfg)
			if c.Bool("json") {
				err = rep.WriteJSON(c.App.Writer)
			} else {
				err = rep.WriteText(c.App.Writer)
			}
			if err != nil {
				return err
			}
			if rep.Failed() {
				return fmt.Errorf("doctor: %d of %d checks failed", rep.Count(doctor.Fail), len(rep.Results))
			}
			return nil
		},
	}
}
