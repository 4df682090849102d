package shim_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// templateOp is a `zfslxc template create` the template sweep runs: from
// the sweep image's layout tar (unpacked by zfslxc), or from the test
// registry (pulled through containerd into the snapshotter, then a clone
// of its top layer).
type templateOp struct {
	name string
	from string
	ref  string // the image containerd records ("" for a layout)
}

// sweepTemplate runs op once to count the zfs commands of zfslxc and of
// the snapshotter, then again for k = 1..count with v killed after the
// k-th. After each kill: v restarted, the same create run again must work
// (replacing what the killed one left), the template must hold the image's
// files, and after `template rm` and the image's removal nothing may be
// left: no template dataset, no lease, the pool and containerd holding
// exactly the base image. It returns the number of fault points tried.
func (e *env) sweepTemplate(t *testing.T, op templateOp, v sweepVictim, zfslxcProc *zfslxcRun, layers []string, snaps int) int {
	pool, _, _ := strings.Cut(e.dataset, "/")
	parent := pool + "/sweep-templates"
	const name = "sweep"
	args := []string{"--log-level", "debug", "template", "create", name, "--from", op.from, "--dataset", parent,
		"--address", e.d.Address, "--snapshotter", e.snap, "--plain-http", "-q"}
	clean := func(t *testing.T) {
		t.Helper()
		// Absent after a create killed before its end: that is fine.
		if out, err := e.zfslxcTry(t, "template", "rm", name, "--dataset", parent); err != nil && !strings.Contains(out, "not found") {
			t.Errorf("template rm: %v: %s", err, out)
		}
		if op.ref != "" {
			e.d.Ctr(t, "images", "rm", "--sync", op.ref)
		}
		e.checkOrphans(t, "", layers, snaps)
		if left := containerdtest.ChildDatasets(t, parent); len(left) > 0 {
			t.Errorf("template datasets left: %v", left)
		}
	}
	createOK := func(t *testing.T) {
		t.Helper()
		out := e.zfslxc(t, args...)
		if !strings.Contains(out, "template "+name+": ") {
			t.Errorf("template create printed %q", out)
		}
		if err := checkTemplateFiles(parent+"/"+name, imagebuild.MultiLayerExpected()); err != nil {
			t.Error(err)
		}
	}
	clock := func() int { return zfsCommands(t, e.sn.LogPath) + zfslxcProc.commands() }
	from := clock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err := <-zfslxcProc.start(ctx, t, binDir(t), args...)
	cancel()
	if err != nil {
		t.Fatalf("zfslxc %s: %v (log %s)", strings.Join(args, " "), err, zfslxcProc.log)
	}
	n := clock() - from
	if err := checkTemplateFiles(parent+"/"+name, imagebuild.MultiLayerExpected()); err != nil {
		t.Error(err)
	}
	clean(t)
	t.Logf("%s runs %d zfs commands (zfslxc and the snapshotter)", op.name, n)
	tried := 0
	for k := 1; k <= n; k++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := clock()
		done := zfslxcProc.start(ctx, t, binDir(t), args...)
		at := waitClock(clock, start+k, done)
		v.kill(t)
		err := <-done
		if ctx.Err() != nil {
			t.Errorf("k=%d: zfslxc still ran 2 min after the %s was killed after command %d (hung); killed: %v\n%s",
				k, v.name, at-start, err, zfslxcProc.tail(30))
		}
		cancel()
		v.restart(t)
		if at < 0 {
			t.Logf("k=%d: the %s ended (%v) before command %d; stopping", k, op.name, err, k)
			clean(t)
			break
		}
		tried++
		createOK(t)
		clean(t)
		if t.Failed() {
			t.Fatalf("k=%d (killed after command %d): see above", k, at-start)
		}
	}
	t.Logf("%s killed at %d points of a %s", v.name, tried, op.name)
	return tried
}

// zfslxcRun runs `zfslxc` in the background with its debug log (one line
// per zfs command) appended to a file, so a sweep can kill it after the
// k-th command.
type zfslxcRun struct {
	log  string
	mu   sync.Mutex
	proc *os.Process // the running one; guarded by mu
}

func newZfslxcRun(t *testing.T) *zfslxcRun {
	return &zfslxcRun{log: filepath.Join(t.TempDir(), "zfslxc.log")}
}

// commands counts the zfs commands logged so far.
func (r *zfslxcRun) commands() int { return countZfsCommands(r.log) }

// tail is the last n lines of the log.
func (r *zfslxcRun) tail(n int) string {
	data, _ := os.ReadFile(r.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// start runs bin/zfslxc args; done delivers its error.
func (r *zfslxcRun) start(ctx context.Context, t *testing.T, bin string, args ...string) chan error {
	t.Helper()
	done := make(chan error, 1)
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "zfslxc"), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	r.mu.Lock()
	r.proc = cmd.Process
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		done <- err
	}()
	return done
}

// kill kills the running zfslxc with SIGKILL (its zfs child, if any, runs
// on, as after a crash).
func (r *zfslxcRun) kill(t *testing.T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.Kill()
	}
}

// zfslxc runs bin/zfslxc args in the foreground (stderr and stdout
// together) and fails the test if it fails.
func (e *env) zfslxc(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.zfslxcTry(t, args...)
	if err != nil {
		t.Fatalf("zfslxc %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// zfslxcTry is zfslxc that returns the error.
func (e *env) zfslxcTry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir(t), "zfslxc"), args...).CombinedOutput()
	return string(out), err
}

// waitClock polls clock until it reaches n and returns its value then, or
// -1 when done delivers first (the value is put back).
func waitClock(clock func() int, n int, done chan error) int {
	for {
		if c := clock(); c >= n {
			return c
		}
		select {
		case err := <-done:
			done <- err
			return -1
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// execFaultSteps are the fault points of zfslxc-init (built with -tags
// faultpoints) in an exec, in order: after reading the process, the
// umask, entering the cwd, the rlimits, the user change, finding args[0],
// and after reporting "ready" (just before exec).
var execFaultSteps = []string{"read", "umask", "cwd", "rlimits", "user", "lookpath", "ready"}

// execFaultArmed is the file in the container that arms zfslxc-init's
// fault point (cmd/zfslxc-init/faultpoint_faults.go).
const execFaultArmed = "/.zfslxc-fault-armed"

// sweepExec kills zfslxc-init at each step of an exec into a running
// container: the exec fails (or, killed after "ready", exits 137), the
// container keeps running, no exec process or status file is left, the
// next exec works, and once the container is removed nothing is left.
// e must run the zfslxc-init of faultInitBinDir. It returns the number of
// fault points tried.
func (e *env) sweepExec(t *testing.T, layers []string, snaps int) int {
	tried := 0
	for _, step := range execFaultSteps {
		id := "sweep-exec-" + step
		// The container's env reaches its execs (ctr task exec copies the
		// container's process; 1.6's has no --env); the helper fires only
		// in an exec, once, when the armed file exists (execFaultArmed).
		e.d.MustCtr(t, "run", "-d", "--null-io", "--env", "ZFSLXC_INIT_FAULT="+step, "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, id, "sleep", "600")
		e.d.MustCtr(t, "task", "exec", "--exec-id", "arm", id, "touch", execFaultArmed)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, stderr, err := e.d.CtrContext(ctx, "task", "exec", "--exec-id", "fault", id, "/bin/sh", "-c", "echo ran")
		if ctx.Err() != nil {
			t.Errorf("%s: the exec whose zfslxc-init was killed at %q still ran after a minute (hung)", id, step)
		}
		cancel()
		tried++
		switch {
		case err == nil:
			t.Errorf("%s: the exec killed at %q succeeded: %q", id, step, out)
		case strings.Contains(out, "ran"):
			t.Errorf("%s: the exec killed at %q ran its command: %q", id, step, out)
		default:
			t.Logf("zfslxc-init killed at %-8s: %v", step, firstLine(ctrLogLine.ReplaceAllString(stderr, "")+err.Error()))
		}
		// The helper consumed the armed file: it did reach the step.
		if _, _, err := e.d.Ctr(t, "task", "exec", "--exec-id", "armed", id, "test", "-e", execFaultArmed); err == nil {
			t.Errorf("%s: zfslxc-init never reached %q (%s is still there)", id, step, execFaultArmed)
		}
		if ls := e.d.MustCtr(t, "task", "ls"); !running(ls, id) {
			t.Errorf("%s: the container stopped when its exec was killed at %q: %q", id, step, ls)
		}
		bundle := filepath.Join(e.d.State, "io.containerd.runtime.v2.task", "default", id)
		deadline := time.Now().Add(10 * time.Second)
		for {
			left := execLeftovers(bundle, id)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: 10s after the exec killed at %q: %v", id, step, left)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		out, _, err = e.d.Ctr(t, "task", "exec", "--exec-id", "next", id, "/bin/sh", "-c", "echo next")
		if err != nil || out != "next\n" {
			t.Errorf("%s: the exec after one killed at %q: %q, %v", id, step, out, err)
		}
		e.removeContainer(t, id)
		e.checkOrphans(t, id, layers, snaps)
		if t.Failed() {
			t.Fatalf("zfslxc-init killed at %q: see above", step)
		}
	}
	t.Logf("zfslxc-init killed at %d points of an exec", tried)
	return tried
}

// sweepInit stops the container's init (zfslxc-init built with -tags
// faultpoints) at each step of its set-up during `ctr run -d` and kills
// victim from the host with SIGKILL there: init itself, or LXC's monitor
// ("zfslxc-start": it lives until init is ready, ADR 0007, and init has no
// parent-death signal, so the shim must take init along). The run fails
// (or, init killed after "ready", the task ends 137), nothing is left once
// the container is removed, and the next run of the image works. It
// returns the number of fault points tried.
func (e *env) sweepInit(t *testing.T, victim string, layers []string, snaps int) int {
	tried := 0
	for _, step := range execFaultSteps {
		if victim == "zfslxc-start" && step == "ready" {
			continue // the shim has ended the monitor by then
		}
		id := "sweep-init-" + step
		if victim != "init" {
			id = "sweep-mon-" + step
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		done := make(chan error, 1)
		go func() {
			_, _, err := e.d.CtrContext(ctx, "run", "-d", "--null-io", "--env", "ZFSLXC_INIT_FAULT_INIT="+step, "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, id, "sleep", "600")
			done <- err // its text ends with ctr's stderr
		}()
		rootfs := filepath.Join(e.d.State, "io.containerd.runtime.v2.task", "default", id, "rootfs")
		pid, err := waitInitAt(ctx, rootfs, id, step, done)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v\n%s", id, err, e.d.LogTail(30))
		}
		if victim != "init" {
			pid = parentPid(t, pid)
		}
		if err := unix.Kill(pid, unix.SIGKILL); err != nil {
			t.Errorf("%s: kill -9 of %s %d at %q: %v", id, victim, pid, step, err)
		}
		var runErr error
		select {
		case runErr = <-done:
		case <-ctx.Done():
			t.Errorf("%s: ctr run still ran 2 minutes after its %s was killed at %q (hung)", id, victim, step)
		}
		cancel()
		tried++
		if step != "ready" && runErr == nil {
			t.Errorf("%s: ctr run succeeded although its %s was killed at %q", id, victim, step)
		}
		if ls, _, _ := e.d.Ctr(t, "task", "ls"); running(ls, id) {
			t.Errorf("%s: the task runs after its %s was killed at %q: %q", id, victim, step, ls)
		}
		t.Logf("%s killed at %-8s: ctr run: %v", victim, step, runErr)
		e.removeContainer(t, id)
		e.checkOrphans(t, id, layers, snaps)
		next := id + "-next"
		out, _, err := e.d.Ctr(t, "run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, next, "/bin/sh", "-c", "echo next")
		if err != nil || out != "next\n" {
			t.Errorf("%s: the run after a %s killed at %q: %q, %v", id, victim, step, out, err)
		}
		e.checkOrphans(t, next, layers, snaps)
		if t.Failed() {
			t.Fatalf("%s killed at init's step %q: see above", victim, step)
		}
	}
	t.Logf("%s killed at %d points of init's set-up", victim, tried)
	return tried
}

// waitInitAt waits until the init of container id has written the fault
// step it stopped at into rootfs (see cmd/zfslxc-init/faultpoint_faults.go)
// and returns its host pid: the child of the container's zfslxc-start that
// is PID 1 of its pid namespace. It fails if ctr run ends first (done).
func waitInitAt(ctx context.Context, rootfs, id, step string, done chan error) (int, error) {
	for {
		if b, err := os.ReadFile(filepath.Join(rootfs, ".zfslxc-fault-reached")); err == nil && string(b) == step {
			if pid := containerInit(id); pid > 0 {
				return pid, nil
			}
		}
		select {
		case err := <-done:
			done <- err
			return 0, fmt.Errorf("ctr run ended before its init reached %q: %v", step, err)
		case <-ctx.Done():
			return 0, fmt.Errorf("the init never reached %q", step)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// containerInit is the host pid of container id's init (0 if none): a
// child of its zfslxc-start (not an --attach one) or, once that has ended
// (ADR 0007), of its shim, whose pid in its own namespace is 1.
func containerInit(id string) int {
	parents := map[string]bool{}
	for _, p := range procsMatching("--name "+id+" ", "-id "+id+" ") {
		if !strings.Contains(p, "--attach") {
			parents[p[:strings.IndexByte(p, ':')]] = true
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		st := procStatus(pid)
		nspid := strings.Fields(st["NSpid"])
		if parents[st["PPid"]] && len(nspid) > 1 && nspid[len(nspid)-1] == "1" {
			return pid
		}
	}
	return 0
}

// sweepExecMonitor kills an exec's LXC monitor (zfslxc-start --attach)
// while the exec's process runs: `ctr task exec` returns, the container
// keeps running with its init as its only process (the exec's process does
// not run on untracked), nothing of the exec is left, the next exec works.
// It returns the number of fault points tried (1).
func (e *env) sweepExecMonitor(t *testing.T, layers []string, snaps int) int {
	id := "sweep-exec-monitor"
	e.d.MustCtr(t, "run", "-d", "--null-io", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, id, "sleep", "600")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := e.d.CtrContext(ctx, "task", "exec", "--exec-id", "long", id, "sleep", "600")
		done <- err
	}()
	// The monitor is the shim's child; liblxc's attach forks a helper
	// with the same command line under it.
	var monitor int
	for deadline := time.Now().Add(30 * time.Second); monitor == 0; time.Sleep(20 * time.Millisecond) {
		for _, p := range procsMatching("--name " + id + " ") {
			var pid int
			pids, cmd, _ := strings.Cut(p, ": ")
			fmt.Sscan(pids, &pid)
			if strings.Contains(cmd, "--attach") && !strings.Contains(parentCmdline(pid), "zfslxc-start") {
				monitor = pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no zfslxc-start --attach for the exec within 30s", id)
		}
	}
	// Let the exec's process start (ps shows it), then kill its monitor.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.Count(strings.TrimSpace(e.d.MustCtr(t, "task", "ps", id)), "\n") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the exec's process is not in ctr task ps within 30s", id)
		}
	}
	syscall.Kill(monitor, syscall.SIGKILL)
	err := <-done
	if ctx.Err() != nil {
		t.Errorf("%s: ctr task exec still ran a minute after its monitor was killed (hung)", id)
	}
	t.Logf("zfslxc-start --attach killed while the exec runs: ctr task exec: %v", err)
	if ls := e.d.MustCtr(t, "task", "ls"); !running(ls, id) {
		t.Errorf("%s: the container stopped when its exec's monitor was killed: %q", id, ls)
	}
	bundle := filepath.Join(e.d.State, "io.containerd.runtime.v2.task", "default", id)
	var ps string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ps = strings.TrimSpace(e.d.MustCtr(t, "task", "ps", id))
		left := execLeftovers(bundle, id)
		if strings.Count(ps, "\n") == 1 && len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: 10s after the exec's monitor was killed: ctr task ps:\n%s\nleft: %v", id, ps, left)
			break
		}
	}
	if out, _, err := e.d.Ctr(t, "task", "exec", "--exec-id", "next", id, "/bin/sh", "-c", "echo next"); err != nil || out != "next\n" {
		t.Errorf("%s: the exec after the killed one: %q, %v", id, out, err)
	}
	e.removeContainer(t, id)
	e.checkOrphans(t, id, layers, snaps)
	return 1
}

// parentCmdline is the command line of pid's parent, "" if unknown.
func parentCmdline(pid int) string {
	ppid := procStatus(pid)["PPid"]
	if ppid == "" {
		return ""
	}
	cmd, _ := os.ReadFile("/proc/" + ppid + "/cmdline")
	return string(cmd)
}

// execLeftovers lists what is left of a container's execs: zfslxc-start
// --attach processes and exec status files.
func execLeftovers(bundle, id string) []string {
	var left []string
	for _, p := range procsMatching("--name " + id + " ") {
		if strings.Contains(p, "--attach") {
			left = append(left, "process "+p)
		}
	}
	for _, pat := range []string{filepath.Join(bundle, "lxc", "exec", "*"), filepath.Join(bundle, "lxc", "*", "exec", "*")} {
		m, _ := filepath.Glob(pat)
		for _, f := range m {
			left = append(left, "file "+f)
		}
	}
	slices.Sort(left)
	return left
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// faultInitBinDir returns a directory with the binaries of binDir, but a
// zfslxc-init built with -tags faultpoints (built once per test binary).
func faultInitBinDir(t *testing.T) string {
	t.Helper()
	faultInit.once.Do(func() { faultInit.dir, faultInit.err = buildFaultInit(binDir(t)) })
	if faultInit.err != nil {
		t.Fatalf("zfslxc-init with fault points: %v", faultInit.err)
	}
	return faultInit.dir
}

var faultInit struct {
	once sync.Once
	dir  string
	err  error
}

func buildFaultInit(bin string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the module (go env GOMOD is empty)")
	}
	dir := filepath.Join(imageDir, "faultbin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ents, err := os.ReadDir(bin)
	if err != nil {
		return "", err
	}
	for _, ent := range ents {
		if ent.Name() == "zfslxc-init" {
			continue
		}
		if err := os.Symlink(filepath.Join(bin, ent.Name()), filepath.Join(dir, ent.Name())); err != nil {
			return "", err
		}
	}
	cmd := exec.Command("go", "build", "-tags", "faultpoints", "-o", filepath.Join(dir, "zfslxc-init"), "./cmd/zfslxc-init")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags faultpoints: %v: %s", err, out)
	}
	return dir, nil
}
