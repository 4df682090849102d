// Package containerdconfig writes the containerd configuration that
// registers zfslxc: the proxy snapshotter and, on containerd 2.x, its entry
// in the transfer service's unpack list. `zfslxc config containerd` prints
// it and the integration tests run real containerd daemons with it, so
// what users are told is what is tested.
package containerdconfig

import (
	"fmt"
	"runtime"
	"strings"

	snapconfig "github.com/zfslxc/zfslxc/snapshotter/config"
)

// Defaults of containerd and of zfslxc's names in containerd's config.
const (
	// DefaultSnapshotterName is the proxy plugin's name (the
	// --snapshotter of ctr and nerdctl).
	DefaultSnapshotterName = "zfslxc"
	// DefaultContainerdAddress is containerd's gRPC socket.
	DefaultContainerdAddress = "/run/containerd/containerd.sock"
	// DefaultContainerdConfig is containerd's configuration file.
	DefaultContainerdConfig = "/etc/containerd/config.toml"
	// DefaultNamespace is containerd's default namespace (ctr's).
	DefaultNamespace = "default"
)

// Options of Snippet.
type Options struct {
	// ConfigVersion of the containerd config file: 2 for containerd
	// 1.6/1.7, 3 for 2.x.
	ConfigVersion int
	// SnapshotterName is the proxy plugin's name (default "zfslxc").
	SnapshotterName string
	// SnapshotterAddress is the daemon's unix socket (default: the
	// snapshotter's default address).
	SnapshotterAddress string
	// Platform of the unpack entries (default linux/<this arch>).
	Platform string
}

// ConfigVersionFor returns the config version of a containerd major
// version (1 → 2, 2 → 3).
func ConfigVersionFor(major int) (int, error) {
	switch major {
	case 1:
		return 2, nil
	case 2:
		return 3, nil
	}
	return 0, fmt.Errorf("containerd major version %d: want 1 (1.6/1.7) or 2 (2.x)", major)
}

// Snippet returns the TOML to add to containerd's config.
func Snippet(o Options) string {
	if o.SnapshotterName == "" {
		o.SnapshotterName = DefaultSnapshotterName
	}
	if o.SnapshotterAddress == "" {
		o.SnapshotterAddress = snapconfig.DefaultAddress
	}
	if o.Platform == "" {
		o.Platform = "linux/" + runtime.GOARCH
	}
	s := fmt.Sprintf(`
[proxy_plugins.%s]
  type = "snapshot"
  address = %q
`, tomlKey(o.SnapshotterName), o.SnapshotterAddress)
	return s + UnpackConfig(o.ConfigVersion, o.Platform, "overlayfs", o.SnapshotterName)
}

// UnpackConfig returns the transfer service's unpack_config (plugin
// io.containerd.transfer.v1.local, containerd 2.x) with one entry per
// snapshotter, with the walking differ (it applies a layer into any mount).
// On 2.x `ctr images import/pull` (and the CRI from 2.1) unpack only into
// the snapshotters this list names, and a list replaces the default
// (overlayfs), so name overlayfs too to keep it. Empty for config versions
// before 3: containerd 1.6's ctr unpacks in the client, with no such list.
func UnpackConfig(configVersion int, platform string, snapshotters ...string) string {
	if configVersion < 3 || len(snapshotters) == 0 {
		return ""
	}
	if platform == "" {
		platform = "linux/" + runtime.GOARCH
	}
	var b strings.Builder
	b.WriteString("\n[plugins.\"io.containerd.transfer.v1.local\"]\n")
	for _, sn := range snapshotters {
		fmt.Fprintf(&b, `  [[plugins."io.containerd.transfer.v1.local".unpack_config]]
    platform = %q
    snapshotter = %q
    differ = "walking"
`, platform, sn)
	}
	return b.String()
}

// tomlKey quotes a table key unless it is a bare key.
func tomlKey(k string) string {
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Sprintf("%q", k)
		}
	}
	return k
}
