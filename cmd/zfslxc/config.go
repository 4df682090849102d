package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
	shimconfig "github.com/zfslxc/zfslxc/shim/config"
	"github.com/zfslxc/zfslxc/snapshotter"
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
				Action: func(c *cli.Context) error {
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
				},
			},
			{
				Name:  "containerd",
				Usage: "the containerd config that registers the zfslxc snapshotter",
				Description: `Prints what to add to containerd's config.toml: the proxy snapshotter; for
containerd 2.x, its entry in the transfer service's unpack list (without it,
"ctr images pull/import --snapshotter zfslxc" and CRI pulls refuse to unpack
into it); and the CRI runtime entry: runtime_type "io.containerd.lxc.v1"
under handler "lxc" (--no-cri leaves it out). The snapshotter part is what
the integration tests run Debian's containerd 1.6 and containerd 2.4 with.
docs/configuration.md explains every key.

Examples:
   zfslxc config containerd --version 1 >> /etc/containerd/config.toml   # 1.6/1.7, config version 2
   zfslxc config containerd --version 2                                   # 2.x, config version 3`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "version", Value: 2, Usage: "containerd major version: 1 (1.6/1.7) or 2 (2.x)"},
					&cli.StringFlag{Name: "address", Value: containerdconfig.DefaultSnapshotterAddress, Usage: "the snapshotter's socket"},
					&cli.StringFlag{Name: "name", Value: containerdconfig.DefaultSnapshotterName, Usage: "the snapshotter's name in containerd"},
					&cli.StringFlag{Name: "platform", Usage: "platform of the unpack entries (default linux/<this arch>)"},
					&cli.StringFlag{Name: "handler", Value: containerdconfig.DefaultRuntimeHandler, Usage: "CRI runtime handler (RuntimeClass handler) of the LXC shim"},
					&cli.BoolFlag{Name: "no-cri", Usage: "leave out the CRI runtime entry (containerd without the CRI plugin)"},
				},
				Action: func(c *cli.Context) error {
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
					if !c.Bool("no-cri") {
						fmt.Fprint(c.App.Writer, containerdconfig.CRIRuntime(v, c.String("handler"), c.String("name")))
					}
					return nil
				},
			},
			{
				Name:  "shim",
				Usage: "the default containerd-shim-lxc-v1 config file, commented",
				Description: `What make install puts in /etc/zfslxc/shim.toml. The shim reads the file named
by the runtime options' ConfigPath, else $ZFSLXC_SHIM_CONFIG, else
/etc/zfslxc/shim.toml (docs/configuration.md explains every key).

Examples:
   zfslxc config shim > /etc/zfslxc/shim.toml`,
				Action: func(c *cli.Context) error {
					fmt.Fprint(c.App.Writer, shimconfig.Sample)
					return nil
				},
			},
			{
				Name:  "snapshotter",
				Usage: "the default zfslxc-snapshotter config file, commented",
				Description: `The same file as docs/snapshotter.toml and what make install puts in
/etc/zfslxc/snapshotter.toml (docs/configuration.md explains every key).

Examples:
   zfslxc config snapshotter > /etc/zfslxc/snapshotter.toml`,
				Action: func(c *cli.Context) error {
					fmt.Fprint(c.App.Writer, snapshotter.SampleConfig)
					return nil
				},
			},
		},
	}
}
