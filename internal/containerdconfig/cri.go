package containerdconfig

import (
	"fmt"
	"sort"
	"strings"
)

// Defaults of the CRI runtime entry.
const (
	// DefaultRuntimeHandler is the CRI runtime handler (a RuntimeClass's
	// handler) of the LXC shim.
	DefaultRuntimeHandler = "lxc"
	// RuntimeType is the shim's runtime type: containerd runs
	// containerd-shim-lxc-v1 for it.
	RuntimeType = "io.containerd.lxc.v1"
)

// CRIOptions of CRI. Zero values leave containerd's defaults, except
// Handler and Snapshotter.
type CRIOptions struct {
	// ConfigVersion of the containerd config file: 2 for containerd
	// 1.6/1.7, 3 for 2.x.
	ConfigVersion int
	// Handler is the runtime handler (RuntimeClass handler); default "lxc".
	Handler string
	// Snapshotter is the zfslxc snapshotter's name; default "zfslxc". On
	// 2.x it is the handler's own (other runtimes keep theirs); containerd
	// 1.6 ignores a runtime's snapshotter, so on config version 2 it is
	// the CRI's snapshotter for every runtime.
	Snapshotter string
	// ShimConfigPath is the shim's config file, sent as the runtime
	// options' ConfigPath. Exclusive with ShimOptions.
	ShimConfigPath string
	// ShimOptions are shim.toml keys written inline in the runtime's
	// options table; containerd sends the table as ConfigBody.
	ShimOptions map[string]string
	// Default makes Handler the default runtime: pods without a
	// RuntimeClass (and a kubelet that knows of none) run with it.
	Default bool
	// SandboxImage is the pod sandbox ("pause") image; "" keeps
	// containerd's (registry.k8s.io/pause).
	SandboxImage string
	// RestrictOOMScoreAdj caps the oom_score_adj CRI asks for at the
	// daemon's own: needed where containerd lacks CAP_SYS_RESOURCE
	// (containerd in a container or a VM sandbox), under runc as well.
	RestrictOOMScoreAdj bool
	// CNIBinDir holds the CNI plugins (Debian: /usr/lib/cni); "" keeps
	// containerd's /opt/cni/bin.
	CNIBinDir string
	// CNIConfDir holds the CNI network configs; "" keeps /etc/cni/net.d.
	CNIConfDir string
}

// CRI returns the TOML that sets the CRI plugin up for the LXC shim, to
// append to a containerd config that does not define these tables yet:
//
//   - the runtime entry, runtime_type "io.containerd.lxc.v1", under
//     [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.<handler>]
//     (config version 2) or
//     [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.<handler>]
//     (version 3), with the shim's options as a path or inline;
//   - the snapshotter: per runtime on 2.x, and there also the runtime
//     platform that makes CRI pulls for the handler unpack into it; global
//     on 1.6, which ignores a runtime's snapshotter;
//   - optionally the default runtime, the sandbox image, the
//     oom_score_adj restriction and the CNI directories.
//
// It is an error to set both ShimConfigPath and ShimOptions, or to give an
// option key or value that cannot be written.
func CRI(o CRIOptions) (string, error) {
	if o.Handler == "" {
		o.Handler = DefaultRuntimeHandler
	}
	if o.Snapshotter == "" {
		o.Snapshotter = DefaultSnapshotterName
	}
	if o.ShimConfigPath != "" && len(o.ShimOptions) > 0 {
		return "", fmt.Errorf("shim options: give a config path or inline options, not both")
	}
	for k, v := range o.ShimOptions {
		if k == "" || strings.ContainsAny(k, " \t\r\n=\"'.[]") {
			return "", fmt.Errorf("shim option %q: not a shim.toml key", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return "", fmt.Errorf("shim option %s: value has a line break or NUL", k)
		}
	}
	if o.ConfigVersion >= 3 {
		return criV3(o), nil
	}
	return criV2(o), nil
}

// table is one TOML table: its header and key = value lines.
type table struct {
	name string
	keys []string
}

func (t table) String() string {
	return "[" + t.name + "]\n" + strings.Join(t.keys, "")
}

func kv(key string, v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("  %s = %q\n", key, v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = fmt.Sprintf("%q", s)
		}
		return fmt.Sprintf("  %s = [%s]\n", key, strings.Join(q, ", "))
	default:
		return fmt.Sprintf("  %s = %v\n", key, v)
	}
}

// render writes the tables that have keys (and every table named in
// always), in order.
func render(comment string, tables []table, always map[string]bool) string {
	var b strings.Builder
	b.WriteString("\n" + comment)
	for _, t := range tables {
		if len(t.keys) > 0 || always[t.name] {
			b.WriteString(t.String())
		}
	}
	return b.String()
}

// options returns the runtime's options table.
func (o CRIOptions) options(prefix string) table {
	t := table{name: prefix + ".options"}
	if o.ShimConfigPath != "" {
		t.keys = append(t.keys, kv("ConfigPath", o.ShimConfigPath))
	}
	keys := make([]string, 0, len(o.ShimOptions))
	for k := range o.ShimOptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.keys = append(t.keys, kv(k, o.ShimOptions[k]))
	}
	return t
}

func criV3(o CRIOptions) string {
	const rt, img = `plugins."io.containerd.cri.v1.runtime"`, `plugins."io.containerd.cri.v1.images"`
	runtime := table{name: rt}
	if o.RestrictOOMScoreAdj {
		runtime.keys = append(runtime.keys, kv("restrict_oom_score_adj", true))
	}
	ctrd := table{name: rt + ".containerd"}
	if o.Default {
		ctrd.keys = append(ctrd.keys, kv("default_runtime_name", o.Handler))
	}
	entryName := rt + ".containerd.runtimes." + tomlKey(o.Handler)
	entry := table{name: entryName, keys: []string{kv("runtime_type", RuntimeType), kv("snapshotter", o.Snapshotter)}}
	cni := table{name: rt + ".cni"}
	if o.CNIBinDir != "" {
		cni.keys = append(cni.keys, kv("bin_dirs", []string{o.CNIBinDir}))
	}
	if o.CNIConfDir != "" {
		cni.keys = append(cni.keys, kv("conf_dir", o.CNIConfDir))
	}
	pinned := table{name: img + ".pinned_images"}
	if o.SandboxImage != "" {
		pinned.keys = append(pinned.keys, kv("sandbox", o.SandboxImage))
	}
	platform := table{name: img + ".runtime_platforms." + tomlKey(o.Handler), keys: []string{kv("snapshotter", o.Snapshotter)}}
	comment := fmt.Sprintf("# CRI (containerd 2.x): pods whose RuntimeClass handler is %q run with the\n"+
		"# LXC shim on the %s snapshotter; CRI pulls for that handler unpack into it.\n", o.Handler, o.Snapshotter)
	return render(comment, []table{runtime, ctrd, entry, o.options(entryName), cni, pinned, platform}, map[string]bool{entryName: true})
}

func criV2(o CRIOptions) string {
	const cri = `plugins."io.containerd.grpc.v1.cri"`
	top := table{name: cri}
	if o.SandboxImage != "" {
		top.keys = append(top.keys, kv("sandbox_image", o.SandboxImage))
	}
	if o.RestrictOOMScoreAdj {
		top.keys = append(top.keys, kv("restrict_oom_score_adj", true))
	}
	// 1.6 ignores a runtime's snapshotter: the CRI's own applies to
	// every runtime (runc's containers then use it too).
	ctrd := table{name: cri + ".containerd", keys: []string{kv("snapshotter", o.Snapshotter)}}
	if o.Default {
		ctrd.keys = append(ctrd.keys, kv("default_runtime_name", o.Handler))
	}
	entryName := cri + ".containerd.runtimes." + tomlKey(o.Handler)
	entry := table{name: entryName, keys: []string{kv("runtime_type", RuntimeType), kv("snapshotter", o.Snapshotter)}}
	// 1.6 decodes the runtimes table as a whole: an entry of ours alone
	// drops its default runc entry, and the CRI plugin then fails to load
	// ("no corresponding runtime configured in containerd.runtimes for
	// default_runtime_name = runc"). Say runc again.
	var runc table
	if o.Handler != "runc" {
		runc = table{name: cri + ".containerd.runtimes.runc", keys: []string{kv("runtime_type", "io.containerd.runc.v2")}}
	}
	cni := table{name: cri + ".cni"}
	if o.CNIBinDir != "" {
		cni.keys = append(cni.keys, kv("bin_dir", o.CNIBinDir))
	}
	if o.CNIConfDir != "" {
		cni.keys = append(cni.keys, kv("conf_dir", o.CNIConfDir))
	}
	comment := fmt.Sprintf("# CRI (containerd 1.6/1.7): pods whose RuntimeClass handler is %q run with\n"+
		"# the LXC shim. containerd 1.6 ignores a runtime's snapshotter, so %s is the\n"+
		"# CRI's snapshotter for every runtime (1.7 reads the runtime's own: drop the\n"+
		"# containerd-wide line there to keep other runtimes on theirs). 1.6 replaces its\n"+
		"# runtimes table with the one given here, so runc is named again (drop that\n"+
		"# table if the config has it already).\n", o.Handler, o.Snapshotter)
	return render(comment, []table{top, ctrd, entry, o.options(entryName), runc, cni}, map[string]bool{entryName: true})
}
