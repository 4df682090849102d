package shim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

const (
	runcRuntime = "io.containerd.runc.v2"
	// caseTimeout bounds one run of a parity case.
	caseTimeout = 30 * time.Second
)

// parityCase is one `ctr run` whose stdout, stderr and exit status must
// be the same under runc on overlayfs and under our shim on zfslxc.
type parityCase struct {
	name  string
	flags []string // ctr run flags (before the image)
	args  []string // the command; none runs the image's ENTRYPOINT+CMD
	// withStdin pipes stdin into ctr run, with EOF once the task runs:
	// ctr closes the task's stdin (CloseIO) when its stdin ends, but only
	// once the task exists, so an EOF at once is lost and the reader
	// hangs under runc too.
	withStdin bool
	stdin     string
	// needFlag is a ctr run flag the case needs; flavors whose ctr lacks
	// it skip the case and say so.
	needFlag string
	// wantCode, when not nil, is checked besides the parity: the cases
	// are meant to exercise it, a runc that gives something else means
	// the case does not test what it says.
	wantCode *int
	// errorHas, for cases where create fails, replaces the exact stderr
	// comparison: the runtimes word their errors differently (runc:
	// "OCI runtime create failed: runc create failed: unable to start
	// container process: exec: ..."), so both must carry this text and
	// fail with the same status.
	errorHas string
	// knownDiff, when set, says why lxc differs from runc in this case
	// (a limitation not fixed yet): the difference is logged with the
	// diff, and the case fails once the outputs are the same, so the
	// note cannot outlive the fix.
	knownDiff string
}

func code(n int) *int { return &n }

// sh runs script with sh -c.
func sh(script string, args ...string) []string {
	return append([]string{"/bin/sh", "-c", script, "sh"}, args...)
}

// printArgs prints each argument in brackets, with its bytes.
const printArgs = `for a in "$@"; do printf '[%s]\n' "$a"; done; echo "$#"`

func parityCases() []parityCase {
	return []parityCase{
		{name: "ImageEntrypointCmd"},
		{name: "ArgvSpecial", args: sh(printArgs,
			"a b", `"double"`, "it's", "", "  lead and trail  ", "new\nline", "tab\there", "UTF-8 ünïcødé ✓ 日本",
			`back\slash`, "$HOME", "*", "-n", "--", "a=b")},
		{name: "ArgvDirect", args: []string{"/bin/echo", "one", "two  three", ""}},
		{name: "ArgvLong", args: sh(`echo "$#"; echo "$1" | wc -c`, strings.Repeat("x", 100000))},
		{name: "EnvList", args: sh(`env | sort`)},
		{name: "EnvFlags", flags: []string{"--env", "A=b=c", "--env", "EMPTY=", "--env", "SP=a b", "--env", "NL=x\ny", "--env", "U=日本"},
			args: sh(`printf '%s|' "$A" "$EMPTY" "$SP" "$NL" "$U"; echo; env | sort`)},
		{name: "EnvPathOverride", flags: []string{"--env", "PATH=/custom:/bin"}, args: sh(`echo "$PATH"; command -v ls`)},
		{name: "WorkdirExisting", flags: []string{"--cwd", "/tmp"}, args: sh(`pwd`)},
		{name: "WorkdirMissing", flags: []string{"--cwd", "/no/such/dir"}, args: sh(`pwd; stat -c '%a %u:%g' . /no /no/such`)},
		{name: "UserUidGid", flags: []string{"--user", "1000:1000"}, needFlag: "--user",
			args: sh(`id; echo "HOME=$HOME"; touch /etc/x; echo "touch: $?"; cat /proc/self/status | grep -E '^(Uid|Gid|Groups)'`)},
		{name: "UserUnknownUid", flags: []string{"--user", "4242:4243"}, needFlag: "--user", args: sh(`id; echo "HOME=$HOME"`)},
		{name: "UserCapabilities", flags: []string{"--user", "1000:1000"}, needFlag: "--user", args: sh(`grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status`)},
		{name: "RootCapabilities", args: sh(`grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status`)},
		{name: "ReadOnlyRootfs", flags: []string{"--read-only"}, args: sh(`touch /x; echo "touch: $?"; echo y > /tmp/y; echo "tmp: $?"; echo z > /dev/shm/z && echo shm ok`)},
		{name: "ReadOnlyWorkdirMissing", flags: []string{"--read-only", "--cwd", "/new/dir"}, args: sh(`pwd; touch x; echo "touch: $?"`)},
		{name: "EnvHome", flags: []string{"--env", "HOME=/custom"}, args: sh(`echo "$HOME"`)},
		{name: "Writable", args: sh(`touch /x && echo ok; ls -ld /tmp | cut -c1-10`)},
		// The cgroup mount of ctr's spec shows an empty /sys/fs/cgroup
		// under both runtimes here (CgroupView): the cases bind the host's
		// hierarchies in and read their own cgroup's files, whose path
		// (/default/ID, from the spec's cgroupsPath) is the same under both.
		{name: "MemoryLimit", flags: []string{"--memory-limit", "67108864", "--mount", "type=bind,src=/sys/fs/cgroup/memory,dst=/cg/memory,options=bind:ro"},
			args: sh(`d=/cg/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup); echo "$d"; cat "$d/memory.limit_in_bytes" "$d/memory.soft_limit_in_bytes"`)},
		{name: "CPULimits", flags: []string{"--cpu-quota", "50000", "--cpu-period", "100000", "--cpu-shares", "512", "--mount", "type=bind,src=/sys/fs/cgroup/cpu,dst=/cg/cpu,options=bind:ro"},
			args: sh(`d=/cg/cpu$(sed -n 's/^[0-9]*:cpu://p' /proc/self/cgroup); echo "$d"; cat "$d/cpu.cfs_quota_us" "$d/cpu.cfs_period_us" "$d/cpu.shares"`)},
		{name: "Cpus", flags: []string{"--cpus", "0.5", "--mount", "type=bind,src=/sys/fs/cgroup/cpu,dst=/cg/cpu,options=bind:ro"},
			args: sh(`d=/cg/cpu$(sed -n 's/^[0-9]*:cpu://p' /proc/self/cgroup); cat "$d/cpu.cfs_quota_us" "$d/cpu.cfs_period_us"`)},
		{name: "Rlimits", args: sh(`ulimit -n; ulimit -Hn; ulimit -u`)},
		{name: "OOMKilled", flags: []string{"--memory-limit", "16777216"}, args: sh(`tail /dev/zero`), wantCode: code(137)},
		// By LXC's design, left out: /dev/.lxc-boot-id (LXC gives each
		// container its own boot_id, bound over
		// /proc/sys/kernel/random/boot_id) and /dev/ptmx a bind of
		// /dev/pts/ptmx where runc makes a symlink to it.
		{name: "DevNodes", args: sh(`for f in /dev/* /dev/.[!.]* /dev/pts/* /dev/shm /dev/mqueue; do
			case $f in /dev/.lxc-boot-id|/dev/ptmx) continue;; esac
			[ -e "$f" ] || [ -L "$f" ] && stat -c '%n %F %t:%T %a %u:%g %N' "$f"
		done; [ -c /dev/ptmx ] && echo ptmx usable`)},
		// Sorted (LXC mounts /dev before /proc); by LXC's design left out
		// or normalized: the /dev/ptmx bind and the boot_id bind (see
		// DevNodes), devpts's max=1024 (lxc.pty.max), and the source of
		// the /dev/null binds that mask files (the host's, a devtmpfs;
		// runc's, the container's /dev tmpfs).
		{name: "Mounts", args: sh(`awk '$2 != "/" && $2 != "/dev/ptmx" && $2 != "/proc/sys/kernel/random/boot_id" {
			o = $4; sub(/,max=1024/, "", o)
			if ($2 ~ /^\/proc\// && ($3 == "devtmpfs" || o ~ /size=65536k/)) print $2, "(/dev/null)"; else print $2, $3, o
		}' /proc/self/mounts | sort`)},
		{name: "MaskedPaths", args: sh(`for p in /proc/kcore /proc/keys /proc/timer_list /sys/firmware /proc/acpi /proc/scsi; do ls -ld $p 2>&1 | sed -E 's/ +[A-Z][a-z]{2} +[0-9]+ +[0-9:]+ / DATE /'; done; cat /proc/kcore | wc -c; echo x > /proc/sys/kernel/hostname; echo "write /proc/sys: $?"`)},
		{name: "Pid1", args: sh(`echo "$$"; cat /proc/1/cmdline | tr '\0' ' '; echo`)},
		{name: "Exit0", args: sh(`exit 0`), wantCode: code(0)},
		{name: "Exit1", args: sh(`echo out; echo err >&2; exit 1`), wantCode: code(1)},
		{name: "Exit42", args: sh(`exit 42`), wantCode: code(42)},
		{name: "Exit255", args: sh(`exit 255`), wantCode: code(255)},
		{name: "Exit256Wraps", args: sh(`exit 256`), wantCode: code(0)},
		{name: "FalseBinary", args: []string{"false"}, wantCode: code(1)},
		{name: "MissingBinary", args: []string{"/no/such/cmd"}, errorHas: `exec: "/no/such/cmd": stat /no/such/cmd: no such file or directory`},
		{name: "MissingBinaryOnPath", args: []string{"nosuchcmd"}, errorHas: `exec: "nosuchcmd": executable file not found in $PATH`},
		{name: "NotExecutable", args: []string{"/etc/passwd"}, errorHas: `exec: "/etc/passwd": permission denied`},
		{name: "StderrOnly", args: sh(`echo e1 >&2; echo e2 >&2`)},
		// PID 1 of a pid namespace gets no signal it has no handler
		// for from inside: under runc the shell survives its own kill.
		{name: "Pid1KillsItselfTERM", args: sh(`kill -TERM $$; echo survived`), wantCode: code(0)},
		{name: "Pid1KillsItselfKILL", args: sh(`kill -KILL $$; echo survived`), wantCode: code(0)},
		// A trap makes TERM deliverable to PID 1; a shell ending by the
		// trap's `exit 143` is runc's "killed by TERM" status.
		{name: "Pid1TrapTERM", args: sh(`trap 'exit 143' TERM; kill -TERM $$; sleep 5`), wantCode: code(143)},
		// A child killed by a signal: the shell reports 128+n and exits
		// with it.
		{name: "ChildKilledTERM", args: sh(`sh -c 'kill -TERM $$'; exit $?`), wantCode: code(143)},
		{name: "ChildKilledKILL", args: sh(`sh -c 'kill -KILL $$'; exit $?`), wantCode: code(137)},
		{name: "ExecReplacesPid1KilledBySelf", args: sh(`exec sh -c 'kill -KILL $$; echo survived'`), wantCode: code(0)},
		// ctr run (1.6 and 2.4) has no -i: stdin is always attached.
		{name: "Stdin", withStdin: true, stdin: "data\nmore data\n", args: []string{"cat"}},
		{name: "StdinWc", withStdin: true, stdin: strings.Repeat("0123456789abcdef", 1<<14), args: sh(`wc -c; echo done`)},
		{name: "StdinEmpty", withStdin: true, args: sh(`cat; echo "cat: $?"`)},
		{name: "CgroupView", args: sh(`ls /sys/fs/cgroup; cat /proc/self/cgroup; grep cgroup /proc/self/mountinfo | cut -d' ' -f5,9`)},
		// linux.devices were refused ("needs Options.HookCommand"): the
		// node is made in the container, the device cgroup allows it.
		{name: "Device", flags: []string{"--device", "/dev/fuse"}, needFlag: "--device",
			args: sh(`stat -c '%n %F %t:%T %a %u:%g' /dev/fuse; grep -c . /sys/fs/cgroup/devices/devices.list 2>/dev/null; cat /dev/fuse 2>&1 | head -c 60; echo; echo "read: $?"`)},
		// Every host device, every capability, no seccomp, no masked or
		// read-only paths (Kubernetes privileged pods, docker run
		// --privileged).
		{name: "Privileged", flags: []string{"--privileged"}, needFlag: "--privileged",
			args: sh(`grep -E '^(CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status
			for d in /dev/fuse /dev/loop-control /dev/kmsg; do [ -e $d ] && stat -c '%n %F %t:%T %a' $d; done
			awk '$2 == "/proc/sys" || $2 == "/proc/kcore" || $2 == "/sys/firmware" {print "masked or ro:", $2}' /proc/self/mounts
			awk '$2 == "/sys" {print $2, $3, substr($4, 1, 2)}' /proc/self/mounts
			cat /sys/fs/cgroup/devices/devices.list 2>/dev/null`)},
	}
}

// TestParity runs the same `ctr run` cases under runc+overlayfs and our
// shim+zfslxc in one containerd per flavor, one after the other with the
// same container id (so even the hostname matches), and compares stdout,
// stderr (without ctr's own log lines) and the exit status exactly.
//
// What ctr cannot express is logged and skipped: the pids limit (no ctr
// flag in 1.6 or 2.4) and, on containerd 1.6, the user (ctr 1.6 has no
// --user, --uid or --gid; --config replaces the whole spec, image and
// snapshot included, so it cannot carry one).
func TestParity(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			start := time.Now()
			e := setup(t, f, sn)
			e.d.MustCtr(t, "images", "import", "--snapshotter", "overlayfs", helloTar(t))
			help, _, _ := e.d.Ctr(t, "run", "--help")
			t.Logf("setup: %v", time.Since(start).Round(time.Millisecond))
			t.Log("not expressible with ctr run: pids limit (no flag in ctr 1.6 or 2.4)")
			var rows []string
			for _, c := range parityCases() {
				if c.needFlag != "" && !strings.Contains(help, c.needFlag+" ") {
					t.Logf("%s: skipped, %s's ctr run has no %s", c.name, f.Name, c.needFlag)
					rows = append(rows, fmt.Sprintf("%-30s no %s flag", c.name, c.needFlag))
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					rows = append(rows, e.parity(t, c))
				})
			}
			t.Logf("%s: %d cases in %v\n%s", f.Name, len(rows), time.Since(start).Round(time.Millisecond), strings.Join(rows, "\n"))
		})
	}
}

// ctrLogLine matches the log lines ctr itself writes to stderr (2.x warns
// about cgroup v1): they carry timestamps and are not the container's.
var ctrLogLine = regexp.MustCompile(`(?m)^time="[^"]*" level=\w+ msg=.*\n?`)

type runResult struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r runResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// parity runs c under both runtimes and fails with a diff when they
// differ; it returns a row for the table.
func (e *env) parity(t *testing.T, c parityCase) string {
	// Unique on the host: cgroups (/default/ID) are named after it
	// across daemons.
	id := fmt.Sprintf("parity-%s-%d", strings.ToLower(c.name), os.Getpid())
	want := e.runCase(t, c, runcRuntime, "overlayfs", id)
	got := e.runCase(t, c, runtimeType, sn, id)
	e.checkClean(t, id)
	return compareParity(t, c, want, got)
}

// compareParity fails t when got (lxc) differs from want (runc) and
// returns a row for the table.
func compareParity(t *testing.T, c parityCase, want, got runResult) string {
	t.Helper()
	if c.wantCode != nil && want.code != *c.wantCode {
		t.Errorf("runc exit status %d, the case expects %d: the case does not test what it says", want.code, *c.wantCode)
	}
	if c.errorHas != "" {
		if want.code == 0 || !strings.Contains(want.stderr, c.errorHas) {
			t.Errorf("runc: exit %d, stderr %q; the case expects a failure with %q", want.code, want.stderr, c.errorHas)
		}
		// Only the wording differs: no line more (zfslxc-init once
		// printed the reason on the container's stderr as well).
		if got.code != want.code || got.stdout != want.stdout || !strings.Contains(got.stderr, c.errorHas) ||
			strings.Count(got.stderr, "\n") != strings.Count(want.stderr, "\n") {
			t.Errorf("lxc: exit %d, stdout %q, stderr %q; runc: exit %d, stdout %q, and both must say %q", got.code, got.stdout, got.stderr, want.code, want.stdout, c.errorHas)
			return fmt.Sprintf("%-30s DIFFERS", c.name)
		}
		t.Logf("runc: %s\nlxc:  %s", strings.TrimSpace(want.stderr), strings.TrimSpace(got.stderr))
		return fmt.Sprintf("%-30s same failure (exit %d)", c.name, want.code)
	}
	same := got.stdout == want.stdout && got.stderr == want.stderr && got.code == want.code
	if c.knownDiff != "" {
		if same {
			t.Errorf("lxc gives what runc gives now, the known difference is gone (%s): drop knownDiff", c.knownDiff)
			return fmt.Sprintf("%-30s same (known difference gone)", c.name)
		}
		t.Logf("known difference: %s\n%s", c.knownDiff, diffResults(want, got))
		return fmt.Sprintf("%-30s KNOWN DIFFERENCE", c.name)
	}
	if !same {
		t.Errorf("lxc differs from runc:\n%s", diffResults(want, got))
		return fmt.Sprintf("%-30s DIFFERS", c.name)
	}
	t.Logf("same: %s", strings.TrimSpace(trunc(want.String(), 600)))
	return fmt.Sprintf("%-30s same (exit %d; runc %v, lxc %v)", c.name, want.code, want.took.Round(time.Millisecond), got.took.Round(time.Millisecond))
}

// runCase is `ctr run --rm` of c under runtime on snapshotter snap.
func (e *env) runCase(t *testing.T, c parityCase, runtime, snap, id string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	args := []string{"--address", e.d.Address, "run", "--rm", "--snapshotter", snap, "--runtime", runtime}
	args = append(args, c.flags...)
	args = append(args, e.ref, id)
	args = append(args, c.args...)
	cmd := exec.CommandContext(ctx, e.d.Flavor.Ctr, args...)
	// ctr needs only the address; the daemon has its own PATH.
	cmd.Env = nil
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONTAINERD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if c.withStdin {
		cmd.Stdin = &lateEOF{r: strings.NewReader(c.stdin), ready: func() bool {
			out, _, _ := e.d.Ctr(t, "task", "ls") // not MustCtr: not the test's goroutine
			st := taskStatus(out, id)
			return st == "RUNNING" || st == "STOPPED"
		}}
	}
	var o, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &se
	start := time.Now()
	err := cmd.Run()
	r := runResult{stdout: o.String(), took: time.Since(start)}
	logs := ctrLogLine.FindAllString(se.String(), -1)
	r.stderr = ctrLogLine.ReplaceAllString(se.String(), "")
	if ctx.Err() != nil {
		// A hang is a result too (a mismatch): clean up and go on.
		t.Errorf("%s under %s: no exit within %v (stdout %q, stderr %q)", id, runtime, caseTimeout, o.String(), se.String())
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		e.d.CtrContext(cctx, "task", "kill", "-s", "KILL", id)
		e.d.CtrContext(cctx, "task", "rm", "-f", id)
		e.d.CtrContext(cctx, "containers", "rm", id)
		r.code, r.stderr = -1, fmt.Sprintf("(timed out after %v) %s", caseTimeout, r.stderr)
		return r
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s under %s: %v (stderr %q)\n%s", id, runtime, err, se.String(), e.d.LogTail(40))
		}
		r.code = ee.ExitCode()
	}
	for _, l := range logs {
		if !strings.Contains(l, "level=warning") {
			t.Logf("%s under %s: ctr logged %s", id, runtime, strings.TrimSpace(l))
		}
	}
	return r
}

// diffResults shows runc's and lxc's results with the first differing
// line of each stream marked.
func diffResults(want, got runResult) string {
	var b strings.Builder
	if want.code != got.code {
		fmt.Fprintf(&b, "exit status: runc %d, lxc %d\n", want.code, got.code)
	}
	for _, s := range []struct{ name, want, got string }{{"stdout", want.stdout, got.stdout}, {"stderr", want.stderr, got.stderr}} {
		if s.want == s.got {
			continue
		}
		wl, gl := strings.Split(s.want, "\n"), strings.Split(s.got, "\n")
		fmt.Fprintf(&b, "%s differs:\n", s.name)
		for i := 0; i < len(wl) || i < len(gl); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			switch {
			case i >= len(wl):
				fmt.Fprintf(&b, "  +lxc  %q\n", g)
			case i >= len(gl):
				fmt.Fprintf(&b, "  -runc %q\n", w)
			case w != g:
				fmt.Fprintf(&b, "  -runc %q\n  +lxc  %q\n", w, g)
			}
		}
	}
	return b.String()
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// lateEOF reads r, then reports EOF only once ready says the task has
// been started: ctr run sets up its CloseIO-on-EOF after it has created
// the task, so an earlier EOF would be lost (see parityCase.withStdin).
type lateEOF struct {
	r     *strings.Reader
	ready func() bool
}

func (l *lateEOF) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err == io.EOF {
		deadline := time.Now().Add(caseTimeout)
		for !l.ready() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return n, err
}

// nerdctlParityCases cover what ctr run cannot express; they run with
// `nerdctl run --rm --net none --name ID --hostname parity` and the
// image's /bin/sh as entrypoint.
func nerdctlParityCases() []parityCase {
	cg := func(ctrl string) string { return "/sys/fs/cgroup/" + ctrl + ":/cg/" + ctrl + ":ro" }
	read := func(ctrl string, files ...string) []string {
		return []string{"-c", `d=/cg/` + ctrl + `$(sed -n 's/^[0-9]*:` + ctrl + `://p' /proc/self/cgroup); cd "$d" && cat ` + strings.Join(files, " ")}
	}
	return []parityCase{
		{name: "PidsLimit", flags: []string{"--pids-limit", "42", "-v", cg("pids")}, args: read("pids", "pids.max")},
		{name: "PidsLimitEnforced", flags: []string{"--pids-limit", "5"},
			args: []string{"-c", `for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo done`}},
		{name: "MemorySwap", flags: []string{"--memory", "64m", "--memory-swap", "128m", "--memory-reservation", "32m", "-v", cg("memory")},
			args: read("memory", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes")},
		{name: "CPUs", flags: []string{"--cpus", "0.5", "--cpu-shares", "100", "-v", cg("cpu")}, args: read("cpu", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares")},
		{name: "CpusetCpus", flags: []string{"--cpuset-cpus", "0", "-v", cg("cpuset")}, args: read("cpuset", "cpuset.cpus")},
		{name: "UserName", flags: []string{"--user", "app"}, args: []string{"-c", `id; echo "HOME=$HOME"; pwd`}},
		{name: "UserGroupAdd", flags: []string{"--user", "1000:1000", "--group-add", "42"}, args: []string{"-c", `id; grep -E '^(Uid|Gid|Groups):' /proc/self/status`}},
		{name: "Workdir", flags: []string{"--workdir", "/new/work"}, args: []string{"-c", `pwd`}},
		{name: "Env", flags: []string{"-e", "A=1=2", "-e", "PATH=/bin"}, args: []string{"-c", `env | sort`}},
		{name: "Ulimit", flags: []string{"--ulimit", "nofile=100:200"}, args: []string{"-c", `ulimit -n; ulimit -Hn`}},
		{name: "Caps", flags: []string{"--cap-drop", "ALL", "--cap-add", "NET_ADMIN"}, args: []string{"-c", `grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status`}},
		{name: "ReadOnlyTmpfs", flags: []string{"--read-only", "--tmpfs", "/run"}, args: []string{"-c", `touch /x; touch /run/x && echo run ok`}},
		{name: "Hostname", args: []string{"-c", `hostname; cat /etc/hostname`}},
		{name: "Exit42", args: []string{"-c", `echo out; echo err >&2; exit 42`}, wantCode: code(42)},
		{name: "Stdin", flags: []string{"-i"}, withStdin: true, stdin: "a\nb\n", args: []string{"-c", `cat; echo "cat: $?"`}},
		// The sysctls containerd 2.x's CRI and Docker set on every
		// container: LXC wrote them after the read-only /proc/sys
		// (readonlyPaths) and failed. /proc/sys must still end read-only.
		{name: "Sysctls", flags: []string{"--sysctl", "net.ipv4.ip_unprivileged_port_start=0", "--sysctl", "net.ipv4.ping_group_range=0 2147483647", "--sysctl", "kernel.shm_rmid_forced=1"},
			args: []string{"-c", `cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/shm_rmid_forced; ` +
				`awk '$5 == "/proc/sys" {print $5, $6}' /proc/self/mountinfo; echo 1 > /proc/sys/kernel/shm_rmid_forced || echo write refused`}},
	}
}

// TestParityNerdctl is TestParity through nerdctl 1.7.7, for the limits
// and user forms ctr cannot give (--pids-limit, --user NAME, swap,
// cpuset, ulimits, capabilities): the same containerd runs each case
// under runc on overlayfs and under our shim on zfslxc.
func TestParityNerdctl(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			start := time.Now()
			lxc := newNerd(t, f)
			runc := *lxc
			runc.global = slices.Clone(lxc.global)
			runc.global[slices.Index(runc.global, "--snapshotter")+1] = "overlayfs"
			_, tar := helloImage(t)
			runc.must(t, "load", "-i", tar)
			var rows []string
			for _, c := range nerdctlParityCases() {
				t.Run(c.name, func(t *testing.T) {
					// Unique on the host: cgroups (/default/ID) are named after it
					// across daemons.
					id := fmt.Sprintf("parity-%s-%d", strings.ToLower(c.name), os.Getpid())
					want := runNerdctlCase(t, &runc, c, runcRuntime, id)
					got := runNerdctlCase(t, lxc, c, runtimeType, id)
					if c.wantCode != nil && want.code != *c.wantCode {
						t.Errorf("runc exit status %d, the case expects %d", want.code, *c.wantCode)
					}
					if got.stdout != want.stdout || got.stderr != want.stderr || got.code != want.code {
						t.Errorf("lxc differs from runc:\n%s", diffResults(want, got))
						rows = append(rows, fmt.Sprintf("%-20s DIFFERS", c.name))
						return
					}
					t.Logf("same: %s", strings.TrimSpace(trunc(want.String(), 600)))
					rows = append(rows, fmt.Sprintf("%-20s same (exit %d)", c.name, want.code))
				})
			}
			lxc.checkClean(t)
			t.Logf("%s: %d nerdctl cases in %v\n%s", f.Name, len(rows), time.Since(start).Round(time.Millisecond), strings.Join(rows, "\n"))
		})
	}
}

func runNerdctlCase(t *testing.T, n *nerd, c parityCase, runtime, id string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	args := append([]string{"run", "--rm", "--net", "none", "--runtime", runtime, "--name", id, "--hostname", "parity", "--entrypoint", "/bin/sh"}, c.flags...)
	args = append(append(args, n.e.ref), c.args...)
	cmd := exec.CommandContext(ctx, n.bin, append(slices.Clone(n.global), args...)...)
	cmd.Env = n.env
	if c.withStdin {
		// nerdctl run -i, like ctr, closes the task's stdin at EOF only
		// once the task exists: EOF once it runs.
		cmd.Stdin = &lateEOF{r: strings.NewReader(c.stdin), ready: func() bool {
			out, _, _, _ := n.run(context.Background(), "ps", "-q", "--filter", "name="+id)
			return strings.TrimSpace(out) != ""
		}}
	}
	var o, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &se
	start := time.Now()
	err := cmd.Run()
	stdout, stderr, code := o.String(), se.String(), 0
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		code, err = ee.ExitCode(), nil
	}
	if err != nil {
		t.Errorf("%s under %s: %v", id, runtime, err)
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		n.run(cctx, "rm", "-f", id)
		return runResult{code: -1, stdout: stdout, stderr: "(" + err.Error() + ") " + stderr}
	}
	for _, l := range ctrLogLine.FindAllString(stderr, -1) {
		if !strings.Contains(l, "level=warning") {
			t.Logf("%s under %s: nerdctl logged %s", id, runtime, strings.TrimSpace(l))
		}
	}
	return runResult{stdout: stdout, stderr: ctrLogLine.ReplaceAllString(stderr, ""), code: code, took: time.Since(start)}
}

// execParityCases run with `ctr task exec` in a running container.
func execParityCases() []parityCase {
	return []parityCase{
		{name: "Env", args: sh(`env | sort`)},
		{name: "Argv", args: sh(printArgs, "a b", "", "new\nline", "ü✓", `"q"`)},
		{name: "Cwd", flags: []string{"--cwd", "/tmp"}, args: sh(`pwd`)},
		// runc creates a missing cwd for the container, not for an exec.
		{name: "CwdMissing", flags: []string{"--cwd", "/no/exec/dir"}, args: sh(`pwd`),
			errorHas: `chdir to cwd ("/no/exec/dir") set in config.json failed: no such file or directory`},
		{name: "UserUidGid", flags: []string{"--user", "1000:1000"}, args: sh(`id; echo "HOME=$HOME"; grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status`)},
		{name: "UserName", flags: []string{"--user", "app"}, args: sh(`id; echo "HOME=$HOME"`)},
		{name: "RootCaps", args: sh(`grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status`)},
		{name: "Rlimits", args: sh(`ulimit -n; ulimit -Hn`)},
		{name: "Exit7", args: sh(`echo out; echo err >&2; exit 7`), wantCode: code(7)},
		// Not PID 1: its own TERM/KILL end it, with runc's statuses.
		{name: "KillsItselfTERM", args: sh(`kill -TERM $$; echo survived`), wantCode: code(143)},
		{name: "KillsItselfKILL", args: sh(`kill -KILL $$; echo survived`), wantCode: code(137)},
		{name: "MissingBinary", args: []string{"/no/such/exec"}, errorHas: `exec: "/no/such/exec": stat /no/such/exec: no such file or directory`},
		{name: "NotOnPath", args: []string{"nosuchexec"}, errorHas: `exec: "nosuchexec": executable file not found in $PATH`},
	}
}

// TestParityExec compares `ctr task exec` in a container run by runc on
// overlayfs with the same exec in one run by our shim on zfslxc, in one
// containerd per flavor.
func TestParityExec(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			start := time.Now()
			e := setup(t, f, sn)
			e.d.MustCtr(t, "images", "import", "--snapshotter", "overlayfs", helloTar(t))
			ids := map[string]string{}
			for _, r := range []struct{ runtime, snap, name string }{{runcRuntime, "overlayfs", "runc"}, {runtimeType, sn, "lxc"}} {
				id := fmt.Sprintf("pexec-%s-%d", r.name, os.Getpid())
				if _, stderr, err := e.d.Ctr(t, "run", "-d", "--null-io", "--snapshotter", r.snap, "--runtime", r.runtime, e.ref, id, "sleep", "600"); err != nil {
					t.Fatalf("ctr run -d %s: %v (%s)", id, err, stderr)
				}
				e.waitRunning(t, id)
				ids[r.runtime] = id
			}
			var rows []string
			for i, c := range execParityCases() {
				t.Run(c.name, func(t *testing.T) {
					execID := fmt.Sprintf("x%d", i)
					want := e.runExecCase(t, c, ids[runcRuntime], execID)
					got := e.runExecCase(t, c, ids[runtimeType], execID)
					rows = append(rows, compareParity(t, c, want, got))
				})
			}
			for _, id := range ids {
				e.killRemove(t, id)
			}
			t.Logf("%s: %d exec cases in %v\n%s", f.Name, len(rows), time.Since(start).Round(time.Millisecond), strings.Join(rows, "\n"))
		})
	}
}

func (e *env) runExecCase(t *testing.T, c parityCase, id, execID string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	args := append(append([]string{"task", "exec", "--exec-id", execID}, c.flags...), id)
	start := time.Now()
	stdout, stderr, err := e.d.CtrContext(ctx, append(args, c.args...)...)
	r := runResult{stdout: stdout, stderr: ctrLogLine.ReplaceAllString(stderr, ""), took: time.Since(start)}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ctx.Err() != nil {
			t.Errorf("exec in %s: %v", id, err)
			r.code = -1
			return r
		}
		r.code = ee.ExitCode()
	}
	return r
}

// ttyParityCases run with `ctr run -t` on a 24x80 pty; stdout is all the
// terminal shows (stderr shares it).
func ttyParityCases() []parityCase {
	return []parityCase{
		// No window size here: runc's console has none until ctr's first
		// resize, which races with the process (`stty size` fails with
		// "No child processes" under runc at times).
		{name: "IsATTY", args: sh(`[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all ttys; echo "TERM=$TERM"`)},
		{name: "SttyFlags", args: sh(`stty -g`)},
		{name: "Output", args: sh(`printf 'a\nb\tc\n'; echo err >&2`)},
		{name: "Exit3", args: sh(`exit 3`), wantCode: code(3)},
		{name: "HasControllingTTY", args: sh(`[ "$(cut -d' ' -f7 /proc/self/stat)" != 0 ] && echo has a controlling tty`)},
		{name: "TTYName", args: sh(`tty; cut -d' ' -f7 /proc/self/stat`)},
	}
}

// ctrTTYLog matches ctr's own log lines on a terminal (2.x's cgroup v1
// deprecation warning, colored).
var ctrTTYLog = regexp.MustCompile(`(?m)^\x1b\[\d+m(WARN|INFO|ERRO|DEBU)\x1b\[0m\[\d+\] .*\n?`)

// TestParityTTY compares `ctr run -t` under runc+overlayfs and our
// shim+zfslxc, with ctr on a pty of a fixed size.
func TestParityTTY(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			start := time.Now()
			e := setup(t, f, sn)
			e.d.MustCtr(t, "images", "import", "--snapshotter", "overlayfs", helloTar(t))
			var rows []string
			for _, c := range ttyParityCases() {
				t.Run(c.name, func(t *testing.T) {
					id := fmt.Sprintf("ptty-%s-%d", strings.ToLower(c.name), os.Getpid())
					run := func(runtime, snap string) runResult {
						ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
						defer cancel()
						args := append([]string{"run", "--rm", "-t", "--snapshotter", snap, "--runtime", runtime, e.ref, id}, c.args...)
						start := time.Now()
						out, code := startPtyCtr(t, ctx, e, 24, 80, args...).wait(t)
						return runResult{stdout: ctrTTYLog.ReplaceAllString(out, ""), code: code, took: time.Since(start)}
					}
					want := run(runcRuntime, "overlayfs")
					got := run(runtimeType, sn)
					e.checkClean(t, id)
					rows = append(rows, compareParity(t, c, want, got))
				})
			}
			t.Logf("%s: %d tty cases in %v\n%s", f.Name, len(rows), time.Since(start).Round(time.Millisecond), strings.Join(rows, "\n"))
		})
	}
}

// nerdctlUpdateCases are `nerdctl update` flag sets applied to a running
// container; each is followed by a read of the container's cgroup files.
var nerdctlUpdateCases = []struct {
	name  string
	flags []string
}{
	{"Memory", []string{"--memory", "96m"}},
	{"MemorySwap", []string{"--memory", "64m", "--memory-swap", "256m", "--memory-reservation", "32m"}},
	{"CPUs", []string{"--cpus", "0.5"}},
	{"CPUQuotaShares", []string{"--cpu-quota", "30000", "--cpu-period", "60000", "--cpu-shares", "300"}},
	{"Cpuset", []string{"--cpuset-cpus", "0"}},
	{"Pids", []string{"--pids-limit", "33"}},
	{"PidsUnlimited", []string{"--pids-limit", "-1"}},
}

// TestParityNerdctlUpdate runs `nerdctl update` (containerd's
// Tasks.Update with the whole resources nerdctl derives from the spec,
// device rules included) on a running container of each runtime and
// compares what the container then reads from its cgroup files, and
// nerdctl's output and status.
func TestParityNerdctlUpdate(t *testing.T) {
	// The container's own cgroup files, through the host's tree at /cg
	// (v2: the unified files; v1: each controller's).
	const script = `if [ -f /cg/cgroup.controllers ]; then p=$(sed -n "s/^0:://p" /proc/self/cgroup)
		for f in memory.max memory.swap.max memory.low cpu.max cpu.weight cpuset.cpus pids.max; do echo "$f $(cat /cg$p/$f)"; done
	else for c in memory cpu cpuset pids; do p=$(sed -n "s/^[0-9]*:$c://p" /proc/self/cgroup)
		for f in memory.limit_in_bytes memory.memsw.limit_in_bytes memory.soft_limit_in_bytes cpu.cfs_quota_us cpu.cfs_period_us cpu.shares cpuset.cpus pids.max; do
			case $f in $c.*) echo "$f $(cat /cg/$c$p/$f)";; esac
		done; done; fi`
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			lxc := newNerd(t, f)
			runc := *lxc
			runc.global = slices.Clone(lxc.global)
			runc.global[slices.Index(runc.global, "--snapshotter")+1] = "overlayfs"
			_, tar := helloImage(t)
			runc.must(t, "load", "-i", tar)
			names := map[*nerd]string{}
			for n, rt := range map[*nerd]string{&runc: runcRuntime, lxc: runtimeType} {
				name := fmt.Sprintf("pupd-%s-%d", map[string]string{runcRuntime: "runc", runtimeType: "lxc"}[rt], os.Getpid())
				n.must(t, "run", "-d", "--net", "none", "--runtime", rt, "--name", name, "--memory", "48m",
					"-v", "/sys/fs/cgroup:/cg:ro", "--entrypoint", "/bin/sleep", n.e.ref, "600")
				names[n] = name
			}
			read := func(n *nerd) string { return n.must(t, "exec", names[n], "sh", "-c", script) }
			for _, c := range nerdctlUpdateCases {
				t.Run(c.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
					defer cancel()
					var res [2]runResult
					for i, n := range []*nerd{&runc, lxc} {
						out, stderr, code, err := n.run(ctx, append(append([]string{"update"}, c.flags...), names[n])...)
						if err != nil {
							t.Fatal(err)
						}
						res[i] = runResult{stdout: out + read(n), stderr: ctrLogLine.ReplaceAllString(stderr, ""), code: code}
					}
					compareParity(t, parityCase{name: c.name, wantCode: code(0)}, res[0], res[1])
				})
			}
			for n, name := range names {
				n.must(t, "rm", "-f", name)
			}
			lxc.checkClean(t)
		})
	}
}

// helloTar is the hello image's tarball (helloImage), for a second import
// into another snapshotter.
func helloTar(t *testing.T) string {
	_, tar := helloImage(t)
	return tar
}
