package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
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

SOURCE (--from) is an OCI image layout on disk (a tar or a directory) when that
path exists, else the name of an image in containerd's store, read through
containerd's API (--address, --namespace). When the zfslxc snapshotter has that
image unpacked (ctr images pull/import --snapshotter zfslxc), the template is a
zfs clone of the snapshotter's top layer dataset: no unpack, no copy.

Examples:
   zfslxc template create busybox --from busybox.oci.tar
   zfslxc template create web --from ./oci-layout-dir --dataset tank/zfslxc-templates
   zfslxc template create app --from docker.io/library/busybox:latest
   zfslxc template create app --from registry.local/app:1 --namespace k8s.io --address /run/containerd/containerd.sock
   zfslxc template ls --json
   zfslxc template rm busybox            # refused while containers are cloned from it
   zfslxc template rm busybox --force    # destroys those clones too
   zfslxc template prune                 # every template without clones`,
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "make a template from an OCI image layout (tar or directory) or an image in containerd",
				ArgsUsage: "NAME",
				Description: `Progress (one line per layer, the bytes applied, and every 5 s the bytes read
of a long layer) goes to stderr; --quiet silences it. Creating the same
template from the same image again is a cache hit.

Examples:
   zfslxc template create busybox --from busybox.oci.tar
   zfslxc template create busybox --from docker.io/library/busybox:latest -q
   zfslxc template create web --from ghcr.io/acme/web:2 --namespace k8s.io --platform linux/arm64`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "from", Usage: "(required) SOURCE: an OCI image layout, as a tar (ctr export, docker buildx --output type=oci) or a directory; else an image reference in containerd's store"},
					templateDatasetFlag(),
					&cli.StringFlag{Name: "address", Aliases: []string{"a"}, Value: containerdconfig.DefaultContainerdAddress, Usage: "containerd's socket (image references)", EnvVars: []string{"CONTAINERD_ADDRESS"}},
					&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: containerdconfig.DefaultNamespace, Usage: "containerd namespace of the image", EnvVars: []string{"CONTAINERD_NAMESPACE"}},
					&cli.StringFlag{Name: "snapshotter", Value: containerdconfig.DefaultSnapshotterName, Usage: "name of the zfslxc snapshotter in containerd, whose unpacked layers are reused"},
					&cli.StringFlag{Name: "platform", Usage: "platform to pick from a multi-platform image (default: this machine's)"},
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
					&cli.BoolFlag{Name: "no-pull", Usage: "fail when the image is not in containerd's store instead of pulling it"},
					&cli.StringFlag{Name: "hosts-dir", Usage: "containerd hosts directory for the pull (<dir>/<registry>/hosts.toml: CA, mirrors, plain HTTP)"},
					&cli.StringFlag{Name: "user", Usage: "registry credentials for the pull, user:password"},
					&cli.BoolFlag{Name: "plain-http", Usage: "pull over HTTP instead of HTTPS"},
				},
				SkipFlagParsing: true,
				Action:          interspersed(templateCreateAction),
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list templates: name, image digest, size, clones, source, reused layer",
				Description: `Examples:
   zfslxc template ls
   zfslxc template ls --json | jq -r '.[] | select(.clones == []) | .name'`,
				Flags:  []cli.Flag{templateDatasetFlag(), &cli.BoolFlag{Name: "json", Usage: "print JSON: every field, the clone datasets and the image config"}},
				Action: templateListAction,
			},
			{
				Name:      "rm",
				Aliases:   []string{"remove"},
				Usage:     "destroy a template (refused while clones exist, unless --force)",
				ArgsUsage: "NAME",
				Description: `A template cloned from the snapshotter's layer keeps that layer's dataset;
after rm it is the snapshotter's again (destroyed by its next Cleanup once
containerd no longer uses it).

Examples:
   zfslxc template rm busybox
   zfslxc template rm busybox --force    # destroys the containers' clones too`,
				Flags: []cli.Flag{
					templateDatasetFlag(),
					&cli.BoolFlag{Name: "force", Usage: "destroy the template's clones (containers' root filesystems) too"},
				},
				SkipFlagParsing: true,
				Action:          interspersed(templateRemoveAction),
			},
			{
				Name:  "prune",
				Usage: "destroy every template without clones",
				Description: `Examples:
   zfslxc template prune
   zfslxc template prune --dataset tank/zfslxc-templates`,
				Flags:  []cli.Flag{templateDatasetFlag()},
				Action: templatePruneAction,
			},
		},
	}
}

// templateCreateAction is `zfslxc template create NAME --from SOURCE`: an
// OCI layout on disk, else an image in containerd's store (pulled through
// containerd first when it is not there, unless --no-pull).
func templateCreateAction(c *cli.Context, pos, after []string) error {
	pos, err := positional(pos, after, "NAME")
	if err != nil {
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
	from := c.String("from")
	var res *template.CreateResult
	if _, statErr := os.Stat(from); statErr == nil || looksLikePath(from) {
		res, err = s.Create(c.Context, name, from, progress)
	} else {
		cs := template.ContainerdSource{
			Ref: from, Address: c.String("address"), Namespace: c.String("namespace"),
			Snapshotter: c.String("snapshotter"), Platform: c.String("platform"),
		}
		res, err = s.CreateFromContainerd(c.Context, name, cs, progress)
		// Not in the store yet: pull it through containerd
		// (unpacked into the snapshotter), then clone.
		if errors.Is(err, template.ErrImageNotInStore) && !c.Bool("no-pull") {
			perr := template.Pull(c.Context, cs, template.PullOptions{
				HostsDir: c.String("hosts-dir"), User: c.String("user"), PlainHTTP: c.Bool("plain-http"),
			}, progress)
			if perr != nil {
				return perr
			}
			res, err = s.CreateFromContainerd(c.Context, name, cs, progress)
		}
	}
	if err != nil {
		return err
	}
	t := res.Template
	if res.Cached {
		fmt.Fprintf(c.App.Writer, "template %s: cache hit, %s already holds image %s; nothing done\n", name, t.Snapshot, t.Digest)
		return nil
	}
	how := "unpacked"
	if res.Reused != "" {
		how = "clone of the snapshotter's layer " + res.Reused + ", no copy"
	}
	fmt.Fprintf(c.App.Writer, "template %s: %s from image %s (%s, %s, %s)\n", name, t.Snapshot, t.Digest,
		units.BytesSize(float64(t.Size)), how, res.Elapsed.Round(1e6))
	return nil
}

// templateListAction is `zfslxc template ls`.
func templateListAction(c *cli.Context) error {
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
	fmt.Fprintln(tw, "NAME\tIMAGE DIGEST\tSIZE\tCLONES\tREUSED LAYER\tSOURCE")
	for _, t := range all {
		reused := "no"
		if t.ReusedLayer != "" {
			reused = t.ReusedLayer
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", t.Name, t.Digest, units.BytesSize(float64(t.Size)), len(t.Clones), reused, t.Source)
	}
	return tw.Flush()
}

// looksLikePath reports whether --from can only be a path (an image
// reference never starts with "/" or "."), so a missing file is reported
// as such rather than looked up in containerd.
func looksLikePath(from string) bool {
	return strings.HasPrefix(from, "/") || strings.HasPrefix(from, ".")
}

// templatePruneAction is `zfslxc template prune`.
func templatePruneAction(c *cli.Context) error {
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
}

// templateRemoveAction is `zfslxc template rm NAME [--force]`.
func templateRemoveAction(c *cli.Context, pos, after []string) error {
	pos, err := positional(pos, after, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	s, err := openTemplates(c)
	if err != nil {
		return err
	}
	t, err := s.Get(c.Context, name)
	if err != nil {
		return err
	}
	destroyed, err := s.Remove(c.Context, name, c.Bool("force"))
	for _, d := range destroyed {
		fmt.Fprintln(c.App.Writer, "destroyed", d)
	}
	if err == nil && t.ReusedLayer != "" {
		fmt.Fprintf(c.App.Writer, "released the snapshotter's layer %s (its next Cleanup destroys it once containerd no longer uses it)\n", t.ReusedLayer)
	}
	return err
}
