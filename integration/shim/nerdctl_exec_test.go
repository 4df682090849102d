package shim_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestNerdctlExec covers `nerdctl exec` (user, workdir, env, exit code, a
// missing executable) into a container run by nerdctl with our shim and
// the zfslxc snapshotter, on every containerd flavor.
func TestNerdctlExec(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			n := newNerd(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			n.must(t, "run", "-d", "--name", "ex", "--runtime", runtimeType, "--net", "none", "--entrypoint", "/bin/sleep", n.e.ref, "600")
			tests := []struct {
				name     string
				args     []string
				wantOut  string
				wantCode int // -2: fails, with wantErr in stderr
				wantErr  string
			}{
				{name: "plain", args: []string{"ex", "sh", "-c", "echo $((6*7)); id -u; cat /proc/1/cmdline | tr '\\0' ' '"}, wantOut: "42\n0\n/bin/sleep 600 "},
				{name: "user workdir env", args: []string{"-u", "1000:1000", "-w", "/tmp", "-e", "FOO=a  b", "ex", "sh", "-c", `id -u; id -g; pwd; printf '%s\n' "$FOO"`},
					wantOut: "1000\n1000\n/tmp\na  b\n"},
				// nerdctl 1.7 exits 1 and reports the process's code.
				{name: "exit code", args: []string{"ex", "sh", "-c", "exit 3"}, wantCode: -2, wantErr: "exec failed with exit code 3"},
				// nerdctl 1.7 quotes the message (\"nope\") on 1.6.
				{name: "missing binary", args: []string{"ex", "nope"}, wantCode: -2, wantErr: `nope\": executable file not found in $PATH`},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					out, stderr, code, err := n.run(ctx, append([]string{"exec"}, tc.args...)...)
					if err != nil {
						t.Fatal(err)
					}
					if tc.wantCode == -2 {
						if code == 0 || !strings.Contains(stderr, tc.wantErr) {
							t.Fatalf("nerdctl exec %q: code %d, stdout %q, stderr %q (want %q)", tc.args, code, out, stderr, tc.wantErr)
						}
						return
					}
					if code != tc.wantCode || out != tc.wantOut {
						t.Fatalf("nerdctl exec %q: code %d (want %d), stdout %q (want %q), stderr %q\n%s", tc.args, code, tc.wantCode, out, tc.wantOut, stderr, n.e.d.LogTail(30))
					}
				})
			}
			t.Run("TTY", func(t *testing.T) {
				// nerdctl exec -it on a terminal of its own (run -it:
				// nerdctl_test.go).
				script := `test -t 0 && echo is-a-tty; ` +
					`i=0; while [ $i -lt 100 ]; do s=$(stty size 2>/dev/null); case "$s" in [1-9]*) break;; esac; sleep 0.1; i=$((i+1)); done; ` +
					`echo "size=$s"; exit 4`
				for _, args := range [][]string{
					{"exec", "-it", "ex", "sh", "-c", script},
				} {
					cmd := exec.CommandContext(ctx, n.bin, append(append([]string{}, n.global...), args...)...)
					cmd.Env = n.env
					term := startPty(t, cmd, 31, 93)
					out, code := term.wait(t)
					out = strings.ReplaceAll(out, "\r", "")
					// nerdctl 1.7 exec reports a code as failure (1).
					if (code != 4 && !(args[0] == "exec" && code == 1)) || !strings.Contains(out, "is-a-tty\n") || !strings.Contains(out, "size=31 93\n") {
						t.Errorf("nerdctl %s -it: code %d, output %q", args[0], code, out)
					}
				}
			})
			n.must(t, "rm", "-f", "ex")
			n.checkClean(t)
		})
	}
}
