package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/devpool"
	"github.com/zfslxc/zfslxc/template"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// templateDatasetEnv names the default parent dataset of templates.
const templateDatasetEnv = "ZFSLXC_TEMPLATE_DATASET"

func templateDatasetFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "dataset",
		Usage:   "parent dataset of templates and container clones",
		Value:   devpool.DefaultName + "/" + template.DefaultParentName,
		EnvVars: []string{templateDatasetEnv},
	}
}

func openTemplates(c *cli.Context) (*template.Store, error) {
	drv, err := zfsdriver.New(c.Context)
	if err != nil {
		return nil, err
	}
	return template.NewStore(drv, c.String("dataset"))
}

func templateCommand() *cli.Command {
	return &cli.Command{
		Name:  "template",
		Usage: "ZFS templates of OCI images, to clone LXC containers from",
		Description: `A template is an OCI image's layers unpacked in order onto one dataset
<dataset>/<NAME>, frozen as <dataset>/<NAME>@template (readonly=on), with the
image config and digest in io.zfslxc:* user properties (docs/templates.md).

Examples:
   zfslxc template create busybox --from busybox.oci.tar
   zfslxc template create web --from ./oci-layout-dir --dataset tank/zfslxc-templates
   zfslxc template ls --json
   zfslxc template rm busybox            # refused while containers are cloned from it
   zfslxc template rm busybox --force    # destroys those clones too
   zfslxc template prune                 # every template without clones`,
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "unpack an OCI image layout (tar or directory) into a template",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "from", Usage: "(required) OCI image layout: a tar (ctr export, docker buildx --output type=oci) or a directory"},
					templateDatasetFlag(),
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
				},
				SkipFlagParsing: true,
				Action: interspersed(func(c *cli.Context, pos, _ []string) error {
					if err := positional(pos, "NAME"); err != nil {
						return err
					}
					name := pos[0]
					if c.String("from") == "" {
						return errors.New(`required flag "from" not set`)
					}
					s, err := openTemplates(c)
					if err != nil {
						return err
					}
					progress := c.App.ErrWriter
					if c.Bool("quiet") {
						progress = nil
					}
					res, err := s.Create(c.Context, name, c.String("from"), progress)
					if err != nil {
						return err
					}
					t := res.Template
					if res.Cached {
						fmt.Fprintf(c.App.Writer, "template %s: cache hit, %s already holds image %s; nothing done\n", name, t.Snapshot, t.Digest)
						return nil
					}
					fmt.Fprintf(c.App.Writer, "template %s: %s from image %s (%s, %s)\n", name, t.Snapshot, t.Digest,
						units.BytesSize(float64(t.Size)), res.Elapsed.Round(1e6))
					return nil
				}),
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list templates: name, image digest, size, clones",
				Flags:   []cli.Flag{templateDatasetFlag(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: func(c *cli.Context) error {
					s, err := openTemplates(c)
					if err != nil {
						return err
					}
					all, err := s.List(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						if all == nil {
							all = []template.Template{}
						}
						enc := json.NewEncoder(c.App.Writer)
						enc.SetIndent("", "  ")
						return enc.Encode(all)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "NAME\tIMAGE DIGEST\tSIZE\tCLONES")
					for _, t := range all {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.Name, t.Digest, units.BytesSize(float64(t.Size)), len(t.Clones))
					}
					return tw.Flush()
				},
			},
			{
				Name:      "rm",
				Aliases:   []string{"remove"},
				Usage:     "destroy a template (refused while clones exist, unless --force)",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					templateDatasetFlag(),
					&cli.BoolFlag{Name: "force", Usage: "destroy the template's clones (containers' root filesystems) too"},
				},
				SkipFlagParsing: true,
				Action: interspersed(func(c *cli.Context, pos, _ []string) error {
					if err := positional(pos, "NAME"); err != nil {
						return err
					}
					name := pos[0]
					s, err := openTemplates(c)
					if err != nil {
						return err
					}
					destroyed, err := s.Remove(c.Context, name, c.Bool("force"))
					for _, d := range destroyed {
						fmt.Fprintln(c.App.Writer, "destroyed", d)
					}
					return err
				}),
			},
			{
				Name:  "prune",
				Usage: "destroy every template without clones",
				Flags: []cli.Flag{templateDatasetFlag()},
				Action: func(c *cli.Context) error {
					s, err := openTemplates(c)
					if err != nil {
						return err
					}
					pruned, err := s.Prune(c.Context)
					for _, n := range pruned {
						fmt.Fprintln(c.App.Writer, "removed template", n)
					}
					if err == nil && len(pruned) == 0 {
						fmt.Fprintln(c.App.Writer, "no unused template")
					}
					return err
				},
			},
		},
	}
}
