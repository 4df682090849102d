package containerdtest

import (
	"fmt"
	"runtime"
	"strings"
)

// ProxySnapshotterConfig returns the containerd config that registers the
// proxy snapshotter name at the unix socket address, for a config of
// version configVersion (2: containerd 1.6/1.7, 3: 2.x):
//
//	[proxy_plugins.zfslxc]
//	  type = "snapshot"
//	  address = "/run/zfslxc/snapshotter.sock"
//
// On 2.x `ctr images import/pull` (and the CRI from 2.1) unpack through the
// transfer service, which unpacks only into the snapshotters its
// unpack_config lists; UnpackConfig adds name there, next to overlayfs so
// the stock default keeps working.
func ProxySnapshotterConfig(configVersion int, name, address string) string {
	return fmt.Sprintf(`
[proxy_plugins.%s]
  type = "snapshot"
  address = %q
`, tomlKey(name), address) + UnpackConfig(configVersion, "overlayfs", name)
}

// UnpackConfig returns the transfer service's unpack_config (plugin
// io.containerd.transfer.v1.local, containerd 2.x) with one entry per
// snapshotter, for linux on this architecture with the walking differ
// (the one that applies a layer into any mount). Listing entries replaces
// the default list (overlayfs), so name overlayfs too to keep it. Empty for
// config versions before 3: 1.6's ctr unpacks in the client, with no such
// list.
func UnpackConfig(configVersion int, snapshotters ...string) string {
	if configVersion < 3 || len(snapshotters) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n[plugins.\"io.containerd.transfer.v1.local\"]\n")
	for _, sn := range snapshotters {
		fmt.Fprintf(&b, `  [[plugins."io.containerd.transfer.v1.local".unpack_config]]
    platform = "linux/%s"
    snapshotter = %q
    differ = "walking"
`, runtime.GOARCH, sn)
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
