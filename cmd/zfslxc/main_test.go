package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/zfslxc/zfslxc/internal/testpool"
)

func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runAppWith(t, newApp(), args...)
}

func runAppWith(t *testing.T, app *cli.App, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"zfslxc"}, args...))
	return out.String(), err
}

func TestHelpAndVersion(t *testing.T) {
	out, err := runApp(t, "--help")
	if err != nil || !strings.Contains(out, "devpool up") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	out, err = runApp(t, "version")
	if err != nil || !strings.HasPrefix(out, "zfslxc ") {
		t.Errorf("version: %q, %v", out, err)
	}
	if _, err := runApp(t, "devpool", "up", "--size", "12"); err == nil || !strings.Contains(err.Error(), "--size") {
		t.Errorf("bad size: %v", err)
	}
}

func TestDevpoolCommands(t *testing.T) {
	testpool.Require(t)
	dir := t.TempDir()
	name := testpool.UniqueName()
	t.Cleanup(func() { _, _ = runApp(t, "devpool", "down", "--name", name, "--dir", dir) })
	out, err := runApp(t, "devpool", "up", "--name", name, "--dir", dir, "--size", "256M")
	if err != nil || !strings.Contains(out, "pool "+name) {
		t.Fatalf("up: %v\n%s", err, out)
	}
	if out, err := runApp(t, "devpool", "up", "--name", name, "--dir", dir, "--size", "256M", "--keep"); err != nil || !strings.Contains(out, "kept") {
		t.Errorf("up --keep: %v\n%s", err, out)
	}
	if out, err := runApp(t, "devpool", "status", "--name", name); err != nil || !strings.Contains(out, "ONLINE") {
		t.Errorf("status: %v\n%s", err, out)
	}
	if out, err := runApp(t, "devpool", "down", "--name", name, "--dir", dir); err != nil || !strings.Contains(out, "destroyed") {
		t.Errorf("down: %v\n%s", err, out)
	}
	if _, err := runApp(t, "devpool", "status", "--name", name); err == nil || !strings.Contains(err.Error(), "devpool up") {
		t.Errorf("status of a missing pool: %v", err)
	}
}

func TestConfigCommands(t *testing.T) {
	out, err := runApp(t, "config", "containerd", "--version", "1", "--address", "/run/x.sock")
	if err != nil || !strings.Contains(out, "[proxy_plugins.zfslxc]") || !strings.Contains(out, `address = "/run/x.sock"`) ||
		strings.Contains(out, "unpack_config") {
		t.Errorf("containerd 1: %v\n%s", err, out)
	}
	out, err = runApp(t, "config", "containerd", "--version", "2", "--platform", "linux/arm64")
	if err != nil || !strings.Contains(out, `snapshotter = "zfslxc"`) || !strings.Contains(out, `snapshotter = "overlayfs"`) ||
		!strings.Contains(out, `platform = "linux/arm64"`) {
		t.Errorf("containerd 2: %v\n%s", err, out)
	}
	if _, err := runApp(t, "config", "containerd", "--version", "3"); err == nil || !strings.Contains(err.Error(), "--version") {
		t.Errorf("bad version: %v", err)
	}
	out, err = runApp(t, "config", "snapshotter")
	if err != nil || !strings.Contains(out, "dataset = ") {
		t.Errorf("snapshotter: %v\n%s", err, out)
	}
}

// TestEveryCommandHasHelpWithExamples walks the whole command tree: each
// command's --help must work and show examples.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command)
	n := 0
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(append([]string{}, path...), c.Name)
			n++
			t.Run(strings.Join(p, "_"), func(t *testing.T) {
				out, err := runApp(t, append(p, "--help")...)
				if err != nil {
					t.Fatalf("%s --help: %v", strings.Join(p, " "), err)
				}
				if !strings.Contains(out, "Examples:") || !strings.Contains(out, "zfslxc "+strings.Join(p, " ")) && c.Name != "version" {
					t.Errorf("zfslxc %s --help has no examples of itself:\n%s", strings.Join(p, " "), out)
				}
			})
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp().Commands)
	if n < 20 {
		t.Errorf("walked %d commands, want every one (20+)", n)
	}
}
