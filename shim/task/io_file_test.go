package task

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runWith runs a shell script with the pipeIO's child ends as its stdio,
// as the container gets them, and closes our copies as Create does.
func runWith(t *testing.T, p *pipeIO, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	if p.childOut != nil {
		cmd.Stdout = p.childOut
	}
	if p.childErr != nil {
		cmd.Stderr = p.childErr
	}
	err := cmd.Start()
	p.closeChild()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
}

// file:// creates the directories and appends to the file: what was there
// stays, a process that exits at once loses nothing, stdout and stderr
// may share the file.
func TestPipeIOFile(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.log")
	if err := os.WriteFile(old, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared.log")
	deep := filepath.Join(dir, "a", "b", "deep.log")
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name, stdout, stderr string
		script               string
		path                 string
		want                 []string // any of
	}{
		// stdout and stderr are copied apart: either order.
		{"shared file", "file://" + shared, "file://" + shared, "printf out; printf err >&2", shared, []string{"outerr", "errout"}},
		{"appends", "file://" + old, "", "echo new", old, []string{"old\nnew\n"}},
		{"creates dirs, fast exit, 1 MiB", "file://" + deep, "", "head -c 1048576 /dev/zero | tr '\\0' x", deep, []string{big}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := openFds(t)
			p, err := newPipeIO(context.Background(), "", tc.stdout, tc.stderr)
			if err != nil {
				t.Fatal(err)
			}
			runWith(t, p, tc.script)
			p.waitOutput()
			p.Close()
			got, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(tc.want, string(got)) {
				t.Errorf("%s: %d bytes %.40q..., want %d bytes %.40q...", tc.path, len(got), got, len(tc.want[0]), tc.want[0])
			}
			if after := openFds(t); after != before {
				t.Errorf("open fds: %d before, %d after", before, after)
			}
		})
	}
	st, err := os.Stat(deep)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("%s: mode %v, want 0644", deep, st.Mode().Perm())
	}
}

// A file:// whose directory cannot be made fails with the path.
func TestPipeIOFileError(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := newPipeIO(context.Background(), "", "file://"+blocker+"/sub/x.log", "")
	if err == nil || !strings.Contains(err.Error(), blocker+"/sub/x.log") {
		t.Fatalf("newPipeIO: %v; want an error naming the path", err)
	}
}
