package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// transferPlugin is the containerd 2.x transfer service, whose
// unpack_config lists the snapshotters ctr and the CRI unpack into.
const transferPlugin = "io.containerd.transfer.v1.local"

// lxcRuntimeType is the shim's runtime type.
const lxcRuntimeType = "io.containerd.lxc.v1"

// parseContainerdVersion reads `containerd --version` output:
// "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
// or "containerd github.com/containerd/containerd/v2 v2.4.2 <commit>".
func parseContainerdVersion(out string) (version string, major int, ok bool) {
	f := strings.Fields(firstLine(out))
	if len(f) < 3 {
		return "", 0, false
	}
	v := strings.TrimPrefix(f[2], "v")
	major, ok = leadingInt(v)
	return v, major, ok
}

// containerdFix is how to get a containerd config that registers zfslxc.
func (s *state) containerdFix() string {
	major := s.containerdMajor
	if major == 0 {
		major = 2
		if s.configVersion == 2 {
			major = 1
		}
	}
	return fmt.Sprintf("zfslxc config containerd --version %d --address %s >> %s   # merge tables that exist already\nsystemctl restart containerd",
		min(major, 2), s.cfg.SnapshotterAddress, s.cfg.ContainerdConfig)
}

// checkContainerdBinary: containerd installed, and its version.
func checkContainerdBinary(s *state) []Result {
	const name = "containerd"
	path, err := s.env.LookPath(s.cfg.Containerd)
	if err != nil {
		return []Result{fail(name, "apt-get install containerd", "%s not found", s.cfg.Containerd)}
	}
	out, stderr, err := s.run(path, "--version")
	if err != nil {
		return []Result{fail(name, "apt-get install --reinstall containerd", "%s --version: %s", path, errText(stderr, err))}
	}
	v, major, ok2 := parseContainerdVersion(out)
	if !ok2 {
		return []Result{warn(name, "", "%s --version: cannot read the version from %q", path, firstLine(out))}
	}
	s.containerdMajor = major
	if major < 1 || (major == 1 && !versionAtLeast(v, 1, 6)) {
		return []Result{fail(name, "apt-get install containerd   # 1.6 or later", "containerd %s (%s): zfslxc needs 1.6 or later", v, path)}
	}
	return []Result{ok(name, "containerd %s (%s)", v, path)}
}

// versionAtLeast compares "MAJOR.MINOR…" with major.minor.
func versionAtLeast(v string, major, minor int) bool {
	a, rest, _ := strings.Cut(v, ".")
	ma, _ := leadingInt(a)
	mi, _ := leadingInt(rest)
	return ma > major || ma == major && mi >= minor
}

// checkContainerdDaemon: a containerd answers on its socket (a warning
// when not: the config check does not need it).
func checkContainerdDaemon(s *state) []Result {
	const name = "containerd daemon"
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	addr := socketPath(s.cfg.ContainerdAddress)
	c, err := s.env.Dial(ctx, addr)
	if err != nil {
		return []Result{warn(name, "systemctl start containerd", "no containerd answers on %s: %v", addr, err)}
	}
	c.Close()
	v, err := s.env.ContainerdVersion(ctx, addr)
	if err != nil {
		return []Result{warn(name, "systemctl restart containerd", "%s accepts connections but containerd's version API does not answer: %v", addr, err)}
	}
	return []Result{ok(name, "containerd %s answers on %s", strings.TrimPrefix(v, "v"), s.cfg.ContainerdAddress)}
}

// readContainerdConfig reads and parses containerd's config once.
func (s *state) readContainerdConfig() (map[string]any, []Result) {
	if s.containerdDoc != nil {
		return s.containerdDoc, nil
	}
	const name = "containerd config"
	path := s.cfg.ContainerdConfig
	b, err := s.env.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, []Result{fail(name, s.containerdFix(),
			"%s does not exist: containerd runs with its defaults, which do not know zfslxc", path)}
	}
	if err != nil {
		return nil, []Result{fail(name, "ls -l "+path, "%s: %v", path, err)}
	}
	var doc map[string]any
	if err := toml.Unmarshal(b, &doc); err != nil {
		return nil, []Result{fail(name, "fix the TOML syntax in "+path, "%s: %v", path, err)}
	}
	s.configVersion = 1
	if v, ok := doc["version"].(int64); ok {
		s.configVersion = int(v)
	}
	s.containerdDoc = doc
	return doc, nil
}

// table returns the sub-table at a path of keys, or nil.
func table(doc map[string]any, keys ...string) map[string]any {
	cur := doc
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// socketPath drops a unix:// scheme.
func socketPath(a string) string { return strings.TrimPrefix(a, "unix://") }

// checkContainerdConfig: containerd's config registers the proxy
// snapshotter with the daemon's address, in a config version the
// containerd binary reads.
func checkContainerdConfig(s *state) []Result {
	const name = "containerd config"
	doc, res := s.readContainerdConfig()
	if res != nil {
		return res
	}
	path, sn := s.cfg.ContainerdConfig, s.cfg.SnapshotterName
	if s.configVersion >= 3 && s.containerdMajor == 1 {
		return []Result{fail(name, fmt.Sprintf("rewrite %s as version = 2   # zfslxc config containerd --version 1", path),
			"%s has version = %d, which containerd 1.x cannot read", path, s.configVersion)}
	}
	pp := table(doc, "proxy_plugins", sn)
	if pp == nil {
		return []Result{fail(name, s.containerdFix(), "[proxy_plugins.%s] is not in %s: containerd does not know the snapshotter", sn, path)}
	}
	if t, _ := pp["type"].(string); t != "snapshot" {
		return []Result{fail(name, fmt.Sprintf("set type = \"snapshot\" under [proxy_plugins.%s] in %s; systemctl restart containerd", sn, path),
			"[proxy_plugins.%s] has type = %q, want \"snapshot\"", sn, t)}
	}
	addr, _ := pp["address"].(string)
	if socketPath(addr) != socketPath(s.cfg.SnapshotterAddress) {
		return []Result{fail(name, fmt.Sprintf("set address = %q under [proxy_plugins.%s] in %s; systemctl restart containerd", s.cfg.SnapshotterAddress, sn, path),
			"[proxy_plugins.%s] has address = %q, but the snapshotter serves on %s", sn, addr, s.cfg.SnapshotterAddress)}
	}
	return []Result{ok(name, "%s (version %d) registers [proxy_plugins.%s] at %s", path, s.configVersion, sn, addr)}
}

// checkUnpackConfig: on containerd 2.x (config version 3) ctr and the CRI
// unpack only into the snapshotters the transfer service's unpack_config
// lists, and the list replaces the default (overlayfs).
func checkUnpackConfig(s *state) []Result {
	const name = "unpack_config"
	doc, res := s.readContainerdConfig()
	if res != nil {
		return nil // checkContainerdConfig said it
	}
	sn := s.cfg.SnapshotterName
	var listed []string
	if tp := table(doc, "plugins", transferPlugin); tp != nil {
		entries, _ := tp["unpack_config"].([]any)
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				if v, ok := m["snapshotter"].(string); ok {
					listed = append(listed, v)
				}
			}
		}
	}
	has := func(x string) bool {
		for _, l := range listed {
			if l == x {
				return true
			}
		}
		return false
	}
	fix := fmt.Sprintf("zfslxc config containerd --version 2   # add its [[plugins.%q.unpack_config]] entries to %s\nsystemctl restart containerd", transferPlugin, s.cfg.ContainerdConfig)
	needed := s.configVersion >= 3 || s.containerdMajor >= 2
	switch {
	case has(sn) && len(listed) > 0 && !has("overlayfs"):
		return []Result{warn(name, fix, "unpack_config lists %s but not overlayfs: the list replaces the default, so images no longer unpack into overlayfs", sn)}
	case has(sn):
		return []Result{ok(name, "the transfer service unpacks into %s (unpack_config: %s)", sn, strings.Join(listed, ", "))}
	case !needed:
		return []Result{ok(name, "not needed with config version %d (containerd 1.x unpacks in the client)", s.configVersion)}
	case s.configVersion >= 3:
		return []Result{fail(name, fix, "config version %d has no [[plugins.%q.unpack_config]] entry for %s: ctr images pull/import and CRI pulls will not unpack into it", s.configVersion, transferPlugin, sn)}
	default:
		return []Result{warn(name, fix, "containerd %d.x with config version %d: no unpack_config entry for %s, so its transfer service will not unpack into it", s.containerdMajor, s.configVersion, sn)}
	}
}

// checkSnapshotterSocket: the snapshotter daemon accepts connections and
// answers the snapshots API.
func checkSnapshotterSocket(s *state) []Result {
	const name = "snapshotter"
	addr := socketPath(s.cfg.SnapshotterAddress)
	start := "systemctl start zfslxc-snapshotter"
	if s.cfg.Dataset != "" {
		start += fmt.Sprintf("   # or: zfslxc-snapshotter --dataset %s --address %s", s.cfg.Dataset, addr)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	c, err := s.env.Dial(ctx, addr)
	if err != nil {
		msg := fmt.Sprintf("nothing answers on %s: %v", addr, err)
		if s.env.Exists(addr) {
			msg = fmt.Sprintf("%s exists but nothing answers (a stale socket of a daemon that died?): %v", addr, err)
		}
		return []Result{fail(name, start, "%s", msg)}
	}
	c.Close()
	n, err := s.env.ProbeSnapshotter(ctx, addr, s.cfg.SnapshotterName)
	if err != nil {
		return []Result{fail(name, "journalctl -u zfslxc-snapshotter; systemctl restart zfslxc-snapshotter",
			"%s accepts connections but the snapshots API does not answer: %v", addr, err)}
	}
	return []Result{ok(name, "the snapshots API answers on %s (%d snapshots)", addr, n)}
}
