package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/docker/go-units"
	"github.com/pelletier/go-toml/v2"
)

// Defaults of the daemon.
const (
	defaultConfigPath = "/etc/zfslxc/snapshotter.toml"
	defaultAddress    = "/run/zfslxc/snapshotter.sock"
	defaultRoot       = "/var/lib/zfslxc-snapshotter"
	defaultLogLevel   = "info"
)

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

func defaultConfig() Config {
	return Config{Address: defaultAddress, Root: defaultRoot, LogLevel: defaultLogLevel, LogFormat: "text"}
}

// loadConfig reads path over the defaults. A missing file is fine only
// when it is the default path the user did not name.
func loadConfig(path string, named bool) (Config, error) {
	cfg := defaultConfig()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !named {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("config file: %w", err)
	}
	dec := toml.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return cfg, fmt.Errorf("config file %s: unknown keys:\n%s", path, sm.String())
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			if key := de.Key(); len(key) > 0 {
				return cfg, fmt.Errorf("config file %s:%d:%d: key %s: %v", path, row, col, strings.Join(key, "."), de)
			}
			return cfg, fmt.Errorf("config file %s:%d:%d: %v", path, row, col, de)
		}
		return cfg, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// quotaBytes parses DefaultQuota.
func (c Config) quotaBytes() (uint64, error) {
	if c.DefaultQuota == "" {
		return 0, nil
	}
	n, err := units.RAMInBytes(c.DefaultQuota)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("default_quota %q: want a size like 10G", c.DefaultQuota)
	}
	return uint64(n), nil
}
