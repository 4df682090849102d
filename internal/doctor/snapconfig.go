package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pelletier/go-toml/v2"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
)

// Defaults of zfslxc-snapshotter (cmd/zfslxc-snapshotter), which doctor
// and gc fall back to.
const (
	DefaultSnapshotterConfig = "/etc/zfslxc/snapshotter.toml"
	DefaultSnapshotterRoot   = "/var/lib/zfslxc-snapshotter"
)

// SnapshotterConfig is what doctor and gc read from the snapshotter's
// config file; other keys are ignored.
type SnapshotterConfig struct {
	// Address is the daemon's socket.
	Address string `toml:"address"`
	// Root holds the metadata database.
	Root string `toml:"root"`
	// Dataset is the parent dataset.
	Dataset string `toml:"dataset"`
}

// LoadSnapshotterConfig reads the snapshotter's config file, with the
// daemon's defaults for what it does not set. A missing file is fine when
// it is the default one; a missing file the user named is an error.
func LoadSnapshotterConfig(path string, named bool) (SnapshotterConfig, error) {
	cfg := SnapshotterConfig{Address: containerdconfig.DefaultSnapshotterAddress, Root: DefaultSnapshotterRoot}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !named {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("snapshotter config: %w", err)
	}
	if err := toml.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("snapshotter config %s: %w", path, err)
	}
	return cfg, nil
}
