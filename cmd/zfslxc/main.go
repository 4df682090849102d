// Command zfslxc is the admin tool of zfslxc: development pools,
// configuration snippets, environment checks (doctor), snapshot garbage
// collection, ZFS templates of OCI images and plain LXC containers cloned
// from them.
package main

import (
	"fmt"
	"os"

	"github.com/containerd/log"
	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/version"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "zfslxc:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "zfslxc",
		Usage: "run OCI images as ZFS-backed LXC containers: admin tool",
		Description: `zfslxc manages what the zfslxc snapshotter and shim stand on.

Examples:
   zfslxc devpool up                 # start zfs-fuse if needed, make pool "zfslxc" on a sparse file
   zfslxc devpool up --name dev --size 20G
   zfslxc devpool status
   zfslxc devpool down               # destroy the pool and its file
   zfslxc config containerd --version 2 >> /etc/containerd/config.toml
   zfslxc config snapshotter > /etc/zfslxc/snapshotter.toml
   zfslxc doctor                     # what is missing or wrong, with the command that fixes it
   zfslxc gc --dry-run               # what the snapshotter's cleanup would destroy (daemon stopped)
   zfslxc template create busybox --from busybox.oci.tar
   zfslxc template create bb --from docker.io/library/busybox:latest    # an image in containerd
   zfslxc lxc create web --template busybox -- echo hello   # then: lxc-start -n web -F`,
		Version: version.String(),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "log level: trace, debug, info, warn, error"},
		},
		Before: func(c *cli.Context) error {
			return log.SetLevel(c.String("log-level"))
		},
		Commands: []*cli.Command{
			devpoolCommand(),
			configCommand(),
			doctorCommand(),
			gcCommand(),
			templateCommand(),
			lxcCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Description: `Examples:
   zfslxc version
   zfslxc --version`,
				Action: func(c *cli.Context) error {
					fmt.Fprintln(c.App.Writer, "zfslxc", version.String())
					return nil
				},
			},
		},
	}
}
