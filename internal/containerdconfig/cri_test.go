package containerdconfig

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// lookup walks a decoded TOML document.
func lookup(doc map[string]any, keys ...string) any {
	var v any = doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestCRI(t *testing.T) {
	const v2, v3 = "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime"
	full := CRIOptions{
		ShimOptions: map[string]string{"init": "reaper", "state_dir": "/run/zfslxc/lxc"}, Default: true,
		SandboxImage: "example.org/pause:1", RestrictOOMScoreAdj: true, CNIBinDir: "/usr/lib/cni", CNIConfDir: "/etc/cni/zfslxc",
	}
	for _, tc := range []struct {
		name string
		o    CRIOptions
		want map[string]any // dotted path (plugin-relative keys joined by "|") → value
		none []string       // paths that must be absent
	}{
		{
			name: "2.x minimal", o: CRIOptions{ConfigVersion: 3},
			want: map[string]any{
				v3 + "|containerd|runtimes|lxc|runtime_type":                    RuntimeType,
				v3 + "|containerd|runtimes|lxc|snapshotter":                     "zfslxc",
				"io.containerd.cri.v1.images|runtime_platforms|lxc|snapshotter": "zfslxc",
			},
			none: []string{v3 + "|containerd|runtimes|lxc|options", v3 + "|restrict_oom_score_adj", v3 + "|containerd|default_runtime_name", v3 + "|cni"},
		},
		{
			name: "2.x full", o: func() CRIOptions { o := full; o.ConfigVersion = 3; return o }(),
			want: map[string]any{
				v3 + "|containerd|runtimes|lxc|options|init":                    "reaper",
				v3 + "|containerd|runtimes|lxc|options|state_dir":               "/run/zfslxc/lxc",
				v3 + "|containerd|default_runtime_name":                         "lxc",
				v3 + "|restrict_oom_score_adj":                                  true,
				v3 + "|cni|bin_dirs":                                            []any{"/usr/lib/cni"},
				v3 + "|cni|conf_dir":                                            "/etc/cni/zfslxc",
				"io.containerd.cri.v1.images|pinned_images|sandbox":             "example.org/pause:1",
				"io.containerd.cri.v1.images|runtime_platforms|lxc|snapshotter": "zfslxc",
			},
		},
		{
			name: "1.6 minimal", o: CRIOptions{ConfigVersion: 2, Handler: "zfs-lxc", Snapshotter: "zl", ShimConfigPath: "/etc/zfslxc/shim.toml"},
			want: map[string]any{
				v2 + "|containerd|snapshotter":                         "zl",
				v2 + "|containerd|runtimes|zfs-lxc|runtime_type":       RuntimeType,
				v2 + "|containerd|runtimes|zfs-lxc|options|ConfigPath": "/etc/zfslxc/shim.toml",
			},
			none: []string{v2 + "|sandbox_image", v2 + "|containerd|default_runtime_name"},
		},
		{
			name: "1.6 full", o: func() CRIOptions { o := full; o.ConfigVersion = 2; return o }(),
			want: map[string]any{
				v2 + "|sandbox_image":                        "example.org/pause:1",
				v2 + "|restrict_oom_score_adj":               true,
				v2 + "|containerd|default_runtime_name":      "lxc",
				v2 + "|containerd|runtimes|lxc|options|init": "reaper",
				v2 + "|cni|bin_dir":                          "/usr/lib/cni",
				v2 + "|cni|conf_dir":                         "/etc/cni/zfslxc",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := CRI(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := toml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("not TOML: %v\n%s", err, out)
			}
			for path, want := range tc.want {
				got := lookup(doc, append([]string{"plugins"}, strings.Split(path, "|")...)...)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v\n%s", path, got, want, out)
				}
			}
			for _, path := range tc.none {
				if got := lookup(doc, append([]string{"plugins"}, strings.Split(path, "|")...)...); got != nil {
					t.Errorf("%s = %#v, want absent\n%s", path, got, out)
				}
			}
		})
	}
}

func TestCRIRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    CRIOptions
		err  string
	}{
		{"path and inline", CRIOptions{ShimConfigPath: "/x", ShimOptions: map[string]string{"init": "exec"}}, "not both"},
		{"bad key", CRIOptions{ShimOptions: map[string]string{"a b": "x"}}, `shim option "a b"`},
		{"dotted key", CRIOptions{ShimOptions: map[string]string{"a.b": "x"}}, `shim option "a.b"`},
		{"newline", CRIOptions{ShimOptions: map[string]string{"init": "a\nb"}}, "shim option init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CRI(tc.o); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("CRI = %v, want an error containing %q", err, tc.err)
			}
		})
	}
}
