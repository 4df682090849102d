// Package config is zfslxc-snapshotter's configuration file,
// /etc/zfslxc/snapshotter.toml by default, with the daemon's defaults. The
// daemon reads it, and so do the tools that must find what the daemon
// uses: `zfslxc doctor` and `zfslxc gc` (dataset, root, socket), `zfslxc
// config` (the sample, the socket containerd's proxy_plugins entry points
// at). Flags of the daemon override the file; a missing default file means
// the defaults, a missing file the user named is an error.
package config

import (
	_ "embed"
	"fmt"
	"net"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"

	"github.com/zfslxc/zfslxc/internal/tomlconfig"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// Defaults of the daemon.
const (
	// DefaultPath is the configuration file read when no --config names one.
	DefaultPath = "/etc/zfslxc/snapshotter.toml"
	// DefaultAddress is the unix socket the daemon serves on.
	DefaultAddress = "/run/zfslxc/snapshotter.sock"
	// DefaultRoot holds the metadata database.
	DefaultRoot = "/var/lib/zfslxc-snapshotter"
	// DefaultLogLevel of the daemon.
	DefaultLogLevel = "info"
	// DefaultLogFormat of the daemon.
	DefaultLogFormat = "text"
)

// Sample is the commented configuration file (`zfslxc-snapshotter
// --print-config`, `zfslxc config snapshotter`, docs/snapshotter.toml).
//
//go:embed sample.toml
var Sample string

// Config is the daemon's configuration file; flags override it.
type Config struct {
	// Address is the unix socket containerd's proxy_plugins entry points at.
	Address string `toml:"address"`
	// Root holds the metadata database and, by default, the mountpoint of
	// the parent dataset when the daemon creates it.
	Root string `toml:"root"`
	// Dataset is the parent dataset of all snapshot datasets, e.g.
	// "tank/zfslxc"; created when absent (the pool must exist).
	Dataset string `toml:"dataset"`
	// Mountpoint of the parent dataset when the daemon creates it
	// (default <root>/datasets).
	Mountpoint string `toml:"mountpoint"`
	// DefaultQuota is the refquota of active snapshots without the
	// containerd.io/snapshot/zfslxc.quota label, e.g. "10G"; empty: none.
	DefaultQuota string `toml:"default_quota"`
	// LogLevel: trace, debug, info, warn, error.
	LogLevel string `toml:"log_level"`
	// LogFormat: text or json.
	LogFormat string `toml:"log_format"`
	// MetricsAddress serves Prometheus metrics at /metrics (host:port);
	// empty: off.
	MetricsAddress string `toml:"metrics_address"`
	// ZFS tool paths (default: looked up on PATH).
	ZFS ZFSConfig `toml:"zfs"`
}

// ZFSConfig locates the zfs tools.
type ZFSConfig struct {
	// ZFSPath is the zfs binary.
	ZFSPath string `toml:"zfs_path"`
	// ZpoolPath is the zpool binary.
	ZpoolPath string `toml:"zpool_path"`
}

// Default is the configuration without a file.
func Default() Config {
	return Config{Address: DefaultAddress, Root: DefaultRoot, LogLevel: DefaultLogLevel, LogFormat: DefaultLogFormat}
}

// Load reads path over the defaults and validates it. A missing file is
// fine only when it is the default path nobody named. Errors name the file
// and the key, and are errdefs.ErrInvalidArgument.
func Load(path string, named bool) (Config, error) {
	cfg := Default()
	if _, err := tomlconfig.Load(path, named, &cfg); err != nil {
		return cfg, fmt.Errorf("snapshotter config %w", err)
	}
	return cfg, nil
}

// Validate checks every value that is set (a dataset may still come from
// a flag: whether one is set at all is the daemon's check) and puts the
// default in an empty log_level or log_format. The daemon calls it again
// after its flags are applied.
func (c *Config) Validate() error {
	bad := tomlconfig.Invalid
	for key, p := range map[string]string{"address": c.Address, "root": c.Root, "mountpoint": c.Mountpoint} {
		if p != "" && !filepath.IsAbs(p) {
			return bad(key, p, "want an absolute path")
		}
	}
	if c.Address == "" {
		return bad("address", c.Address, "want the absolute path of a unix socket")
	}
	if c.Root == "" {
		return bad("root", c.Root, "want an absolute path")
	}
	if c.Dataset != "" {
		if err := zfsdriver.ValidateDataset(c.Dataset); err != nil {
			return fmt.Errorf("dataset = %q: %w: %w", c.Dataset, err, errdefs.ErrInvalidArgument)
		}
	}
	if _, err := c.QuotaBytes(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = DefaultLogLevel
	case "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic":
	default:
		return bad("log_level", c.LogLevel, "want trace, debug, info, warn or error")
	}
	switch c.LogFormat {
	case "":
		c.LogFormat = DefaultLogFormat
	case "text", "json":
	default:
		return bad("log_format", c.LogFormat, "want text or json")
	}
	if c.MetricsAddress != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddress); err != nil {
			return bad("metrics_address", c.MetricsAddress, "want host:port")
		}
	}
	return nil
}

// QuotaBytes parses DefaultQuota (0: none).
func (c Config) QuotaBytes() (uint64, error) {
	if c.DefaultQuota == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(c.DefaultQuota)
	if err != nil || n < 0 {
		return 0, tomlconfig.Invalid("default_quota", c.DefaultQuota, "want a size like 10G")
	}
	return uint64(n), nil
}
