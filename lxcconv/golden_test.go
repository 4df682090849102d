package lxcconv

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fakeRootfs is a small image rootfs: users for ProcessFromImage and a
// resolv.conf symlink like systemd-based images have.
func fakeRootfs() fstest.MapFS {
	return fstest.MapFS{
		"etc/passwd": {Data: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nwww-data:x:33:33:www:/var/www:/usr/sbin/nologin\n")},
		"etc/group":  {Data: []byte("root:x:0:\nwww-data:x:33:\napp:x:1000:\nvideo:x:44:app\naudio:x:29:app,www-data\n")},
		"etc/resolv.conf": {
			Data: []byte("../run/systemd/resolve/stub-resolv.conf"),
			Mode: 0o777 | os.ModeSymlink,
		},
		"run/systemd/resolve/stub-resolv.conf": {Data: []byte("nameserver 127.0.0.53\n")},
		"home/app":                             {Mode: os.ModeDir | 0o755},
	}
}

func goldenOptions(name string, cgroupVersion int) Options {
	bundle := "/run/containerd/io.containerd.runtime.v2.task/default/" + name
	return Options{
		ContainerName:          name,
		RootfsPath:             bundle + "/rootfs",
		BundleDir:              bundle,
		RootFS:                 fakeRootfs(),
		InitPath:               "/.zfslxc/zfslxc-init",
		InitArgs:               []string{"/.zfslxc/process.json"},
		LogFile:                bundle + "/lxc.log",
		LogLevel:               "info",
		CgroupVersion:          cgroupVersion,
		SeccompProfilePath:     bundle + "/seccomp.policy",
		HookCommand:            "/usr/bin/containerd-shim-lxc-v1 hook --bundle " + bundle,
		DefaultAppArmorProfile: "unconfined",
	}
}

// resultExtra renders the parts of a Result besides the config.
func resultExtra(t *testing.T, r *Result) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# warnings\n")
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "%s\n", w)
	}
	proc, err := json.MarshalIndent(r.Process, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "# process\n%s\n", proc)
	hooks, err := json.MarshalIndent(r.Hooks, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "# hooks\n%s\n", hooks)
	if len(r.Devices) > 0 {
		devs, err := json.MarshalIndent(r.Devices, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "# devices\n%s\n", devs)
	}
	if len(r.LateCgroup) > 0 {
		b.WriteString("# late cgroup\n")
		for _, e := range r.LateCgroup {
			fmt.Fprintf(&b, "%s = %s\n", e.Key, e.Value)
		}
	}
	if len(r.MountTargets) > 0 {
		b.WriteString("# mount targets (created by the runtime)\n")
		for _, m := range r.MountTargets {
			kind := "file"
			if m.Dir {
				kind = "dir"
			}
			fmt.Fprintf(&b, "%s %s: %s in %s (ro=%v)\n", m.Field, m.Dest, kind, path.Join(m.Root, m.Path), m.ReadOnly)
		}
	}
	if r.ReadonlyRootfs {
		b.WriteString("# read-only rootfs\n")
	}
	if len(r.Remounts) > 0 {
		b.WriteString("# remounts\n")
		for _, m := range r.Remounts {
			fmt.Fprintf(&b, "%s %s\n", m.Path, strings.Join(m.Options, ","))
		}
	}
	if len(r.ReadonlyPaths) > 0 {
		fmt.Fprintf(&b, "# read-only paths\n%s\n", strings.Join(r.ReadonlyPaths, "\n"))
	}
	if r.SeccompProfile != "" {
		fmt.Fprintf(&b, "# seccomp\n%s", r.SeccompProfile)
	}
	return b.String()
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lxcconv -run TestGolden -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

func TestGolden(t *testing.T) {
	goldenCorpus(t, "testdata/specs", filepath.Join("testdata", "golden"), goldenOptions)
}

// goldenCorpus converts every spec in specDir for cgroup v2 and v1, checks
// that the output parses back to itself, and compares it (and, for v2, the
// rest of the result) with the files in goldenDir.
func goldenCorpus(t *testing.T, specDir, goldenDir string, options func(name string, cgroupVersion int) Options) {
	inputs, err := filepath.Glob(filepath.Join(specDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatalf("no inputs under %s", specDir)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var spec specs.Spec
			if err := json.Unmarshal(data, &spec); err != nil {
				t.Fatal(err)
			}
			for _, v := range []int{2, 1} {
				res, err := Convert(&spec, options(name, v))
				if err != nil {
					t.Fatalf("cgroup v%d: spec refused: %v", v, err)
				}
				conf := res.Config.String()
				back, err := Parse(strings.NewReader(conf))
				if err != nil {
					t.Fatalf("cgroup v%d: output does not parse back: %v", v, err)
				}
				if back.String() != conf {
					t.Fatalf("cgroup v%d: round trip differs", v)
				}
				checkGolden(t, filepath.Join(goldenDir, fmt.Sprintf("%s.cgroup%d.lxc.conf", name, v)), conf)
				if v == 2 {
					checkGolden(t, filepath.Join(goldenDir, name+".result.txt"), resultExtra(t, res))
				}
			}
		})
	}
}
