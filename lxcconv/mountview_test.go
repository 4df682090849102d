package lxcconv

import (
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestMountTargets: a mount destination is resolved in the container's
// view (the rootfs with the earlier mounts on top), and a target on a host
// directory is left to the runtime (Result.MountTargets, no create=):
// LXC's create= once made /tmp/target on the host through a symlink
// esc -> / inside a bind-mounted volume.
func TestMountTargets(t *testing.T) {
	host := fstest.MapFS{
		"srv/vol/esc":      {Data: []byte("/"), Mode: os.ModeSymlink | 0o777},
		"srv/vol/up":       {Data: []byte("../../../.."), Mode: os.ModeSymlink | 0o777},
		"srv/vol/sub/keep": {Data: []byte("x")},
		"srv/x":            {Mode: os.ModeDir | 0o755},
		"srv/file":         {Data: []byte("f")},
	}
	rootfs := fstest.MapFS{
		"etc/passwd": {Data: []byte("root:x:0:0::/root:/bin/sh\n")},
		"link":       {Data: []byte("/srv-in-image"), Mode: os.ModeSymlink | 0o777},
	}
	vol := specs.Mount{Destination: "/vol", Type: "bind", Source: "/srv/vol", Options: []string{"rbind"}}
	roVol := specs.Mount{Destination: "/vol", Type: "bind", Source: "/srv/vol", Options: []string{"rbind", "ro"}}
	bind := func(dst, src string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind"}}
	}
	tests := []struct {
		name    string
		mounts  []specs.Mount
		noHost  bool
		entry   string        // the last mount's lxc.mount.entry
		targets []MountTarget // Result.MountTargets (Field and Dest omitted)
		err     string
	}{
		{name: "symlink to / inside a volume resolves in the container",
			mounts:  []specs.Mount{vol, bind("/vol/esc/tmp/target", "/srv/x")},
			entry:   "/srv/x tmp/target none rbind 0 0",
			targets: []MountTarget{{Root: "/bundle/rootfs", Path: "vol", Dir: true}, {Root: "/bundle/rootfs", Path: "tmp/target", Dir: true}}},
		{name: "relative symlink climbing out of a volume stops at the container root",
			mounts:  []specs.Mount{vol, bind("/vol/up/etc/target", "/srv/x")},
			entry:   "/srv/x etc/target none rbind 0 0",
			targets: []MountTarget{{Root: "/bundle/rootfs", Path: "vol", Dir: true}, {Root: "/bundle/rootfs", Path: "etc/target", Dir: true}}},
		{name: "file source in a volume dir gets a file target in the volume",
			mounts:  []specs.Mount{vol, bind("/vol/sub/cfg", "/srv/file")},
			entry:   "/srv/file vol/sub/cfg none rbind 0 0",
			targets: []MountTarget{{Root: "/bundle/rootfs", Path: "vol", Dir: true}, {Root: "/srv/vol", Path: "sub/cfg"}}},
		{name: "read-only volume: the target must exist",
			mounts:  []specs.Mount{roVol, bind("/vol/sub/new", "/srv/x")},
			entry:   "/srv/x vol/sub/new none rbind 0 0",
			targets: []MountTarget{{Root: "/bundle/rootfs", Path: "vol", Dir: true}, {Root: "/srv/vol", Path: "sub/new", Dir: true, ReadOnly: true}}},
		{name: "without HostFS the path is kept and the runtime refuses symlinks",
			mounts: []specs.Mount{vol, bind("/vol/esc/tmp/target", "/srv/x")}, noHost: true,
			entry:   "/srv/x vol/esc/tmp/target none rbind 0 0",
			targets: []MountTarget{{Root: "/bundle/rootfs", Path: "vol", Dir: true}, {Root: "/srv/vol", Path: "esc/tmp/target", Dir: true}}},
		{name: "image symlink resolves in the rootfs",
			mounts:  []specs.Mount{bind("/link/a", "/srv/x")},
			entry:   "/srv/x srv-in-image/a none rbind 0 0",
			targets: []MountTarget{{Root: "/bundle/rootfs", Path: "srv-in-image/a", Dir: true}}},
		{name: "under the autodev /dev tmpfs LXC creates it",
			mounts: []specs.Mount{bind("/dev/termination-log", "/srv/file")},
			entry:  "/srv/file dev/termination-log none rbind,create=file 0 0"},
		{name: "under a spec tmpfs LXC creates it",
			mounts:  []specs.Mount{{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs"}, bind("/scratch/a/b", "/srv/x")},
			entry:   "/srv/x scratch/a/b none rbind,create=dir 0 0",
			targets: []MountTarget{{Root: "/bundle/rootfs", Path: "scratch", Dir: true}}},
		{name: "under a file bind is refused",
			mounts: []specs.Mount{bind("/f", "/srv/file"), bind("/f/x", "/srv/x")},
			err:    "mounts[5].destination"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			s.Mounts = append(s.Mounts, tc.mounts...)
			o := baseOptions()
			o.RootFS = rootfs
			if !tc.noHost {
				o.HostFS = host
			}
			res, err := Convert(s, o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var entries []string
			for _, e := range res.Config.Entries {
				if e.Key == "lxc.mount.entry" && !strings.Contains(e.Value, "optional") {
					entries = append(entries, e.Value)
				}
			}
			if len(entries) == 0 || entries[len(entries)-1] != tc.entry {
				t.Errorf("last mount entry:\n got %q\nwant %q", entries, tc.entry)
			}
			var got []MountTarget
			for _, m := range res.MountTargets {
				if m.Field == "" || !strings.HasPrefix(m.Dest, "/") {
					t.Errorf("target without field or absolute dest: %+v", m)
				}
				m.Field, m.Dest = "", ""
				got = append(got, m)
			}
			if !slices.Equal(got, tc.targets) {
				t.Errorf("MountTargets:\n got %+v\nwant %+v", got, tc.targets)
			}
		})
	}
}
