package shim_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// testRecursiveReadOnly: a bind mount with the rro option (CRI's
// RecursiveReadOnly volume; critest's "recursive read-only" specs) is
// read-only in its submounts too, as under runc (mount_setattr with
// AT_RECURSIVE); with plain ro only the top is. Before rro was staged the
// shim refused the option and advertised no "rro" in -info.
func (e *env) testRecursiveReadOnly(t *testing.T, id string) {
	vol := t.TempDir()
	sub := filepath.Join(vol, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("zfslxc-rro", sub, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	unmountAtCleanup(t, sub)
	for _, tc := range []struct {
		opts      string
		subWrites bool
	}{
		{"rbind:rro", false},
		{"rbind:ro", true},
	} {
		t.Run(strings.ReplaceAll(tc.opts, ":", "-"), func(t *testing.T) {
			cid := id + "-" + strings.TrimPrefix(tc.opts, "rbind:")
			e.runDetachedWith(t, cid, []string{"--mount", "type=bind,src=" + vol + ",dst=/x,options=" + tc.opts}, "sleep", "600")
			defer e.removeTask(t, cid)

			_, stderr, err := e.d.Ctr(t, "task", "exec", "--exec-id", "top", cid, "touch", "/x/top")
			if err == nil || !strings.Contains(stderr, "Read-only file system") {
				t.Errorf("touch /x/top: %v (%s), want Read-only file system", err, stderr)
			}
			_, stderr, err = e.d.Ctr(t, "task", "exec", "--exec-id", "sub", cid, "touch", "/x/sub/f")
			switch {
			case tc.subWrites && err != nil:
				t.Errorf("touch /x/sub/f with %s: %v (%s), want success (ro is not recursive)", tc.opts, err, stderr)
			case !tc.subWrites && (err == nil || !strings.Contains(stderr, "Read-only file system")):
				t.Errorf("touch /x/sub/f with %s: %v (%s), want Read-only file system", tc.opts, err, stderr)
			}
			_, statErr := os.Stat(filepath.Join(sub, "f"))
			if tc.subWrites != (statErr == nil) {
				t.Errorf("host's %s/f after the write with %s: %v", sub, tc.opts, statErr)
			}
			os.Remove(filepath.Join(sub, "f"))
		})
	}
}
