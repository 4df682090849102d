package main

import (
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// findCommand returns the command at path in app's tree.
func findCommand(app *cli.App, path []string) *cli.Command {
	cmds := app.Commands
	var c *cli.Command
	for _, name := range path {
		c = nil
		for _, cand := range cmds {
			if cand.Name == name {
				c = cand
			}
		}
		if c == nil {
			return nil
		}
		cmds = c.Subcommands
	}
	return c
}

// flagProbe is a value to pass on the command line for one flag and the
// check that the command saw it under the flag's long name.
type flagProbe struct {
	args  []string
	check func(c *cli.Context, long string) (got any, ok bool)
}

func probeFor(t *testing.T, f cli.Flag, name string) flagProbe {
	opt := "--" + name
	if len(name) == 1 {
		opt = "-" + name
	}
	switch f.(type) {
	case *cli.StringFlag:
		return flagProbe{[]string{opt, "probe-" + name}, func(c *cli.Context, long string) (any, bool) {
			return c.String(long), c.String(long) == "probe-"+name && c.IsSet(long)
		}}
	case *cli.BoolFlag:
		return flagProbe{[]string{opt}, func(c *cli.Context, long string) (any, bool) {
			return c.Bool(long), c.Bool(long) && c.IsSet(long)
		}}
	case *cli.IntFlag:
		return flagProbe{[]string{opt, "4711"}, func(c *cli.Context, long string) (any, bool) {
			return c.Int(long), c.Int(long) == 4711 && c.IsSet(long)
		}}
	case *cli.DurationFlag:
		return flagProbe{[]string{opt, "4711s"}, func(c *cli.Context, long string) (any, bool) {
			return c.Duration(long), c.Duration(long) == 4711*time.Second && c.IsSet(long)
		}}
	case *cli.StringSliceFlag:
		return flagProbe{[]string{opt, "probe-" + name}, func(c *cli.Context, long string) (any, bool) {
			v := c.StringSlice(long)
			return v, len(v) == 1 && v[0] == "probe-"+name && c.IsSet(long)
		}}
	case *cli.GenericFlag:
		return flagProbe{[]string{opt, "PROBE=" + name}, func(c *cli.Context, long string) (any, bool) {
			g := c.Generic(long)
			if g == nil {
				return nil, false
			}
			s := g.(interface{ String() string }).String()
			return s, strings.Contains(s, "PROBE="+name) && c.IsSet(long)
		}}
	}
	t.Fatalf("no probe for flag type %T (%v): add one", f, f.Names())
	return flagProbe{}
}

// TestEveryFlagNameIsHonoured walks the whole command tree and passes every
// declared name of every flag (long name and each alias) on its own: the
// command must see the value under the flag's long name. Commands that
// parse flags themselves (interspersed) once dropped every short alias
// silently (`lxc create CT -t T -P DIR -u USER -w DIR` ran with defaults).
func TestEveryFlagNameIsHonoured(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command)
	aliases := 0
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(append([]string{}, path...), c.Name)
			for _, f := range c.Flags {
				names := f.Names()
				long := names[0]
				aliases += len(names) - 1
				for _, name := range names {
					probe := probeFor(t, f, name)
					t.Run(strings.Join(p, "_")+"/"+name, func(t *testing.T) {
						app := newApp()
						cmd := findCommand(app, p)
						var got any
						seen, ok := false, false
						capture := func(cc *cli.Context, _, _ []string) error {
							seen = true
							got, ok = probe.check(cc, long)
							return nil
						}
						// The command's own parsing path: interspersed (flags
						// after the positional argument too) when it skips
						// urfave's flag parsing.
						args := append(append([]string{}, probe.args...), "ARG")
						if cmd.SkipFlagParsing {
							cmd.Action = interspersed(capture)
							args = append([]string{"ARG"}, probe.args...)
						} else {
							cmd.Action = func(cc *cli.Context) error { return capture(cc, nil, nil) }
						}
						line := strings.Join(append(append([]string{}, p...), args...), " ")
						out, err := runAppWith(t, app, append(append([]string{}, p...), args...)...)
						if err != nil || !seen {
							t.Fatalf("zfslxc %s: ran=%v err=%v\n%s", line, seen, err, out)
						}
						if !ok {
							t.Errorf("zfslxc %s: --%s reads %v", line, long, got)
						}
					})
				}
			}
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp().Commands)
	if aliases < 8 {
		t.Errorf("walked %d flag aliases, want every one (8+)", aliases)
	}
}

// TestTwoFormsOfOneFlagRefused: a flag given under two of its names is
// refused, as urfave/cli does for the commands it parses.
func TestTwoFormsOfOneFlagRefused(t *testing.T) {
	for _, args := range [][]string{
		{"lxc", "create", "CT", "-t", "a", "--template", "b"},
		{"template", "create", "T", "--from", "x", "-n", "a", "--namespace", "b"},
	} {
		if _, err := runApp(t, args...); err == nil || !strings.Contains(err.Error(), "two forms") {
			t.Errorf("%v: %v, want a refusal naming two forms of one flag", args, err)
		}
	}
}
