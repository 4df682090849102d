package shim_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestLogURI runs `ctr run --log-uri` with file:// and binary:// (a shell
// logger) through the shim: output arrives whole (1 MiB from a process
// that exits at once), the exit code comes back, the logger gets the
// container's id and namespace and is gone once the task is deleted.
func TestLogURI(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			// Ids unique on the host: LXC names cgroups after them,
			// across daemons, and other tests may run beside.
			idFile, idBin := fmt.Sprintf("logfile-%d", os.Getpid()), fmt.Sprintf("logbin-%d", os.Getpid())
			dir := containerdtest.ScratchDir(t, "zfslxc-loguri-")
			script := "echo out; echo err >&2; head -c 1048576 /dev/zero | tr '\\0' x; exit 3"
			wantOut := "out\n" + strings.Repeat("x", 1<<20)

			t.Run("File", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				logFile := filepath.Join(dir, "new", "dirs", "c.log")
				if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(logFile, []byte("before\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				out, stderr, code := e.runLog(t, ctx, "file://"+logFile, idFile, "sh", "-c", script)
				if code != 3 || out != "" {
					t.Fatalf("ctr run: code %d (want 3), stdout %q, stderr %q", code, out, stderr)
				}
				data, err := os.ReadFile(logFile)
				if err != nil {
					t.Fatal(err)
				}
				// stdout and stderr are copied apart into the file.
				got := string(data)
				if len(got) != len("before\n")+len(wantOut)+len("err\n") || !strings.HasPrefix(got, "before\n") ||
					!strings.Contains(got, "err\n") || strings.Count(got, "x") != 1<<20 {
					t.Fatalf("log file: %d bytes, %.60q", len(got), got)
				}
				e.checkClean(t, idFile)
			})

			t.Run("Binary", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				ldir := filepath.Join(dir, "logger")
				if err := os.MkdirAll(ldir, 0o755); err != nil {
					t.Fatal(err)
				}
				logger := filepath.Join(ldir, "zfslxc-test-logger")
				// fds 3/4: the container's stdout/stderr; closing fd 5
				// says ready (the copies must not keep it open).
				if err := os.WriteFile(logger, []byte(`#!/bin/sh
d=`+ldir+`
echo "$CONTAINER_ID $CONTAINER_NAMESPACE $*" > $d/who
/bin/cat <&3 > $d/out 4<&- 5>&- & a=$!
/bin/cat <&4 > $d/err 3<&- 5>&- & b=$!
exec 3<&- 4<&- 5>&-
wait $a $b
echo done > $d/done
`), 0o755); err != nil {
					t.Fatal(err)
				}
				out, stderr, code := e.runLog(t, ctx, "binary://"+logger+"?tag=t1", idBin, "sh", "-c", script)
				if code != 3 || out != "" {
					t.Fatalf("ctr run: code %d (want 3), stdout %q, stderr %q", code, out, stderr)
				}
				read := func(name string) string {
					data, err := os.ReadFile(filepath.Join(ldir, name))
					if err != nil {
						t.Fatal(err)
					}
					return string(data)
				}
				// The logger read both streams to the end before the exit
				// was reported.
				if got := read("done"); got != "done\n" {
					t.Fatalf("logger not finished: %q", got)
				}
				if got := read("out"); got != wantOut {
					t.Errorf("logger stdout: %d bytes %.40q, want %d", len(got), got, len(wantOut))
				}
				if got := read("err"); got != "err\n" {
					t.Errorf("logger stderr: %q", got)
				}
				if got := read("who"); got != idBin+" default tag t1\n" {
					t.Errorf("logger got %q, want id, namespace, args", got)
				}
				e.checkClean(t, idBin)
				if p := procsWith(logger); len(p) > 0 {
					t.Errorf("logger still running: %v", p)
				}
			})
		})
	}
}

// runLog is `ctr run --rm --log-uri uri` with the lxc runtime.
func (e *env) runLog(t *testing.T, ctx context.Context, uri, id string, args ...string) (string, string, int) {
	t.Helper()
	a := append([]string{"run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType, "--log-uri", uri, e.ref, id}, args...)
	stdout, stderr, err := e.d.CtrContext(ctx, a...)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("ctr run %s: %v (stderr %q)\n%s", id, err, stderr, e.d.LogTail(40))
		}
		code = ee.ExitCode()
	}
	return stdout, stderr, code
}

// procsWith lists processes whose command line contains s.
func procsWith(s string) []string {
	ents, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(data), s) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(data), "\x00", " "))
		}
	}
	return found
}
