package zfsdriver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// readErrorsFile parses testdata/<impl>/errors.txt into command → stderr.
func readErrorsFile(t *testing.T, impl string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", impl, "errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := make(map[string]string)
	var cmd string
	for _, l := range strings.Split(string(b), "\n") {
		if c, ok := strings.CutPrefix(l, "$ "); ok {
			// A command recorded twice (different states) gets " #2".
			for cmd = c; blocks[cmd] != ""; cmd += " #2" {
			}
			continue
		}
		if cmd != "" && l != "" {
			blocks[cmd] += l + "\n"
		}
	}
	return blocks
}

func TestRecordedErrorsClassified(t *testing.T) {
	cases := []struct {
		impl, cmd string
		kind      error
		class     error
	}{
		{"zfs-fuse", "zfs create zt1/a", ErrExists, errdefs.ErrAlreadyExists},
		{"zfs-fuse", "zfs destroy zt1/nope", ErrNotFound, errdefs.ErrNotFound},
		{"zfs-fuse", "zfs destroy zt1/a", ErrHasChildren, errdefs.ErrFailedPrecondition},
		{"zfs-fuse", "zfs destroy zt1/a@s1", ErrHasDependents, errdefs.ErrFailedPrecondition},
		{"zfs-fuse", "zfs create zt1/q/r", ErrParentNotFound, errdefs.ErrNotFound},
		{"zfs-fuse", "zfs snapshot zt1/a@s1", ErrExists, errdefs.ErrAlreadyExists},
		{"zfs-fuse", "zfs promote zt1/a", ErrNotClone, errdefs.ErrFailedPrecondition},
		{"zfs-fuse", "zfs set refquota=abc zt1/c", ErrInvalidProperty, errdefs.ErrInvalidArgument},
		{"zfs-fuse", "zfs unmount zt1/busy", ErrNotMounted, errdefs.ErrFailedPrecondition},
		{"zfs-fuse", "zfs unmount zt1/busy #2", ErrBusy, errdefs.ErrUnavailable},
		{"zfs-fuse", "zfs destroy zt1/busy", ErrBusy, errdefs.ErrUnavailable},
		{"zfs-fuse", "zfs list -H -p -o name", ErrUnsupported, errdefs.ErrNotImplemented},
		{"zfs-fuse", "zfs version", ErrUnsupported, errdefs.ErrNotImplemented},
		{"zfs-fuse", "zfs snapshot zt1/a@m1 zt1/c@m1", ErrUnsupported, errdefs.ErrNotImplemented},
		{"zfs-fuse", "zfs list", ErrUnavailable, errdefs.ErrUnavailable},
		{"zfs-fuse", "zpool list -H -o name nopool", ErrNotFound, errdefs.ErrNotFound},
		{"openzfs", "zfs create tank/zfslxc/1", ErrExists, errdefs.ErrAlreadyExists},
		{"openzfs", "zfs destroy tank/zfslxc/nope", ErrNotFound, errdefs.ErrNotFound},
		{"openzfs", "zfs destroy tank/zfslxc/1", ErrHasChildren, errdefs.ErrFailedPrecondition},
		{"openzfs", "zfs destroy tank/zfslxc/1@committed", ErrHasDependents, errdefs.ErrFailedPrecondition},
		{"openzfs", "zfs create tank/zfslxc/q/r", ErrParentNotFound, errdefs.ErrNotFound},
		{"openzfs", "zfs snapshot tank/zfslxc/1@committed", ErrExists, errdefs.ErrAlreadyExists},
		{"openzfs", "zfs promote tank/zfslxc/1", ErrNotClone, errdefs.ErrFailedPrecondition},
		{"openzfs", "zfs set refquota=abc tank/zfslxc/2", ErrInvalidProperty, errdefs.ErrInvalidArgument},
		{"openzfs", "zfs unmount tank/zfslxc/3", ErrNotMounted, errdefs.ErrFailedPrecondition},
		{"openzfs", "zfs destroy tank/zfslxc/2", ErrBusy, errdefs.ErrUnavailable},
		{"openzfs", "zfs unmount tank/zfslxc/2", ErrBusy, errdefs.ErrUnavailable},
		{"openzfs", "zfs create tank/zfslxc/4", ErrNoSpace, errdefs.ErrResourceExhausted},
		{"openzfs", "zfs list", ErrUnavailable, errdefs.ErrUnavailable},
		{"openzfs", "zpool list -H -o name nopool", ErrNotFound, errdefs.ErrNotFound},
	}
	files := map[string]map[string]string{
		"zfs-fuse": readErrorsFile(t, "zfs-fuse"),
		"openzfs":  readErrorsFile(t, "openzfs"),
	}
	for _, tc := range cases {
		t.Run(tc.impl+"/"+tc.cmd, func(t *testing.T) {
			stderr, ok := files[tc.impl][tc.cmd]
			if !ok {
				t.Fatalf("no recorded output for %q", tc.cmd)
			}
			err := error(&Error{Op: "x", Name: "n", ExitCode: 1, Stderr: strings.TrimSpace(stderr), Kind: classify(stderr)})
			if !errors.Is(err, tc.kind) {
				t.Errorf("stderr %q classified as %v, want %v", stderr, err.(*Error).Kind, tc.kind)
			}
			if !errors.Is(err, tc.class) {
				t.Errorf("error %v does not carry errdefs class %v", err, tc.class)
			}
		})
	}
}

func TestUnrecognisedStderrIsUnknown(t *testing.T) {
	err := error(&Error{Op: "create", Name: "p/a", ExitCode: 1, Stderr: "something new", Kind: classify("something new")})
	if !errdefs.IsUnknown(err) {
		t.Fatalf("unrecognised message should be errdefs.ErrUnknown, got %v", err)
	}
	if got, want := err.Error(), `zfs create "p/a": something new`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestRecordedOpenZFSList(t *testing.T) {
	b, err := os.ReadFile("testdata/openzfs/list-p.txt")
	if err != nil {
		t.Fatal(err)
	}
	list, err := parseList(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Dataset{
		{Name: "tank/zfslxc", Type: Filesystem, Mountpoint: "/var/lib/zfslxc", Mounted: true, Used: 4579328, Referenced: 98304, Available: 51350925312},
		{Name: "tank/zfslxc/1", Type: Filesystem, Mountpoint: "/var/lib/zfslxc/1", Mounted: true, Used: 2240512, Referenced: 2228224, Available: 51350925312},
		{Name: "tank/zfslxc/1@committed", Type: Snapshot, Used: 12288, Referenced: 2228224},
		{Name: "tank/zfslxc/2", Type: Filesystem, Origin: "tank/zfslxc/1@committed", Mountpoint: "/var/lib/zfslxc/2", Used: 110592, Referenced: 2260992, Available: 51350925312},
		{Name: "tank/zfslxc/vol", Type: Volume, Used: 1094713344, Referenced: 57344, Available: 52445638656},
	}
	if len(list) != len(want) {
		t.Fatalf("got %d datasets, want %d: %+v", len(list), len(want), list)
	}
	for i := range want {
		if list[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, list[i], want[i])
		}
	}
}

func TestRecordedZFSFuseGetRows(t *testing.T) {
	b, err := os.ReadFile("testdata/zfs-fuse/get-rows.txt")
	if err != nil {
		t.Fatal(err)
	}
	list, err := parseGetRows(b)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Dataset{}
	for _, ds := range list {
		byName[ds.Name] = ds
	}
	root, ok := byName["zt1"]
	if !ok || root.Type != Filesystem || !root.Mounted || root.Mountpoint != "/zt1" || root.Used != 2629632 || root.Available != 2094522368 {
		t.Errorf("zt1 parsed as %+v", root)
	}
	if c := byName["zt1/c"]; c.Origin != "zt1/a@s1" {
		t.Errorf("zt1/c origin = %q, want zt1/a@s1", c.Origin)
	}
	if list[0].Name != "zt1" {
		t.Errorf("order not kept: first is %q", list[0].Name)
	}
}

func TestRecordedUsage(t *testing.T) {
	for _, impl := range []string{"openzfs", "zfs-fuse"} {
		t.Run(impl, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", impl, "get-usage.txt"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := parseGet(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range usageProps {
				if _, err := parseSize(m[p].Value); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
			if ro := m["readonly"]; ro.Value == "" {
				t.Errorf("readonly missing: %+v", m)
			}
		})
	}
}

func TestRecordedPools(t *testing.T) {
	b, err := os.ReadFile("testdata/openzfs/zpool-list-p.txt")
	if err != nil {
		t.Fatal(err)
	}
	pools, err := parsePools(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 2 || pools[1] != (Pool{Name: "backup", Size: 1000204886016, Alloc: 524288000000, Free: 476204886016, Health: "DEGRADED"}) {
		t.Errorf("openzfs pools: %+v", pools)
	}
	b, err = os.ReadFile("testdata/zfs-fuse/zpool-list.txt")
	if err != nil {
		t.Fatal(err)
	}
	pools, err = parsePools(b, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 1 || pools[0].Name != "zt1" || pools[0].Health != "ONLINE" || pools[0].Size < 2_000_000_000 || pools[0].Size > 2_200_000_000 {
		t.Errorf("zfs-fuse pools: %+v", pools)
	}
}

func TestParseMalformed(t *testing.T) {
	cases := map[string]func() error{
		"list short row":   func() error { _, err := parseList([]byte("a\tfilesystem\n")); return err },
		"list bad number":  func() error { _, err := parseList([]byte("a\tfilesystem\t-\t/a\tyes\t1.5G\t1\t1\n")); return err },
		"get two columns":  func() error { _, err := parseGet([]byte("used\t1\n")); return err },
		"rows bad number":  func() error { _, err := parseGetRows([]byte("a\tused\tx\n")); return err },
		"pool bad size":    func() error { _, err := parsePools([]byte("p\t1Q\t1\t1\tONLINE\n"), false); return err },
		"pool short row":   func() error { _, err := parsePools([]byte("p\t1\n"), true); return err },
		"human negative":   func() error { _, err := parseHumanSize("-5K"); return err },
		"human bad suffix": func() error { _, err := parseHumanSize("5KX"); return err },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if err := f(); err == nil {
				t.Fatal("malformed output accepted")
			}
		})
	}
}

func TestParseHumanSize(t *testing.T) {
	cases := map[string]uint64{"0": 0, "-": 0, "512": 512, "352K": 352 << 10, "1.5M": 3 << 19, "2G": 2 << 30, "1T": 1 << 40}
	for in, want := range cases {
		got, err := parseHumanSize(in)
		if err != nil || got != want {
			t.Errorf("parseHumanSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
