// Command zfslxc-snapshotter is the containerd proxy snapshotter of
// zfslxc: it serves the snapshot API on a unix socket and keeps each
// snapshot in a ZFS dataset. Register it in containerd's config:
//
//	[proxy_plugins.zfslxc]
//	  type = "snapshot"
//	  address = "/run/zfslxc/snapshotter.sock"
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zfslxc/zfslxc/internal/version"
	"github.com/zfslxc/zfslxc/snapshotter/config"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "zfslxc-snapshotter:", err)
		os.Exit(1)
	}
}

// options are the command-line flags; a flag given overrides the config.
type options struct {
	configPath  string
	printConfig bool
	showVersion bool
	address     string
	root        string
	dataset     string
	quota       string
	logLevel    string
	logFormat   string
	metricsAddr string
	set         map[string]bool // flags given on the command line
	configNamed bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("zfslxc-snapshotter", flag.ContinueOnError)
	fs.StringVar(&o.configPath, "config", config.DefaultPath, "TOML configuration file (keys as in --print-config)")
	fs.BoolVar(&o.printConfig, "print-config", false, "print a commented sample configuration and exit")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&o.address, "address", config.DefaultAddress, "unix socket to serve the snapshot API on")
	fs.StringVar(&o.root, "root", config.DefaultRoot, "state directory (metadata database)")
	fs.StringVar(&o.dataset, "dataset", "", "parent ZFS dataset of the snapshots, e.g. tank/zfslxc (required here or in the config)")
	fs.StringVar(&o.quota, "default-quota", "", "refquota of active snapshots without a quota label, e.g. 10G")
	fs.StringVar(&o.logLevel, "log-level", config.DefaultLogLevel, "trace, debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", config.DefaultLogFormat, "text or json")
	fs.StringVar(&o.metricsAddr, "metrics-address", "", "serve Prometheus metrics on host:port at /metrics (off when empty)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: zfslxc-snapshotter [flags]

A containerd proxy snapshotter that keeps each snapshot (image layer or
container root) in its own ZFS dataset: Prepare is a zfs clone, Commit a zfs
snapshot, Remove a zfs destroy. Metadata is in <root>/metadata.db.

Add to containerd's config (1.6/1.7: version = 2; 2.x: version = 3):

  [proxy_plugins.zfslxc]
    type = "snapshot"
    address = "%s"

then: ctr images pull --snapshotter zfslxc IMAGE
      ctr run --snapshotter zfslxc IMAGE ID

Examples:
  zfslxc-snapshotter --dataset tank/zfslxc
  zfslxc-snapshotter --config /etc/zfslxc/snapshotter.toml --log-level debug
  zfslxc-snapshotter --print-config > /etc/zfslxc/snapshotter.toml

Flags:
`, config.DefaultAddress)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	o.configNamed = o.set["config"]
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err == flag.ErrHelp {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case o.showVersion:
		fmt.Println("zfslxc-snapshotter", version.String())
		return nil
	case o.printConfig:
		fmt.Print(config.Sample)
		return nil
	}
	cfg, err := config.Load(o.configPath, o.configNamed)
	if err != nil {
		return err
	}
	o.override(&cfg)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("command line: %w", err)
	}
	return serve(cfg)
}

// override applies the flags that were given over cfg.
func (o options) override(cfg *config.Config) {
	for name, apply := range map[string]func(){
		"address":         func() { cfg.Address = o.address },
		"root":            func() { cfg.Root = o.root },
		"dataset":         func() { cfg.Dataset = o.dataset },
		"default-quota":   func() { cfg.DefaultQuota = o.quota },
		"log-level":       func() { cfg.LogLevel = o.logLevel },
		"log-format":      func() { cfg.LogFormat = o.logFormat },
		"metrics-address": func() { cfg.MetricsAddress = o.metricsAddr },
	} {
		if o.set[name] {
			apply()
		}
	}
}
