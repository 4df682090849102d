package lxcrun

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// TestCreateMountTargets: targets are created under their root only,
// never through a symlink, and not at all in a read-only mount.
func TestCreateMountTargets(t *testing.T) {
	tests := []struct {
		name   string
		target lxcconv.MountTarget // Root is set to the test's dir
		check  string              // path under the root that must exist afterwards
		isDir  bool
		err    string
	}{
		{name: "nested dirs", target: lxcconv.MountTarget{Path: "a/b/c", Dir: true}, check: "a/b/c", isDir: true},
		{name: "file in new dir", target: lxcconv.MountTarget{Path: "etc/new/app.cfg"}, check: "etc/new/app.cfg"},
		{name: "existing dir", target: lxcconv.MountTarget{Path: "existing", Dir: true}, check: "existing", isDir: true},
		{name: "existing file", target: lxcconv.MountTarget{Path: "file"}, check: "file"},
		{name: "absolute symlink on the way", target: lxcconv.MountTarget{Path: "esc/tmp/x", Dir: true}, err: "esc is a symlink"},
		{name: "relative symlink on the way", target: lxcconv.MountTarget{Path: "up/x", Dir: true}, err: "up is a symlink"},
		{name: "symlink as the file", target: lxcconv.MountTarget{Path: "esc"}, err: "esc is a symlink"},
		{name: "dir wanted, file there", target: lxcconv.MountTarget{Path: "file/x", Dir: true}, err: "not a directory"},
		{name: "file wanted, dir there", target: lxcconv.MountTarget{Path: "existing"}, err: "is a directory"},
		{name: "missing in read-only mount", target: lxcconv.MountTarget{Path: "new", Dir: true, ReadOnly: true}, err: "read-only"},
		{name: "existing in read-only mount", target: lxcconv.MountTarget{Path: "existing", Dir: true, ReadOnly: true}, check: "existing", isDir: true},
		{name: "unclean path", target: lxcconv.MountTarget{Path: "a/../../x", Dir: true}, err: "not clean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			root := filepath.Join(t.TempDir(), "root")
			for _, d := range []string{"existing", "sub"} {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(root, "esc")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../..", filepath.Join(root, "up")); err != nil {
				t.Fatal(err)
			}
			tc.target.Root, tc.target.Field, tc.target.Dest = root, "mounts[7].destination", "/"+tc.target.Path
			err := CreateMountTargets([]lxcconv.MountTarget{tc.target})
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Errorf("created outside the root: %v", ents)
			}
			if tc.err != "" {
				var fe *lxcconv.FieldError
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &fe) || fe.Field != "mounts[7].destination" {
					t.Fatalf("err = %v, want a FieldError of mounts[7].destination containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Lstat(filepath.Join(root, tc.check))
			if err != nil || fi.IsDir() != tc.isDir {
				t.Fatalf("%s: %v, %v; want dir=%v", tc.check, fi, err, tc.isDir)
			}
		})
	}
}
