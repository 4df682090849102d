// Package config is containerd-shim-lxc-v1's configuration file,
// /etc/zfslxc/shim.toml by default. containerd starts the shim with no
// flags of ours, so the file is found through, in order: the ConfigPath
// of the task's runtime options (CRI: `options = { ConfigPath = … }` under
// the runtime), $ZFSLXC_SHIM_CONFIG, then DefaultPath. A missing default
// file means the defaults; a named file that is missing is an error. A CRI
// runtime entry may instead hold the keys inline (`options = { init =
// "reaper" }`): containerd sends that table as the options' ConfigBody,
// read with Parse in place of any file.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zfslxc/zfslxc/internal/tomlconfig"
)

// DefaultPath is where the shim looks when nothing names a file.
const DefaultPath = "/etc/zfslxc/shim.toml"

// EnvPath names the file for shims started by a containerd whose
// environment sets it.
const EnvPath = "ZFSLXC_SHIM_CONFIG"

// Init modes (lxcrun.InitExec, lxcrun.InitReaper).
const (
	InitExec   = "exec"
	InitReaper = "reaper"
)

// Config is the shim's configuration.
type Config struct {
	// StateDir holds the LXC state of each container
	// (<state_dir>/<namespace>/<id>, linked from <bundle>/lxc). Empty:
	// <bundle>/lxc itself. Never LXC's global /var/lib/lxc.
	StateDir string `toml:"state_dir"`
	// Init is how zfslxc-init runs the process when the spec's
	// io.zfslxc.init annotation does not say: "exec" (the process is
	// PID 1, as under runc) or "reaper" (zfslxc-init stays PID 1, reaps
	// and forwards signals, like docker run --init).
	Init string `toml:"init"`
	// AppArmorProfile is LXC's lxc.apparmor.profile when the spec names
	// none. Empty: "unconfined", as runc (an OCI spec without a profile,
	// which is what CRI sends for an unconfined pod, runs unconfined).
	AppArmorProfile string `toml:"apparmor_profile"`
	// BinDir holds zfslxc-init and zfslxc-start. Empty: next to the
	// shim's binary, then $PATH.
	BinDir string `toml:"bin_dir"`
	// LogLevel of the shim (trace … error); empty: info, or debug when
	// containerd runs with debug logging.
	LogLevel string `toml:"log_level"`
}

// Sample is the default configuration, commented, as written by
// `make install` to /etc/zfslxc/shim.toml.
const Sample = `# containerd-shim-lxc-v1 configuration (defaults shown).
# Found through the runtime options' ConfigPath, $ZFSLXC_SHIM_CONFIG, or here.

# LXC state of each container: "" keeps it in <bundle>/lxc; a directory
# puts it in <state_dir>/<namespace>/<id> (linked from <bundle>/lxc).
state_dir = ""

# "exec": the image's process is PID 1 (as runc). "reaper": zfslxc-init
# stays PID 1, reaps zombies and forwards signals. The annotation
# io.zfslxc.init=exec|reaper of a container overrides this.
init = "exec"

# lxc.apparmor.profile for specs naming none: "" = "unconfined", as runc
# (CRI sends no profile for an unconfined pod, and names one otherwise).
apparmor_profile = ""

# Directory of zfslxc-init and zfslxc-start: "" = next to the shim, then PATH.
bin_dir = ""

# trace, debug, info, warn, error; "" = info (debug when containerd debugs).
log_level = ""
`

// Default is the configuration without a file.
func Default() Config { return Config{Init: InitExec} }

// Path picks the file: optionPath (from the runtime options), else
// $ZFSLXC_SHIM_CONFIG, else DefaultPath. named reports whether someone
// named it (then it must exist).
func Path(optionPath string) (path string, named bool) {
	if optionPath != "" {
		return optionPath, true
	}
	if p := os.Getenv(EnvPath); p != "" {
		return p, true
	}
	return DefaultPath, false
}

// Load reads path over the defaults and validates it. Errors name the
// file and the key, and are errdefs.ErrInvalidArgument.
func Load(path string, named bool) (Config, error) {
	cfg := Default()
	if _, err := tomlconfig.Load(path, named, &cfg); err != nil {
		return Default(), fmt.Errorf("shim config %w", err)
	}
	return cfg, nil
}

// Parse reads a configuration from data over the defaults and validates
// it; source names it in errors (a file, or "runtime options" for the
// inline table a CRI runtime entry sends as ConfigBody). Errors are
// errdefs.ErrInvalidArgument.
func Parse(source string, data []byte) (Config, error) {
	cfg := Default()
	if err := tomlconfig.Parse(source, data, &cfg); err != nil {
		return cfg, fmt.Errorf("shim config %w", err)
	}
	return cfg, nil
}

// Validate checks every value and puts the default in an empty init.
func (c *Config) Validate() error {
	bad := tomlconfig.Invalid
	switch c.Init {
	case "":
		c.Init = InitExec
	case InitExec, InitReaper:
	default:
		return bad("init", c.Init, `want "exec" or "reaper"`)
	}
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		return bad("state_dir", c.StateDir, "want an absolute path")
	}
	if c.BinDir != "" && !filepath.IsAbs(c.BinDir) {
		return bad("bin_dir", c.BinDir, "want an absolute path")
	}
	if strings.ContainsAny(c.AppArmorProfile, "\n\r\x00") {
		return bad("apparmor_profile", c.AppArmorProfile, "no line breaks or NULs")
	}
	switch c.LogLevel {
	case "", "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic":
	default:
		return bad("log_level", c.LogLevel, "want trace, debug, info, warn or error")
	}
	return nil
}

// StateDirFor is the LXC state directory of task id in namespace:
// <bundle>/lxc, or <state_dir>/<namespace>/<id>.
func (c Config) StateDirFor(bundle, namespace, id string) string {
	if c.StateDir == "" {
		return filepath.Join(bundle, "lxc")
	}
	return filepath.Join(c.StateDir, namespace, id)
}
