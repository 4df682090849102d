package lxcconv

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestImageUserFilesUntrusted: /etc/passwd or /etc/group that is a FIFO
// (it hung the reader), a character device (/dev/zero ate all memory), a
// symlink out of the rootfs or a huge file is refused with an error naming
// the file, promptly.
func TestImageUserFilesUntrusted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	outside := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(outside, []byte("root:x:0:0::/root:/bin/sh\napp:x:4242:4242::/h:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		file  string // etc/passwd or etc/group
		make  func(path string) error
		user  string
		err   string // "" = works
		wantU uint32
	}{
		{name: "fifo passwd", file: "etc/passwd", make: func(p string) error { return syscall.Mkfifo(p, 0o644) }, user: "app", err: "/etc/passwd: not a regular file"},
		{name: "fifo group", file: "etc/group", make: func(p string) error { return syscall.Mkfifo(p, 0o644) }, user: "0:app", err: "/etc/group: not a regular file"},
		{name: "char device passwd", file: "etc/passwd", make: func(p string) error { return syscall.Mknod(p, syscall.S_IFCHR|0o644, 1<<8|5) }, user: "app", err: "/etc/passwd: not a regular file"},
		{name: "huge passwd", file: "etc/passwd", make: func(p string) error { return os.Truncate(p, maxRootFile+1) }, user: "app", err: "larger than"},
		// An absolute symlink resolves inside the rootfs: the host's file
		// at that path is never read.
		{name: "symlink out", file: "etc/passwd", make: func(p string) error { return os.Symlink(outside, p) }, user: "app", err: `no user "app"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"etc/passwd", "etc/group"} {
				if err := os.WriteFile(filepath.Join(root, f), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(root, tc.file)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tc.name, "huge") {
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.make(p); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := ResolveUser(DirFS(root), tc.user)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("ResolveUser(%q): %v, want an error containing %q", tc.user, err, tc.err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("ResolveUser hangs")
			}
		})
	}
}
