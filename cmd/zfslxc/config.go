package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
	shimconfig "github.com/zfslxc/zfslxc/shim/config"
	snapconfig "github.com/zfslxc/zfslxc/snapshotter/config"
)

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "print configuration snippets",
		Description: `Examples:
   zfslxc config containerd --version 2 >> /etc/containerd/config.toml
   zfslxc config snapshotter > /etc/zfslxc/snapshotter.toml
   zfslxc config shim > /etc/zfslxc/shim.toml
   zfslxc config docker > /etc/docker/daemon.json`,
		Subcommands: []*cli.Command{
			{
				Name:  "docker",
				Usage: "the Docker Engine daemon.json that puts images on zfslxc and adds the LXC runtime",
				Description: `Prints Docker Engine (29+) daemon.json settings: "storage-driver" names the
zfslxc snapshotter (Docker keeps images in containerd's image store and takes
a containerd snapshotter as its storage driver), "features" keeps the
containerd image store on, and "runtimes" registers the LXC shim
(runtimeType io.containerd.lxc.v1) as "docker run --runtime lxc". The
containerd dockerd uses needs the snapshotter too: zfslxc config containerd.
Merge the keys into an existing daemon.json. These are the settings the
Docker integration tests run dockerd with; docs/docker.md explains them.

Examples:
   zfslxc config docker > /etc/docker/daemon.json
   zfslxc config docker --default-runtime     # every container under LXC`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Value: containerdconfig.DefaultSnapshotterName, Usage: "the snapshotter's name in containerd"},
					&cli.StringFlag{Name: "runtime", Value: dockerconfig.DefaultRuntimeName, Usage: "the runtime's name in Docker (docker run --runtime NAME)"},
					&cli.StringFlag{Name: "containerd", Usage: "containerd's socket, when not /run/containerd/containerd.sock"},
					&cli.BoolFlag{Name: "default-runtime", Usage: "make the LXC runtime Docker's default"},
				},
				Action: configDockerAction,
			},
			{
				Name:  "containerd",
				Usage: "the containerd config that registers the zfslxc snapshotter",
				Description: `Prints what to add to containerd's config.toml: the proxy snapshotter; for
containerd 2.x, its entry in the transfer service's unpack list (without it,
"ctr images pull/import --snapshotter zfslxc" and CRI pulls refuse to unpack
into it); and the CRI setup (--no-cri leaves it out): runtime_type
"io.containerd.lxc.v1" under handler "lxc", the zfslxc snapshotter for it
(per runtime on 2.x, for every runtime on 1.6, which ignores a runtime's
own), the shim's options as a path (--shim-config) or inline
(--shim-option key=value), and what a node may need besides: the default
runtime, the sandbox image, restrict_oom_score_adj, the CNI directories.
This is what the integration tests run Debian's containerd 1.6 and
containerd 2.4 with. docs/configuration.md and docs/cri.md explain every key.

Examples:
   zfslxc config containerd --version 1 >> /etc/containerd/config.toml   # 1.6/1.7, config version 2
   zfslxc config containerd --version 2                                   # 2.x, config version 3
   zfslxc config containerd --version 2 --shim-option init=reaper --cni-bin-dir /usr/lib/cni`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "version", Value: 2, Usage: "containerd major version: 1 (1.6/1.7) or 2 (2.x)"},
					&cli.StringFlag{Name: "address", Value: snapconfig.DefaultAddress, Usage: "the snapshotter's socket"},
					&cli.StringFlag{Name: "name", Value: containerdconfig.DefaultSnapshotterName, Usage: "the snapshotter's name in containerd"},
					&cli.StringFlag{Name: "platform", Usage: "platform of the unpack entries (default linux/<this arch>)"},
					&cli.StringFlag{Name: "handler", Value: containerdconfig.DefaultRuntimeHandler, Usage: "CRI runtime handler (RuntimeClass handler) of the LXC shim"},
					&cli.BoolFlag{Name: "no-cri", Usage: "leave out the CRI setup (containerd without the CRI plugin)"},
					&cli.StringFlag{Name: "shim-config", Usage: "the shim's config file, as the runtime options' ConfigPath"},
					&cli.StringSliceFlag{Name: "shim-option", Usage: "a shim.toml key=value written inline in the runtime options (repeatable)"},
					&cli.BoolFlag{Name: "default-runtime", Usage: "make the handler CRI's default runtime (pods without a RuntimeClass)"},
					&cli.StringFlag{Name: "sandbox-image", Usage: "the pod sandbox (pause) image (default: containerd's)"},
					&cli.BoolFlag{Name: "restrict-oom-score-adj", Usage: "restrict_oom_score_adj = true (containerd without CAP_SYS_RESOURCE)"},
					&cli.StringFlag{Name: "cni-bin-dir", Usage: "CNI plugin directory (Debian: /usr/lib/cni; default: containerd's /opt/cni/bin)"},
					&cli.StringFlag{Name: "cni-conf-dir", Usage: "CNI config directory (default: containerd's /etc/cni/net.d)"},
				},
				Action: configContainerdAction,
			},
			{
				Name:  "shim",
				Usage: "the default containerd-shim-lxc-v1 config file, commented",
				Description: `What make install puts in /etc/zfslxc/shim.toml. The shim reads the file named
by the runtime options' ConfigPath, else $ZFSLXC_SHIM_CONFIG, else
/etc/zfslxc/shim.toml (docs/configuration.md explains every key).

Examples:
   zfslxc config shim > /etc/zfslxc/shim.toml`,
				Action: configShimAction,
			},
			{
				Name:  "snapshotter",
				Usage: "the default zfslxc-snapshotter config file, commented",
				Description: `The same file as docs/snapshotter.toml and what make install puts in
/etc/zfslxc/snapshotter.toml (docs/configuration.md explains every key).

Examples:
   zfslxc config snapshotter > /etc/zfslxc/snapshotter.toml`,
				Action: configSnapshotterAction,
			},
		},
	}
}

// configDockerAction prints the Docker Engine daemon.json settings.
func configDockerAction(c *cli.Context) error {
	if c.String("name") == "" || c.String("runtime") == "" {
		return fmt.Errorf("--name and --runtime must not be empty")
	}
	_, err := c.App.Writer.Write(dockerconfig.JSON(dockerconfig.Options{
		SnapshotterName: c.String("name"),
		RuntimeName:     c.String("runtime"),
		Containerd:      c.String("containerd"),
		DefaultRuntime:  c.Bool("default-runtime"),
	}))
	return err
}

// configContainerdAction prints containerd's config lines: the proxy
// snapshotter, and the CRI setup unless --no-cri.
func configContainerdAction(c *cli.Context) error {
	v, err := containerdconfig.ConfigVersionFor(c.Int("version"))
	if err != nil {
		return fmt.Errorf("--version: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "# zfslxc for containerd %d.x (config version = %d)", c.Int("version"), v)
	fmt.Fprint(c.App.Writer, containerdconfig.Snippet(containerdconfig.Options{
		ConfigVersion:      v,
		SnapshotterName:    c.String("name"),
		SnapshotterAddress: c.String("address"),
		Platform:           c.String("platform"),
	}))
	if c.Bool("no-cri") {
		return nil
	}
	opts := map[string]string{}
	for _, kv := range c.StringSlice("shim-option") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--shim-option %q: want key=value", kv)
		}
		opts[k] = val
	}
	cri, err := containerdconfig.CRI(containerdconfig.CRIOptions{
		ConfigVersion:       v,
		Handler:             c.String("handler"),
		Snapshotter:         c.String("name"),
		ShimConfigPath:      c.String("shim-config"),
		ShimOptions:         opts,
		Default:             c.Bool("default-runtime"),
		SandboxImage:        c.String("sandbox-image"),
		RestrictOOMScoreAdj: c.Bool("restrict-oom-score-adj"),
		CNIBinDir:           c.String("cni-bin-dir"),
		CNIConfDir:          c.String("cni-conf-dir"),
	})
	if err != nil {
		return fmt.Errorf("--shim-option/--shim-config: %w", err)
	}
	fmt.Fprint(c.App.Writer, cri)
	return nil
}

// configShimAction prints the shim's sample config.
func configShimAction(c *cli.Context) error {
	fmt.Fprint(c.App.Writer, shimconfig.Sample)
	return nil
}

// configSnapshotterAction prints the snapshotter's sample config.
func configSnapshotterAction(c *cli.Context) error {
	fmt.Fprint(c.App.Writer, snapconfig.Sample)
	return nil
}
