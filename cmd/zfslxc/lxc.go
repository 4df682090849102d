package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/standalone"
)

func lxcPathFlag() cli.Flag {
	return &cli.StringFlag{Name: "lxcpath", Aliases: []string{"P"}, Value: standalone.DefaultLXCPath, Usage: "LXC's lxcpath: the container goes to <lxcpath>/CT"}
}

func openContainers(c *cli.Context) (*standalone.Manager, error) {
	s, err := openTemplates(c)
	if err != nil {
		return nil, err
	}
	initBin, err := lxcrun.FindBinary(c.String("bin-dir"), lxcrun.InitBinary)
	if err != nil {
		return nil, err
	}
	return standalone.NewManager(s, c.String("lxcpath"), initBin)
}

func lxcCommonFlags() []cli.Flag {
	return []cli.Flag{
		templateDatasetFlag(),
		lxcPathFlag(),
		&cli.StringFlag{Name: "bin-dir", Usage: "directory holding zfslxc-init (default: $" + lxcrun.EnvBinDir + ", next to zfslxc, or on PATH)"},
	}
}

func lxcCommand() *cli.Command {
	createFlags := append(lxcCommonFlags(),
		&cli.StringFlag{Name: "template", Aliases: []string{"t"}, Usage: "(required) template to clone (zfslxc template ls)"},
		&cli.StringFlag{Name: "entrypoint", Usage: "replace the image's ENTRYPOINT (one word, like docker run --entrypoint; drops the image's CMD)"},
		&cli.GenericFlag{Name: "env", Aliases: []string{"e"}, Value: &multiValue{}, Usage: "set an environment variable `K=V` (repeatable; commas are kept)"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user: name, uid, name:group or uid:gid, looked up in the image"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory (created if missing)"},
		&cli.BoolFlag{Name: "init", Usage: "keep zfslxc-init as PID 1, reaping zombies and forwarding signals (docker run --init)"},
		&cli.BoolFlag{Name: "json", Usage: "print the container as JSON"},
	)
	return &cli.Command{
		Name:  "lxc",
		Usage: "plain LXC containers whose rootfs is a ZFS clone of a template",
		Description: `The container's rootfs is <dataset>/ct-CT, a zfs clone of TEMPLATE@template
(O(1), no copy); <lxcpath>/CT/config runs the image's ENTRYPOINT+CMD through
zfslxc-init with its argv byte for byte, so the lxc-* tools work as usual.

Examples:
   zfslxc lxc create web --template busybox
   zfslxc lxc ls
   zfslxc lxc create job --template busybox --env MODE=x -- /bin/sh -c 'echo "$MODE"'
   lxc-start -n web -F                  # the process's stdio is lxc-start's
   lxc-start -n web && lxc-attach -n web -- ps
   zfslxc lxc snapshot web before-upgrade
   zfslxc lxc rollback web before-upgrade   # container stopped
   zfslxc lxc rm web                    # lxc-stop -k if running, destroys the clone and <lxcpath>/web`,
		Subcommands: []*cli.Command{
			{
				Name:            "create",
				Usage:           "create container CT from a template",
				ArgsUsage:       "CT [-- ARGS...]",
				Flags:           createFlags,
				SkipFlagParsing: true,
				Description: `ARGS replace the image's CMD (appended to the entrypoint). Flags may come
before or after CT; everything after "--" is ARGS.

Examples:
   zfslxc lxc create web --template busybox
   zfslxc lxc create job --template busybox --env MODE=x --workdir /tmp -- /bin/sh -c 'echo "$MODE"'
   zfslxc lxc create app --template busybox --user 1000:1000 --entrypoint /bin/sleep -- 3600
   zfslxc lxc create svc --template busybox --init --lxcpath /srv/lxc --json`,
				Action: interspersed(lxcCreate),
			},
			{
				Name:    "ls",
				Aliases: []string{"list"},
				Usage:   "list the containers zfslxc made under the lxcpath: name, template, state, clone and its size",
				Description: `Examples:
   zfslxc lxc ls
   zfslxc lxc ls --lxcpath /srv/lxc --json`,
				Flags:  append(lxcCommonFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}),
				Action: lxcListAction,
			},
			{
				Name:      "rm",
				Aliases:   []string{"remove"},
				Usage:     "stop (lxc-stop -k) and remove container CT: its clone and <lxcpath>/CT",
				ArgsUsage: "CT",
				Description: `Examples:
   zfslxc lxc rm web
   zfslxc lxc rm web --lxcpath /srv/lxc --dataset tank/zfslxc-templates`,
				Flags:           lxcCommonFlags(),
				SkipFlagParsing: true,
				Action:          interspersed(lxcRemoveAction),
			},
			{
				Name:      "snapshot",
				Usage:     "zfs snapshot of container CT's root filesystem",
				ArgsUsage: "CT NAME",
				Description: `Takes <dataset>/ct-CT@NAME (the container may run).

Examples:
   zfslxc lxc snapshot web before-upgrade`,
				Flags:           lxcCommonFlags(),
				SkipFlagParsing: true,
				Action:          interspersed(lxcSnapshotAction),
			},
			{
				Name:      "rollback",
				Usage:     "roll container CT's root filesystem back to snapshot NAME (container stopped)",
				ArgsUsage: "CT NAME",
				Description: `Examples:
   lxc-stop -n web && zfslxc lxc rollback web before-upgrade
   zfslxc lxc rollback web before-upgrade --destroy-newer   # zfs rollback -r`,
				Flags: append(lxcCommonFlags(),
					&cli.BoolFlag{Name: "destroy-newer", Usage: "roll back past later snapshots, destroying them (zfs rollback -r)"}),
				SkipFlagParsing: true,
				Action:          interspersed(lxcRollbackAction),
			},
		},
	}
}

// lxcListAction is `zfslxc lxc ls`.
func lxcListAction(c *cli.Context) error {
	m, err := openContainers(c)
	if err != nil {
		return err
	}
	all, err := m.List(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(all)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTEMPLATE\tSTATE\tUSED\tDATASET")
	for _, l := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Name, l.Template, l.State, units.BytesSize(float64(l.Used)), l.Dataset)
	}
	return tw.Flush()
}

// lxcRemoveAction is `zfslxc lxc rm CT`.
func lxcRemoveAction(c *cli.Context, pos, after []string) error {
	pos, err := positional(pos, after, "CT")
	if err != nil {
		return err
	}
	name := pos[0]
	m, err := openContainers(c)
	if err != nil {
		return err
	}
	removed, err := m.Remove(c.Context, name)
	for _, r := range removed {
		fmt.Fprintln(c.App.Writer, "removed", r)
	}
	return err
}

// lxcSnapshotAction is `zfslxc lxc snapshot CT NAME`.
func lxcSnapshotAction(c *cli.Context, pos, after []string) error {
	pos, err := positional(pos, after, "CT", "NAME")
	if err != nil {
		return err
	}
	m, err := openContainers(c)
	if err != nil {
		return err
	}
	snap, err := m.Snapshot(c.Context, pos[0], pos[1])
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "snapshot", snap)
	return nil
}

// lxcRollbackAction is `zfslxc lxc rollback CT NAME`.
func lxcRollbackAction(c *cli.Context, pos, after []string) error {
	pos, err := positional(pos, after, "CT", "NAME")
	if err != nil {
		return err
	}
	m, err := openContainers(c)
	if err != nil {
		return err
	}
	snap, err := m.Rollback(c.Context, pos[0], pos[1], c.Bool("destroy-newer"))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "rolled back to", snap)
	return nil
}

// parseInterspersed parses flags anywhere before "--": urfave/cli v2 stops
// at the first positional argument, and `lxc create CT --template X` must
// work. It returns the positional arguments, the arguments after "--" (nil
// without "--"), and the flag set.
func parseInterspersed(c *cli.Context, args []string) (*flag.FlagSet, []string, []string, error) {
	set := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range c.Command.Flags {
		if err := f.Apply(set); err != nil {
			return nil, nil, nil, err
		}
	}
	var pos, after []string
	for {
		if err := set.Parse(args); err != nil {
			return nil, nil, nil, err
		}
		rest := set.Args()
		// flag.Parse consumes a "--" terminator: it was there when the
		// argument before rest is "--".
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			after = append([]string{}, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if err := normalizeAliases(c.Command.Flags, set); err != nil {
		return nil, nil, nil, err
	}
	return set, pos, after, nil
}

// normalizeAliases gives every name of a flag the value set under one of
// them, as urfave/cli does after its own parsing: flag.FlagSet keeps one
// value per name, and the actions read the long name (`-t T` was dropped
// silently). A flag given under two of its names is refused.
func normalizeAliases(flags []cli.Flag, set *flag.FlagSet) error {
	visited := map[string]bool{}
	set.Visit(func(f *flag.Flag) { visited[f.Name] = true })
	for _, f := range flags {
		names := f.Names()
		var from *flag.Flag
		for _, name := range names {
			if !visited[name] {
				continue
			}
			if from != nil {
				return fmt.Errorf("flag --%s given twice, as %s and %s: cannot use two forms of the same flag", names[0], dashed(from.Name), dashed(name))
			}
			from = set.Lookup(name)
		}
		if from == nil {
			continue
		}
		for _, name := range names {
			to := set.Lookup(name)
			if to == nil || to == from || samePointer(to.Value, from.Value) {
				continue // a value shared by every name (a cli.Generic) is set already
			}
			v := from.Value.String()
			if s, ok := from.Value.(cli.Serializer); ok {
				v = s.Serialize()
			}
			if err := set.Set(name, v); err != nil {
				return fmt.Errorf("flag %s: %w", names[0], err)
			}
		}
	}
	return nil
}

// interspersed wraps a subcommand's action (the command must set
// SkipFlagParsing) so that flags may come anywhere before "--", as in
// `zfslxc template create NAME --from X`: urfave/cli v2 stops parsing at the
// first positional argument. The action gets a context whose flags are
// parsed, the positional arguments, and the arguments after "--" (nil when
// there is no "--").
func interspersed(action func(c *cli.Context, pos, after []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		for _, a := range c.Args().Slice() {
			if a == "--" {
				break
			}
			if a == "-h" || a == "--help" || a == "-help" {
				return cli.ShowSubcommandHelp(c)
			}
		}
		set, pos, after, err := parseInterspersed(c, c.Args().Slice())
		if err != nil {
			return err
		}
		cc := cli.NewContext(c.App, set, c.Lineage()[1])
		cc.Command = c.Command
		cc.Context = c.Context
		return action(cc, pos, after)
	}
}

// positional checks the number of positional arguments of a command that
// takes no ARGS: the words after "--" count too ("--" is how a name that
// starts with '-' is passed), so none is dropped silently.
func positional(pos, after []string, want ...string) ([]string, error) {
	pos = append(slices.Clip(pos), after...)
	if len(pos) != len(want) {
		return nil, fmt.Errorf("want %s, got %d arguments %q", strings.Join(want, " "), len(pos), pos)
	}
	return pos, nil
}

func lxcCreate(cc *cli.Context, pos, after []string) error {
	// The words after "--" are ARGS here.
	if _, err := positional(pos, nil, "CT"); err != nil {
		return err
	}
	ov := lxcconv.Overrides{
		Env:        cc.Generic("env").(*multiValue).values,
		User:       cc.String("user"),
		WorkingDir: cc.String("workdir"),
	}
	if cc.IsSet("entrypoint") {
		ep := cc.String("entrypoint")
		ov.Entrypoint = []string{}
		if ep != "" {
			ov.Entrypoint = []string{ep}
		}
	}
	if after != nil {
		ov.Args = after
	}
	if cc.String("template") == "" {
		return errors.New(`required flag "template" not set`)
	}
	m, err := openContainers(cc)
	if err != nil {
		return err
	}
	ct, err := m.Create(cc.Context, pos[0], standalone.CreateOptions{Template: cc.String("template"), Overrides: ov, Reaper: cc.Bool("init")})
	if err != nil {
		return err
	}
	if cc.Bool("json") {
		enc := json.NewEncoder(cc.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(ct)
	}
	argv, _ := json.Marshal(ct.Process.Args)
	fmt.Fprintf(cc.App.Writer, "container %s: rootfs %s (clone of %s)\n  config %s\n  runs %s as %d:%d in %s\n  start: lxc-start -n %s -P %s [-F]\n",
		ct.Name, ct.Dataset, ct.Origin, ct.ConfigPath, argv, ct.Process.UID, ct.Process.GID, ct.Process.Cwd, ct.Name, m.LXCPath())
	return nil
}

// dashed spells a flag name as typed: -t, --template.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// samePointer reports whether two flag values are one pointer.
func samePointer(a, b flag.Value) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer && va.Pointer() == vb.Pointer()
}

func isSet(set *flag.FlagSet, name string) bool {
	found := false
	set.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// multiValue is a repeatable string flag that, unlike cli.StringSlice,
// does not split values on commas (K=a,b is one variable).
type multiValue struct{ values []string }

func (m *multiValue) Set(v string) error { m.values = append(m.values, v); return nil }
func (m *multiValue) String() string {
	if m == nil {
		return ""
	}
	return strings.Join(m.values, " ")
}
