package main

import (
	"fmt"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/devpool"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

func devpoolCommand() *cli.Command {
	nameFlag := &cli.StringFlag{Name: "name", Value: devpool.DefaultName, Usage: "pool name"}
	dirFlag := &cli.StringFlag{Name: "dir", Value: devpool.DefaultDir, Usage: "directory of the pool's sparse image and mountpoint"}
	return &cli.Command{
		Name:  "devpool",
		Usage: "a ZFS pool on a sparse file, for development and demos",
		Description: `Starts zfs-fuse when the host has no kernel ZFS, and creates or destroys a
pool whose only vdev is a sparse file. Safe to run again: "up" replaces a
stale pool of the same name (its data is lost), "down" of a missing pool
succeeds. Production hosts use a real pool instead.

Examples:
   zfslxc devpool up                          # pool "zfslxc" on an 8G sparse file
   zfslxc devpool up --name dev --size 20G --keep
   zfslxc devpool status
   zfslxc devpool down`,
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "start zfs if needed and (re)create the pool",
				Description: `Examples:
   zfslxc devpool up
   zfslxc devpool up --name dev --dir /var/tmp/dev --size 20G --keep   # keep it if it exists`,
				Flags: []cli.Flag{nameFlag, dirFlag,
					&cli.StringFlag{Name: "size", Value: "8G", Usage: "image size (sparse), e.g. 8G"},
					&cli.BoolFlag{Name: "keep", Usage: "keep an existing pool of that name instead of recreating it"},
				},
				Action: devpoolUpAction,
			},
			{
				Name:  "down",
				Usage: "destroy the pool and remove its image",
				Description: `Examples:
   zfslxc devpool down
   zfslxc devpool down --name dev --dir /var/tmp/dev`,
				Flags:  []cli.Flag{nameFlag, dirFlag},
				Action: devpoolDownAction,
			},
			{
				Name:  "status",
				Usage: "show the zfs implementation and the pool",
				Description: `Examples:
   zfslxc devpool status
   zfslxc devpool status --name dev`,
				Flags:  []cli.Flag{nameFlag},
				Action: devpoolStatusAction,
			},
		},
	}
}

// devpoolUpAction starts zfs if needed and (re)creates the pool.
func devpoolUpAction(c *cli.Context) error {
	size, err := units.RAMInBytes(c.String("size"))
	if err != nil || size < 64<<20 {
		return fmt.Errorf("--size %q: want a size of at least 64M, like 8G", c.String("size"))
	}
	drv, err := devpool.EnsureZFS(c.Context)
	if err != nil {
		return err
	}
	name := c.String("name")
	if c.Bool("keep") {
		if ok, err := drv.PoolExists(c.Context, name); err != nil {
			return err
		} else if ok {
			fmt.Fprintf(c.App.Writer, "pool %s exists (kept)\n", name)
			return nil
		}
	}
	p, err := devpool.Create(c.Context, drv, name, devpool.Options{Dir: c.String("dir"), Size: size})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "pool %s on %s (%s sparse), mounted at %s, zfs: %s\n",
		p.Name, p.Image, units.BytesSize(float64(size)), p.Mount, drv.Capabilities().Implementation)
	return nil
}

// devpoolDownAction destroys the pool and removes its image.
func devpoolDownAction(c *cli.Context) error {
	drv, err := zfsdriver.New(c.Context)
	if err != nil {
		return err
	}
	if err := devpool.Open(drv, c.String("name"), c.String("dir")).Destroy(c.Context); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "pool %s destroyed\n", c.String("name"))
	return nil
}

// devpoolStatusAction shows the zfs implementation and the pool.
func devpoolStatusAction(c *cli.Context) error {
	drv, err := zfsdriver.New(c.Context)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "zfs: %s (kernel module loaded: %v)\n", drv.Capabilities().Implementation, devpool.KernelZFS())
	pools, err := drv.Pools(c.Context, c.String("name"))
	if zfsdriver.IsNotFound(err) {
		return fmt.Errorf("pool %s does not exist: run zfslxc devpool up --name %s", c.String("name"), c.String("name"))
	}
	if err != nil {
		return err
	}
	p := pools[0]
	fmt.Fprintf(c.App.Writer, "pool %s: %s, size %s, free %s\n", p.Name, p.Health,
		units.BytesSize(float64(p.Size)), units.BytesSize(float64(p.Free)))
	return nil
}
