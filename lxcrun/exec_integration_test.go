package lxcrun_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestExec runs exec processes (zfslxc-start --attach, zfslxc-init) in a
// running container: argv, env, cwd, user, rlimits come through; the
// process is in the container's namespaces and cgroup; its status and pid
// are the real ones; a missing executable fails Exec with the reason.
func TestExec(t *testing.T) {
	requireLXC(t)
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	makeRootfs(t, rootfs)
	b := create(t, baseSpec(rootfs, "sleep", "600"), "", false)
	b.release(t)
	initPid := b.c.Pid()

	argv := append([]string{"/bin/sh", "-c", `for a; do printf '<%s>\n' "$a"; done`, "argv 0"}, nastyArgs...)
	var argvWant strings.Builder
	for _, a := range nastyArgs {
		fmt.Fprintf(&argvWant, "<%s>\n", a)
	}
	nofile := uint64(123)
	oomScore := 456 // raising needs no privilege (this machine lacks CAP_SYS_RESOURCE)
	tests := []struct {
		name    string
		proc    func(p *specs.Process)
		act     func(t *testing.T, p *lxcrun.Process, out *syncBuffer)
		wantOut string
		want    lxcrun.Status
		wantErr string
	}{
		{name: "argv byte for byte", proc: func(p *specs.Process) { p.Args = argv }, wantOut: argvWant.String()},
		{name: "env", proc: func(p *specs.Process) {
			p.Args = []string{"sh", "-c", `printf '%s|' "$A" "$NL"; env | grep -c container= || true`}
			p.Env = []string{"PATH=/bin", "A= x  y ", "NL=1\n2"}
		}, wantOut: " x  y |1\n2|0\n"},
		{name: "cwd", proc: func(p *specs.Process) {
			p.Args = []string{"pwd"}
			p.Cwd = "/tmp"
		}, wantOut: "/tmp\n"},
		// runc creates the container's cwd, not an exec's.
		{name: "missing cwd", proc: func(p *specs.Process) {
			p.Args = []string{"pwd"}
			p.Cwd = "/srv/exec dir"
		}, wantErr: `chdir to cwd ("/srv/exec dir") set in config.json failed: no such file or directory`},
		{name: "user", proc: func(p *specs.Process) {
			p.Args = []string{"sh", "-c", "id -u; id -g; id -G"}
			p.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29, 44}}
		}, wantOut: "1000\n1000\n1000 29 44\n"},
		{name: "rlimit", proc: func(p *specs.Process) {
			p.Args = []string{"sh", "-c", "ulimit -n"}
			p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: nofile, Hard: nofile}}
		}, wantOut: "123\n"},
		{name: "oom score", proc: func(p *specs.Process) {
			p.Args = []string{"cat", "/proc/self/oom_score_adj"}
			p.OOMScoreAdj = &oomScore
		}, wantOut: "456\n"},
		{name: "same namespaces and cgroup", proc: func(p *specs.Process) {
			p.Args = []string{"sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo"}
		}, act: func(t *testing.T, p *lxcrun.Process, out *syncBuffer) {
			for _, ns := range []string{"pid", "mnt", "uts", "ipc", "net", "cgroup"} {
				a, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", initPid, ns))
				c, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", p.Pid(), ns))
				if err2 != nil {
					return // ended already; the output checks the pid ns
				}
				if err1 != nil || a != c {
					t.Errorf("ns %s: init %s (%v), exec %s", ns, a, err1, c)
				}
			}
		}, wantOut: "lxcrun\nsleep 600 \n"},
		{name: "exit code", proc: func(p *specs.Process) { p.Args = []string{"sh", "-c", "exit 3"} }, want: lxcrun.Status{Code: 3}},
		{name: "kill TERM", proc: func(p *specs.Process) { p.Args = []string{"sh", "-c", "echo ready; exec sleep 600"} },
			act: func(t *testing.T, p *lxcrun.Process, out *syncBuffer) {
				waitFor(t, out, "ready\n")
				time.Sleep(50 * time.Millisecond) // past exec
				cg1, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", initPid))
				cg2, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid()))
				if !sameCgroup(string(cg1), string(cg2)) {
					t.Errorf("cgroup: init %q, exec %q", cg1, cg2)
				}
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.Pid()))
				if strings.TrimSpace(string(comm)) != "sleep" {
					t.Errorf("pid %d is %q, want the exec'd sleep", p.Pid(), comm)
				}
				if err := p.Kill(context.Background(), syscall.SIGTERM); err != nil {
					t.Fatalf("Kill: %v", err)
				}
			}, wantOut: "ready\n", want: lxcrun.Status{Signal: syscall.SIGTERM}},
		{name: "missing binary", proc: func(p *specs.Process) { p.Args = []string{"nope"} },
			wantErr: `exec: "nope": executable file not found in $PATH`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := baseSpec(rootfs, "true").Process
			tc.proc(sp)
			proc, err := lxcrun.ExecProcess(sp)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, errOut := &syncBuffer{}, &syncBuffer{}
			p, err := b.c.Exec(ctx, "x-"+strings.ReplaceAll(tc.name, " ", "-"), proc, lxcrun.Stdio{Stdout: out, Stderr: errOut})
			if tc.wantErr != "" {
				if !errors.Is(err, lxcrun.ErrExecFailed) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Exec: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			defer p.Delete(context.Background())
			if p.Pid() <= 0 || p.Pid() == initPid {
				t.Fatalf("Pid() = %d (init %d)", p.Pid(), initPid)
			}
			if tc.act != nil {
				tc.act(t, p, out)
			}
			st, err := p.Wait(ctx)
			if err != nil {
				t.Fatalf("Wait: %v (stderr %q)", err, errOut.String())
			}
			if st != tc.want {
				t.Errorf("status %v, want %v (stderr %q)", st, tc.want, errOut.String())
			}
			if got := out.String(); got != tc.wantOut {
				t.Errorf("stdout %q, want %q (stderr %q)", got, tc.wantOut, errOut.String())
			}
			if err := p.Kill(ctx, syscall.SIGKILL); err == nil {
				t.Errorf("Kill after the exit: no error")
			}
		})
	}
	t.Run("terminal", func(t *testing.T) {
		master, slave, err := lxcrun.OpenPty()
		if err != nil {
			t.Fatal(err)
		}
		defer master.Close()
		sp := baseSpec(rootfs, "sh", "-c", "stty size; test -t 0 && echo tty").Process
		sp.Terminal = true
		sp.ConsoleSize = &specs.Box{Height: 40, Width: 100}
		proc, err := lxcrun.ExecProcess(sp)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p, err := b.c.Exec(ctx, "tty", proc, lxcrun.Stdio{Stdin: slave, Stdout: slave, Stderr: slave})
		slave.Close()
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		defer p.Delete(context.Background())
		data, _ := io.ReadAll(master) // until EIO
		if st, err := p.Wait(ctx); err != nil || st != (lxcrun.Status{}) {
			t.Fatalf("Wait: %v %v", st, err)
		}
		if got := string(data); got != "40 100\r\ntty\r\n" {
			t.Errorf("output %q", got)
		}
	})
	t.Run("new console", func(t *testing.T) {
		// The pty is made in the container's devpts: ttyname works.
		sp := baseSpec(rootfs, "sh", "-c", "tty; stty size; test -t 0 && echo tty").Process
		sp.Terminal = true
		sp.ConsoleSize = &specs.Box{Height: 41, Width: 99}
		proc, err := lxcrun.ExecProcess(sp)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p, err := b.c.Exec(ctx, "newtty", proc, lxcrun.Stdio{NewConsole: true})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		defer p.Delete(context.Background())
		master := p.Console()
		if master == nil {
			t.Fatal("no console")
		}
		defer master.Close()
		data, _ := io.ReadAll(master) // until EIO
		if st, err := p.Wait(ctx); err != nil || st != (lxcrun.Status{}) {
			t.Fatalf("Wait: %v %v", st, err)
		}
		if got := string(data); got != "/dev/pts/0\r\n41 99\r\ntty\r\n" {
			t.Errorf("output %q", got)
		}
	})
	t.Run("every capability dropped", func(t *testing.T) {
		// An exec into a container whose spec drops every capability
		// (critest's "drop ALL"): the exec runs, as its own spec's user,
		// with no capability in any set, as under runc. liblxc's attach
		// used to hand it init's empty bounding set, and zfslxc-init
		// failed at setgroups.
		spec := baseSpec(rootfs, "sleep", "600")
		spec.Process.Capabilities = nil
		sb := create(t, spec, "", false)
		sb.release(t)
		sp := baseSpec(rootfs, "sh", "-c", "id -u; "+statusScript).Process
		sp.Capabilities = nil
		sp.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{29}}
		none := capMask()
		if got, want := sb.execOK(t, "nocaps", sp), "1000\n"+statusWant("1000", "1000", "29 ", none, none, none, none, none); got != want {
			t.Errorf("stdout %q\nwant   %q", got, want)
		}
	})
	t.Run("seccomp caps no_new_privs", func(t *testing.T) {
		// The container's seccomp policy and no_new_privs (liblxc's
		// attach applies them from the config), the spec's capabilities.
		// The exec process's own noNewPrivileges, as under runc.
		for _, tc := range []struct {
			containerNNP, execNNP bool
			want                  string
		}{{true, false, "1"}, {false, true, "1"}, {false, false, "0"}} {
			spec := baseSpec(rootfs, "sleep", "600")
			spec.Linux.Seccomp = defaultSeccomp(t)
			spec.Process.NoNewPrivileges = tc.containerNNP
			sb := create(t, spec, "", false)
			sb.release(t)
			sp := baseSpec(rootfs, "sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; "+statusScript).Process
			sp.NoNewPrivileges = tc.execNNP
			none := capMask()
			want := "NoNewPrivs:\t" + tc.want + "\nSeccomp:\t2\n" + statusWant("0", "0", " ", none, defaultCapMask, defaultCapMask, defaultCapMask, none)
			if got := sb.execOK(t, "status", sp); got != want {
				t.Errorf("container nnp %v, exec nnp %v: stdout %q\nwant   %q", tc.containerNNP, tc.execNNP, got, want)
			}
		}
	})
	t.Run("seccomp rules", func(t *testing.T) {
		// The container's policy holds in an exec process, argument
		// conditions included: mkdir is refused (EACCES), chmod only
		// when the mode has the setuid bit (a masked comparison).
		setuid := func(idx uint) []specs.LinuxSeccompArg {
			return []specs.LinuxSeccompArg{{Index: idx, Value: 0o4000, ValueTwo: 0o4000, Op: specs.OpMaskedEqual}}
		}
		eacces, eperm := uint(13), uint(1)
		spec := baseSpec(rootfs, "sleep", "600")
		spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &eacces},
			{Names: []string{"chmod"}, Action: specs.ActErrno, ErrnoRet: &eperm, Args: setuid(1)},
			{Names: []string{"fchmodat"}, Action: specs.ActErrno, ErrnoRet: &eperm, Args: setuid(2)},
		}}
		sb := create(t, spec, "", false)
		sb.release(t)
		sp := baseSpec(rootfs, "sh", "-c", "mkdir /tmp/d 2>&1; touch /tmp/f; chmod 755 /tmp/f && echo chmod-ok; chmod 4755 /tmp/f 2>&1; "+
			"grep -E '^Seccomp:' /proc/self/status").Process
		got := sb.execOK(t, "rules", sp)
		for _, want := range []string{"Permission denied", "chmod-ok", "Operation not permitted", "Seccomp:\t2"} {
			if !strings.Contains(got, want) {
				t.Errorf("exec output %q lacks %q", got, want)
			}
		}
	})
	t.Run("cost", func(t *testing.T) {
		// Logged, not asserted: Exec (attach, set up, "ready") and the
		// whole exec of true, for docs/adr/0003-exec.md.
		var ready, total []time.Duration
		for i := range 10 {
			proc, err := lxcrun.ExecProcess(baseSpec(rootfs, "true").Process)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			p, err := b.c.Exec(context.Background(), fmt.Sprintf("cost-%d", i), proc, lxcrun.Stdio{})
			if err != nil {
				t.Fatal(err)
			}
			ready = append(ready, time.Since(start))
			if st, err := p.Wait(context.Background()); err != nil || st != (lxcrun.Status{}) {
				t.Fatalf("Wait: %v %v", st, err)
			}
			total = append(total, time.Since(start))
			p.Delete(context.Background())
		}
		slices.Sort(ready)
		slices.Sort(total)
		t.Logf("exec of true, 10 runs: ready median %v, exited median %v", ready[5], total[5])
	})
	// The container runs on.
	if err := b.c.Kill(context.Background(), 0); err != nil {
		t.Errorf("container after the execs: %v", err)
	}
}

// sameCgroup reports whether /proc/PID/cgroup contents exec name init's
// cgroups or cgroups below them (on cgroup2 LXC attaches to a leaf,
// .lxc, under the container's cgroup).
func sameCgroup(init, exec string) bool {
	il, el := strings.Split(strings.TrimSpace(init), "\n"), strings.Split(strings.TrimSpace(exec), "\n")
	if len(il) != len(el) || len(il) == 0 || il[0] == "" {
		return false
	}
	for i := range il {
		if el[i] != il[i] && !strings.HasPrefix(el[i], il[i]+"/") {
			return false
		}
	}
	return true
}

// TestNewConsole starts process.terminal containers with Stdio.NewConsole:
// zfslxc-init makes the pty in the container's own devpts (ttyname works,
// as under runc) and the master comes back from Start.
func TestNewConsole(t *testing.T) {
	requireLXC(t)
	for _, reaper := range []bool{false, true} {
		t.Run(fmt.Sprintf("reaper=%v", reaper), func(t *testing.T) {
			rootfs := filepath.Join(t.TempDir(), "rootfs")
			makeRootfs(t, rootfs)
			spec := baseSpec(rootfs, "sh", "-c", "tty; stty size; "+ctlTTYScript+"; read l; echo got=$l; exit 6")
			spec.Process.Terminal = true
			spec.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
			b := prepare(t, spec, reaper)
			b.start(t, lxcrun.Stdio{NewConsole: true})
			master := b.c.Console()
			if master == nil {
				t.Fatal("no console after Start")
			}
			defer master.Close()
			if b.c.Console() != nil {
				t.Error("a second Console() returned the master again")
			}
			out := &syncBuffer{}
			copied := make(chan error, 1)
			go func() {
				_, err := io.Copy(out, master)
				copied <- err
			}()
			b.release(t)
			waitFor(t, out, "via-dev-tty")
			if _, err := io.WriteString(master, "typed\n"); err != nil {
				t.Fatal(err)
			}
			if st := b.wait(t); st != (lxcrun.Status{Code: 6}) {
				t.Errorf("status %v, want exited 6", st)
			}
			select {
			case err := <-copied:
				if !errors.Is(err, syscall.EIO) {
					t.Errorf("reading the master: %v, want EIO", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the master did not report EIO after the container ended")
			}
			got := out.String()
			for _, w := range []string{"/dev/pts/0\r\n", "33 101\r\n", "ctty-ok\r\n", "via-dev-tty\r\n", "got=typed\r\n"} {
				if !strings.Contains(got, w) {
					t.Errorf("output %q lacks %q", got, w)
				}
			}
		})
	}
}

// execOK runs sp in b's container as exec id and returns its stdout; it
// fails t unless the exec exits 0.
func (b *box) execOK(t *testing.T, id string, sp *specs.Process) string {
	t.Helper()
	proc, err := lxcrun.ExecProcess(sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	p, err := b.c.Exec(ctx, id, proc, lxcrun.Stdio{Stdout: out, Stderr: errOut})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	defer p.Delete(context.Background())
	if st, err := p.Wait(ctx); err != nil || st != (lxcrun.Status{}) {
		t.Fatalf("Wait: %v %v (stderr %q)", st, err, errOut.String())
	}
	return out.String()
}
