package shim_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestExec covers `ctr task exec` on every containerd flavor with the
// zfslxc snapshotter on a real pool: argv byte for byte, the container's
// env, cwd, user, exit codes, -t, stdin, kill of an exec (TERM gives 143
// as under runc), `ctr task ps` listing the exec, a missing executable
// failing with runc's message, kill of an ended exec (NotFound).
func TestExec(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			const id = "execbox"
			env := "GREETING=hello  spaced\tworld"
			if _, stderr, err := e.d.Ctr(t, "run", "-d", "--null-io", "--env", env, "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, id, "sleep", "600"); err != nil {
				t.Fatalf("ctr run -d: %v (%s)\n%s", err, stderr, e.d.LogTail(40))
			}
			e.waitStatus(t, id, "RUNNING")
			defer e.killRemove(t, id)

			nasty := []string{"a b", `"quoted"`, "it's", "", "new\nline", "  x  ", `back\slash`, "$HOME"}
			var nastyWant strings.Builder
			for _, a := range nasty {
				fmt.Fprintf(&nastyWant, "[%s]\n", a)
			}
			tests := []struct {
				name     string
				args     []string // after `ctr task exec`
				stdin    string
				wantOut  string
				wantCode int
			}{
				{name: "argv", args: append([]string{"--exec-id", "argv", id, "sh", "-c", `for a in "$@"; do printf '[%s]\n' "$a"; done`, "sh"}, nasty...), wantOut: nastyWant.String()},
				{name: "env", args: []string{"--exec-id", "env", id, "sh", "-c", `printf '%s|' "$GREETING"`}, wantOut: "hello  spaced\tworld|"},
				{name: "cwd", args: []string{"--exec-id", "cwd", "--cwd", "/etc", id, "pwd"}, wantOut: "/etc\n"},
				{name: "user", args: []string{"--exec-id", "user", "--user", "1000:1000", id, "sh", "-c", "id -u; id -g"}, wantOut: "1000\n1000\n"},
				{name: "exit 3", args: []string{"--exec-id", "three", id, "sh", "-c", "echo out; echo err >&2; exit 3"}, wantOut: "out\n", wantCode: 3},
				{name: "stdin", args: []string{"--exec-id", "stdin", id, "cat"}, stdin: "in put\nmore\n", wantOut: "in put\nmore\n"},
				{name: "in the container", args: []string{"--exec-id", "ns", id, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"}, wantOut: "sleep 600 "},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					out, stderr, code := ctrStdin(ctx, e, strings.NewReader(tc.stdin), append([]string{"task", "exec"}, tc.args...)...)
					if code != tc.wantCode || out != tc.wantOut {
						t.Fatalf("ctr task exec %q: code %d (want %d), stdout %q (want %q), stderr %q\n%s", tc.args, code, tc.wantCode, out, tc.wantOut, stderr, e.d.LogTail(30))
					}
				})
			}

			t.Run("TTY", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				script := `test -t 0 && echo is-a-tty; tty; ` +
					`i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); case "$s" in [1-9]*) break;; esac; sleep 0.1; i=$((i+1)); done; ` +
					`echo "size=$s"; exit 5`
				term := startPtyCtr(t, ctx, e, 29, 97, "task", "exec", "-t", "--exec-id", "tty", id, "sh", "-c", script)
				out, code := term.wait(t)
				out = strings.ReplaceAll(out, "\r", "")
				if code != 5 || !strings.Contains(out, "is-a-tty\n/dev/pts/0\n") || !strings.Contains(out, "size=29 97\n") {
					t.Fatalf("ctr task exec -t: code %d (want 5), output %q\n%s", code, out, e.d.LogTail(30))
				}
			})

			t.Run("KillPs", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				type result struct {
					out, stderr string
					code        int
				}
				done := make(chan result, 1)
				go func() {
					out, stderr, code := ctrStdin(ctx, e, strings.NewReader(""), "task", "exec", "--exec-id", "victim", id, "sh", "-c", "echo ready; exec sleep 600")
					done <- result{out, stderr, code}
				}()
				// ctr task ps lists the exec's pid, with its exec id.
				var pid int
				deadline := time.Now().Add(30 * time.Second)
				for pid == 0 {
					out, _, _ := e.d.Ctr(t, "task", "ps", id)
					for _, l := range strings.Split(out, "\n") {
						if f := strings.Fields(l); len(f) >= 2 && strings.Contains(l, "victim") {
							pid, _ = strconv.Atoi(f[0])
						}
					}
					if pid == 0 {
						if time.Now().After(deadline) {
							t.Fatalf("no exec victim in ctr task ps:\n%s", out)
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
				// The pid is the real process: sleep, once exec'd.
				deadline = time.Now().Add(30 * time.Second)
				for {
					cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
					if string(cmdline) == "sleep\x00600\x00" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("pid %d of exec victim runs %q, want sleep 600", pid, cmdline)
					}
					time.Sleep(50 * time.Millisecond)
				}
				if _, stderr, err := e.d.Ctr(t, "task", "kill", "-s", "TERM", "--exec-id", "victim", id); err != nil {
					t.Fatalf("ctr task kill --exec-id: %v %s", err, stderr)
				}
				select {
				case r := <-done:
					if r.code != 143 || r.out != "ready\n" {
						t.Fatalf("killed exec: code %d (want 143), stdout %q, stderr %q", r.code, r.out, r.stderr)
					}
				case <-ctx.Done():
					t.Fatalf("exec did not end after TERM")
				}
			})

			t.Run("MissingBinary", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				out, stderr, code := ctrStdin(ctx, e, strings.NewReader(""), "task", "exec", "--exec-id", "nope", id, "nope")
				if code == 0 || code == -1 || !strings.Contains(stderr, `exec: "nope": executable file not found in $PATH`) {
					t.Fatalf("exec of a missing binary: code %d, stdout %q, stderr %q", code, out, stderr)
				}
				t.Logf("ctr task exec nope: %s", strings.TrimSpace(stderr))
			})

			t.Run("KillEnded", func(t *testing.T) {
				// -d leaves the exec in the shim after it ends; a kill
				// then says not found.
				if _, stderr, err := e.d.Ctr(t, "task", "exec", "-d", "--exec-id", "quick", id, "true"); err != nil {
					t.Fatalf("ctr task exec -d: %v %s", err, stderr)
				}
				deadline := time.Now().Add(30 * time.Second)
				for {
					_, stderr, err := e.d.Ctr(t, "task", "kill", "-s", "KILL", "--exec-id", "quick", id)
					if err != nil {
						if !strings.Contains(stderr, "not found") {
							t.Fatalf("kill of an ended exec: %v, want not found", err)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("exec quick still killable after 30s")
					}
					time.Sleep(100 * time.Millisecond)
				}
			})

			t.Run("Paused", func(t *testing.T) {
				// No exec into a frozen container (attach would hang).
				if _, stderr, err := e.d.Ctr(t, "task", "pause", id); err != nil {
					t.Fatalf("ctr task pause: %v %s", err, stderr)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				out, stderr, code := ctrStdin(ctx, e, strings.NewReader(""), "task", "exec", "--exec-id", "paused", id, "true")
				if _, rerr, err := e.d.Ctr(t, "task", "resume", id); err != nil {
					t.Fatalf("ctr task resume: %v %s", err, rerr)
				}
				if code == 0 || code == -1 || !strings.Contains(stderr, "paused state") {
					t.Fatalf("exec in a paused task: code %d, stdout %q, stderr %q", code, out, stderr)
				}
			})

			// The container still runs, with no exec left behind.
			out := e.d.MustCtr(t, "task", "ps", id)
			if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 2 {
				t.Errorf("ctr task ps after the execs: %d lines, want the header and init:\n%s", n, out)
			}

			t.Run("ShimKilled", func(t *testing.T) { e.testExecShimKilled(t, "execkill") })
		})
	}
}

// testExecShimKilled: kill -9 of the shim while an exec process runs. The
// exec process and its zfslxc-start --attach die with the container when
// containerd's cleanup (`shim delete`) kills it; nothing is left.
func (e *env) testExecShimKilled(t *testing.T, id string) {
	initPid := e.runDetached(t, id, "sleep", "600")
	if _, stderr, err := e.d.Ctr(t, "task", "exec", "-d", "--exec-id", "bg", id, "sleep", "700"); err != nil {
		t.Fatalf("ctr task exec -d: %v %s", err, stderr)
	}
	var execPid int
	deadline := time.Now().Add(30 * time.Second)
	for execPid == 0 {
		for _, l := range strings.Split(e.d.MustCtr(t, "task", "ps", id), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && strings.Contains(l, "bg") {
				execPid, _ = strconv.Atoi(f[0])
			}
		}
		if execPid == 0 && time.Now().After(deadline) {
			t.Fatal("exec bg not in ctr task ps")
		}
		time.Sleep(50 * time.Millisecond)
	}
	shim := pidOf(t, shimBinary+" -namespace default -id "+id+" ")
	attach := pidOf(t, "zfslxc-start --attach --name "+id+" ")
	cgroups := payloadCgroups(t, initPid)
	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "after kill -9 of the shim", []int{shim, attach, initPid, execPid}, cgroups)
	if _, stderr, err := e.d.Ctr(t, "task", "rm", "-f", id); err != nil && !strings.Contains(stderr, "not found") {
		t.Fatalf("ctr task rm -f: %v", err)
	}
	if _, _, err := e.d.Ctr(t, "containers", "rm", id); err != nil {
		t.Fatalf("ctr rm: %v\n%s", err, e.d.LogTail(40))
	}
	e.checkClean(t, id)
}
