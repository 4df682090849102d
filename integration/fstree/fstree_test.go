package fstree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWalkAndDiff builds two trees that differ in one way at a time and
// checks that Diff names the difference (and nothing for equal trees).
func TestWalkAndDiff(t *testing.T) {
	build := func(t *testing.T, change func(root string)) Tree {
		root := t.TempDir()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.MkdirAll(filepath.Join(root, "d"), 0o755))
		must(os.WriteFile(filepath.Join(root, "d", "f"), []byte("content"), 0o640))
		must(os.Link(filepath.Join(root, "d", "f"), filepath.Join(root, "hard")))
		must(os.Symlink("d/f", filepath.Join(root, "link")))
		if err := unix.Setxattr(filepath.Join(root, "d", "f"), "user.k", []byte("v"), 0); err != nil {
			t.Skipf("user xattrs not supported in %s: %v", root, err)
		}
		if change != nil {
			change(root)
		}
		tree, err := Walk(root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return tree
	}
	base := build(t, nil)
	if !strings.Contains(base["/hard"], "links=/d/f,/hard") || !strings.Contains(base["/d/f"], "xattrs=user.k=v") {
		t.Fatalf("tree lacks hard-link group or xattr: %q", base)
	}
	tests := []struct {
		name   string
		change func(root string)
		want   string // in the only diff line; "" for no diff
	}{
		{"same", nil, ""},
		{"content", func(r string) { os.WriteFile(filepath.Join(r, "d", "f"), []byte("other!!"), 0o640) }, "/d/f: got"},
		{"mode", func(r string) { os.Chmod(filepath.Join(r, "d"), 0o700) }, "/d: got dir 0700"},
		{"owner", func(r string) { os.Lchown(filepath.Join(r, "link"), 1000, 1000) }, "/link: got symlink 0777 1000:1000"},
		{"xattr", func(r string) { unix.Setxattr(filepath.Join(r, "d", "f"), "user.k", []byte("w"), 0) }, "xattrs=user.k=w"},
		{"extra", func(r string) { os.WriteFile(filepath.Join(r, "x"), nil, 0o644) }, "/x: unexpected"},
		{"missing", func(r string) { os.Remove(filepath.Join(r, "link")) }, "/link: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff := Diff(base, build(t, tt.change))
			if tt.want == "" {
				if len(diff) != 0 {
					t.Fatalf("diff of equal trees: %v", diff)
				}
				return
			}
			if len(diff) == 0 || !strings.Contains(strings.Join(diff, "\n"), tt.want) {
				t.Fatalf("diff %q does not mention %q", diff, tt.want)
			}
		})
	}
	// A broken hard link (copy instead of link) shows.
	copied := build(t, func(r string) {
		os.Remove(filepath.Join(r, "hard"))
		os.WriteFile(filepath.Join(r, "hard"), []byte("content"), 0o640)
	})
	if d := Diff(base, copied); len(d) != 2 {
		t.Errorf("a hard link turned copy: want 2 diff lines (both paths), got %q", d)
	}
}
