package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
)

// CRI's names in containerd's config: config version 2 (containerd
// 1.6/1.7) has one plugin, version 3 (2.x) splits it.
const (
	criPluginV2        = "io.containerd.grpc.v1.cri"
	criRuntimePluginV3 = "io.containerd.cri.v1.runtime"
	criImagesPluginV3  = "io.containerd.cri.v1.images"
	// criNamespace is the containerd namespace of CRI's images and pods.
	criNamespace = "k8s.io"
	// Defaults of containerd's CRI when the config says nothing.
	defaultCNIConfDir = "/etc/cni/net.d"
	defaultCNIBinDir  = "/opt/cni/bin"
)

// criConfig is what the CRI checks read from containerd's config.
type criConfig struct {
	disabled     bool
	handlers     []string // runtimes of type io.containerd.lxc.v1
	runtimes     map[string]any
	globalSnap   string            // version 2: the CRI-wide snapshotter
	platformSnap map[string]string // version 3: runtime_platforms.<handler>.snapshotter
	sandboxImage string
	cniConfDir   string
	cniBinDirs   []string
	fix          string
}

func (s *state) criConfig(doc map[string]any) criConfig {
	c := criConfig{cniConfDir: defaultCNIConfDir, cniBinDirs: []string{defaultCNIBinDir}, platformSnap: map[string]string{}}
	major := 1
	plugin, runtimePlugin := criPluginV2, criPluginV2
	if s.configVersion >= 3 {
		major, runtimePlugin = 2, criRuntimePluginV3
	}
	c.fix = fmt.Sprintf("zfslxc config containerd --version %d   # merge its CRI tables into %s (docs/cri.md)\nsystemctl restart containerd", major, s.cfg.ContainerdConfig)
	disabled, _ := doc["disabled_plugins"].([]any)
	for _, d := range disabled {
		if d == plugin || d == "cri" || d == runtimePlugin {
			c.disabled = true
		}
	}
	c.runtimes = table(doc, "plugins", runtimePlugin, "containerd", "runtimes")
	for name, v := range c.runtimes {
		if m, ok := v.(map[string]any); ok && m["runtime_type"] == lxcRuntimeType {
			c.handlers = append(c.handlers, name)
		}
	}
	sort.Strings(c.handlers)
	cni := table(doc, "plugins", runtimePlugin, "cni")
	if d, ok := cni["conf_dir"].(string); ok && d != "" {
		c.cniConfDir = d
	}
	if s.configVersion >= 3 {
		if dirs, ok := cni["bin_dirs"].([]any); ok && len(dirs) > 0 {
			c.cniBinDirs = nil
			for _, d := range dirs {
				if ds, ok := d.(string); ok {
					c.cniBinDirs = append(c.cniBinDirs, ds)
				}
			}
		}
		c.sandboxImage, _ = table(doc, "plugins", criImagesPluginV3, "pinned_images")["sandbox"].(string)
		for h, v := range table(doc, "plugins", criImagesPluginV3, "runtime_platforms") {
			if m, ok := v.(map[string]any); ok {
				c.platformSnap[h], _ = m["snapshotter"].(string)
			}
		}
	} else {
		c.sandboxImage, _ = table(doc, "plugins", criPluginV2)["sandbox_image"].(string)
		c.globalSnap, _ = table(doc, "plugins", criPluginV2, "containerd")["snapshotter"].(string)
	}
	// bin_dir is read by 1.6 and still by 2.x (deprecated there).
	if d, ok := cni["bin_dir"].(string); ok && d != "" && (s.configVersion < 3 || cni["bin_dirs"] == nil) {
		c.cniBinDirs = []string{d}
	}
	return c
}

// checkCRI: the CRI side of a node: a runtime handler of the LXC shim on
// the zfslxc snapshotter, a CNI network config whose plugins are
// installed, and the sandbox (pause) image unpacked in zfslxc.
func checkCRI(s *state) []Result {
	doc, res := s.readContainerdConfig()
	if res != nil {
		return nil // checkContainerdConfig said it
	}
	c := s.criConfig(doc)
	if c.disabled {
		return []Result{ok("cri", "the CRI plugin is disabled in %s: nothing to check (ctr and nerdctl need no CRI)", s.cfg.ContainerdConfig)}
	}
	if len(c.handlers) == 0 {
		return []Result{warn("cri runtime", c.fix,
			"no CRI runtime of type %s in %s: pods cannot ask for the LXC shim (ctr run --runtime %s needs none)",
			lxcRuntimeType, s.cfg.ContainerdConfig, lxcRuntimeType)}
	}
	out := []Result{ok("cri runtime", "RuntimeClass handler %s runs %s", strings.Join(quoteAll(c.handlers), ", "), lxcRuntimeType)}
	out = append(out, s.checkCRISnapshotter(c)...)
	out = append(out, s.checkCNI(c)...)
	out = append(out, s.checkSandboxImage(c)...)
	return out
}

func quoteAll(l []string) []string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return q
}

// checkCRISnapshotter: the handler's pods use zfslxc. containerd 2.x
// reads a runtime's snapshotter (and its image service the runtime
// platform, so pulls unpack there); 1.6 ignores it: there the CRI-wide
// snapshotter must be zfslxc.
func (s *state) checkCRISnapshotter(c criConfig) []Result {
	const name = "cri snapshotter"
	sn := s.cfg.SnapshotterName
	var out []Result
	for _, h := range c.handlers {
		rt, _ := c.runtimes[h].(map[string]any)
		own, _ := rt["snapshotter"].(string)
		switch {
		case s.configVersion < 3 && c.globalSnap == sn:
			out = append(out, ok(name, "the CRI's snapshotter is %s (config version 2: 1.6 ignores a runtime's own)", sn))
		case s.configVersion < 3 && own == sn:
			out = append(out, warn(name, c.fix, "handler %q names snapshotter %s, which containerd 1.7 honours but 1.6 ignores: on 1.6 its pods run on %s",
				h, sn, orDefault(c.globalSnap, "overlayfs")))
		case s.configVersion < 3:
			out = append(out, fail(name, c.fix, "handler %q runs on snapshotter %s, not %s", h, orDefault(c.globalSnap, "overlayfs"), sn))
		case own != sn:
			out = append(out, fail(name, c.fix, "handler %q has snapshotter = %q, not %q: its pods run on the CRI's default", h, own, sn))
		case c.platformSnap[h] != sn:
			out = append(out, warn(name, c.fix, "handler %q runs on %s, but [plugins.%q.runtime_platforms.%s] does not name it: CRI pulls for the handler unpack into the default snapshotter and each first container unpacks again",
				h, sn, criImagesPluginV3, h))
		default:
			out = append(out, ok(name, "handler %q runs on %s, and CRI pulls for it unpack there", h, sn))
		}
	}
	return out
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// checkCNI: a network config in the CRI's conf dir (the lexically first
// one is used, as CNI does) and its plugins, plus loopback, in a bin dir.
func (s *state) checkCNI(c criConfig) []Result {
	const name = "cni"
	fix := fmt.Sprintf("apt-get install containernetworking-plugins   # Debian puts them in /usr/lib/cni\nwrite a bridge config into %s and set the CNI bin dir (docs/cri.md)", c.cniConfDir)
	var files []string
	for _, pat := range []string{"*.conf", "*.conflist", "*.json"} {
		m, _ := s.env.Glob(filepath.Join(c.cniConfDir, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		return []Result{fail(name, fix, "no CNI network config in %s: every pod without hostNetwork fails to start", c.cniConfDir)}
	}
	sort.Strings(files)
	data, err := s.env.ReadFile(files[0])
	if err != nil {
		return []Result{fail(name, "ls -l "+files[0], "%s: %v", files[0], err)}
	}
	var conf struct {
		Name    string `json:"name"`
		Type    string `json:"type"`
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		return []Result{fail(name, "fix the JSON in "+files[0], "%s: %v", files[0], err)}
	}
	types := []string{"loopback"}
	if conf.Type != "" {
		types = append(types, conf.Type)
	}
	for _, p := range conf.Plugins {
		types = append(types, p.Type)
	}
	var missing []string
	for _, t := range types {
		found := slices.ContainsFunc(c.cniBinDirs, func(d string) bool { return s.env.Exists(filepath.Join(d, t)) })
		if !found && !slices.Contains(missing, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return []Result{fail(name, fix, "network %q (%s) needs CNI plugins %s, not found in %s",
			conf.Name, files[0], strings.Join(missing, ", "), strings.Join(c.cniBinDirs, ", "))}
	}
	return []Result{ok(name, "network %q (%s), plugins %s in %s", conf.Name, files[0], strings.Join(types, ", "), strings.Join(c.cniBinDirs, ", "))}
}

// checkSandboxImage: the pause image is unpacked in zfslxc, so a pod
// starts without a registry.
func (s *state) checkSandboxImage(c criConfig) []Result {
	const name = "sandbox image"
	if s.env.ImageUnpacked == nil {
		return nil
	}
	ref := c.sandboxImage
	shown := ref
	if ref == "" {
		return []Result{ok(name, "containerd's default sandbox image (registry.k8s.io/pause): set it in the config to have it checked")}
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	sn := s.cfg.SnapshotterName
	unpacked, err := s.env.ImageUnpacked(ctx, socketPath(s.cfg.ContainerdAddress), criNamespace, ref, sn)
	pull := fmt.Sprintf("ctr -n %s images pull --snapshotter %s %s   # or import it: ctr -n %s images import --snapshotter %s pause.tar", criNamespace, sn, ref, criNamespace, sn)
	switch {
	case errdefs.IsNotFound(err):
		return []Result{warn(name, pull, "%s is not in containerd's %s namespace: the first pod pulls it (a registry must answer)", shown, criNamespace)}
	case err != nil:
		return []Result{warn(name, "", "cannot ask containerd about %s: %v", shown, err)}
	case !unpacked:
		return []Result{warn(name, fmt.Sprintf("crictl pull %s   # or: ctr -n %s images import --snapshotter %s pause.tar", ref, criNamespace, sn),
			"%s is present but not unpacked in %s: the first pod unpacks it", shown, sn)}
	}
	return []Result{ok(name, "%s is unpacked in %s", shown, sn)}
}
