package shim_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// envFaults runs TestFaultSweep (make faults): minutes, not for make test.
const envFaults = "ZFSLXC_TEST_FAULTS"

// TestFaultSweep kills a daemon with SIGKILL at every step of an
// operation, restarts it, removes what the operation made and checks that
// nothing is orphaned: no task, container, bundle, mount, shim, cgroup; the
// pool holds exactly the image's layers and containerd lists exactly as
// many snapshots; the next run works. The sweeps, on containerd 1.6 and
// 2.4:
//
//   - import: the snapshotter, or containerd, killed after each zfs
//     command the snapshotter runs while `ctr images import` unpacks a
//     3-layer image (the step clock is the snapshotter's log);
//   - pull: the same image pulled from a local registry with `ctr images
//     pull` (1.6 unpacks in ctr, 2.4 in containerd's transfer service):
//     the snapshotter, containerd or the registry killed after each zfs
//     command;
//   - lifecycle: the snapshotter, containerd or the shim killed after each
//     step of create, start, exec, kill, task delete, container delete (ctr
//     commands one by one) where it exists (LXC's monitor ends within
//     create since ADR 0007: see init);
//   - template: `zfslxc template create` from the image's layout tar
//     (zfslxc unpacks; zfslxc killed after each of its zfs commands), and
//     from the registry (pulled through containerd into the snapshotter,
//     then a clone of its top layer; zfslxc, the snapshotter or containerd
//     killed after each zfs command of either): the next create of the
//     same name works and holds the image's files, and after `template rm`
//     nothing is left (sweepTemplate);
//   - exec: zfslxc-init, built with -tags faultpoints, killed at each step
//     of an exec's set-up (sweepExec);
//   - init: the container's zfslxc-init stopped at each step of its set-up
//     during `ctr run`, and it or LXC's monitor killed there from the host
//     (sweepInit).
//
// The count of fault points tried is logged per containerd. Only with
// ZFSLXC_TEST_FAULTS=1 (make faults).
func TestFaultSweep(t *testing.T) {
	if os.Getenv(envFaults) == "" {
		t.Skipf("set %s=1 (make faults) to run the fault-point sweep", envFaults)
	}
	img, err := sweepImage()
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := reg.Push(ctx, sweepRepoTag, img); err != nil {
		t.Fatal(err)
	}
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			layers := containerdtest.ChildDatasets(t, e.dataset)
			snaps := e.ctrSnapshotCount(t)
			points := map[string]int{}
			ops := []unpackOp{
				e.importOp(t),
				{name: "pull", ref: reg.Ref(sweepRepoTag), args: []string{"images", "pull", "--plain-http", "--snapshotter", e.snap, reg.Ref(sweepRepoTag)}},
			}
			for _, op := range ops {
				victims := []sweepVictim{e.daemonVictim("snapshotter"), e.daemonVictim("containerd")}
				if op.name == "pull" {
					victims = append(victims, sweepVictim{
						name: "registry", kill: func(t *testing.T) { reg.Kill(t) },
						restart: func(t *testing.T) {
							if !reg.Running() {
								reg.Start(t)
							}
						},
					})
				}
				for _, v := range victims {
					t.Run(op.name+"/"+v.name, func(t *testing.T) {
						points[op.name] += e.sweepUnpack(t, op, v, layers, snaps)
					})
				}
			}
			for _, victim := range []string{"snapshotter", "containerd", "shim"} {
				t.Run("lifecycle/"+victim, func(t *testing.T) {
					points["lifecycle"] += e.sweepLifecycle(t, victim, layers, snaps)
				})
			}
			zr := newZfslxcRun(t)
			zv := sweepVictim{name: "zfslxc", kill: zr.kill, restart: func(*testing.T) {}}
			_, tar, err := sweepLayout.Get(filepath.Join(imageDir, "sweep.tar"), sweepImage)
			if err != nil {
				t.Fatal(err)
			}
			t.Run("template-layout/zfslxc", func(t *testing.T) {
				points["template"] += e.sweepTemplate(t, templateOp{name: "template create from a layout", from: tar}, zv, zr, layers, snaps)
			})
			pullOp := templateOp{name: "template create from a registry", from: reg.Ref(sweepRepoTag), ref: reg.Ref(sweepRepoTag)}
			for _, v := range []sweepVictim{zv, e.daemonVictim("snapshotter"), e.daemonVictim("containerd")} {
				t.Run("template-pull/"+v.name, func(t *testing.T) {
					points["template"] += e.sweepTemplate(t, pullOp, v, zr, layers, snaps)
				})
			}
			t.Run("exec/zfslxc-start", func(t *testing.T) {
				points["exec"] += e.sweepExecMonitor(t, layers, snaps)
			})
			t.Run("exec/zfslxc-init", func(t *testing.T) {
				dir := faultInitBinDir(t)
				t.Setenv(containerdtest.BinDirEnv, dir)
				ee := setup(t, f, sn)
				points["exec"] += ee.sweepExec(t, containerdtest.ChildDatasets(t, ee.dataset), ee.ctrSnapshotCount(t))
			})
			t.Run("run/zfslxc-init", func(t *testing.T) {
				dir := faultInitBinDir(t)
				t.Setenv(containerdtest.BinDirEnv, dir)
				ee := setup(t, f, sn)
				points["init"] += ee.sweepInit(t, "init", containerdtest.ChildDatasets(t, ee.dataset), ee.ctrSnapshotCount(t))
			})
			t.Run("run/zfslxc-start", func(t *testing.T) {
				dir := faultInitBinDir(t)
				t.Setenv(containerdtest.BinDirEnv, dir)
				ee := setup(t, f, sn)
				points["init"] += ee.sweepInit(t, "zfslxc-start", containerdtest.ChildDatasets(t, ee.dataset), ee.ctrSnapshotCount(t))
			})
			total := 0
			for _, n := range points {
				total += n
			}
			t.Logf("%s: fault points tried: %d (import %d, pull %d, lifecycle %d, template %d, exec %d, init %d)",
				f.Name, total, points["import"], points["pull"], points["lifecycle"], points["template"], points["exec"], points["init"])
		})
	}
}

// sweepRepoTag is the sweep image's name in the test registry.
const sweepRepoTag = "zfslxc/sweep:v1"

var sweepLayout imagebuild.LayoutOnce

// sweepImage is the 3-layer image the import and pull sweeps unpack.
func sweepImage() (*imagebuild.Image, error) {
	return imagebuild.MultiLayerTestImage("docker.io/zfslxc/sweep:latest", imagebuild.DefaultBusyboxPath)
}

// unpackOp is a ctr command that unpacks the sweep image into the
// snapshotter, and the image name it records.
type unpackOp struct {
	name string
	ref  string
	args []string
}

// importOp is `ctr images import` of the sweep image's layout tar.
func (e *env) importOp(t *testing.T) unpackOp {
	ref, tar, err := sweepLayout.Get(filepath.Join(imageDir, "sweep.tar"), sweepImage)
	if err != nil {
		t.Fatal(err)
	}
	return unpackOp{name: "import", ref: ref, args: []string{"images", "import", "--snapshotter", e.snap, tar}}
}

// sweepVictim is a process a sweep kills, and how to bring it back.
type sweepVictim struct {
	name          string
	kill, restart func(t *testing.T)
}

// daemonVictim is the test's snapshotter or containerd.
func (e *env) daemonVictim(name string) sweepVictim {
	return sweepVictim{
		name:    name,
		kill:    func(t *testing.T) { e.kill(t, name, "") },
		restart: func(t *testing.T) { e.restart(t, name) },
	}
}

// sweepUnpack runs op once to count the snapshotter's zfs commands, then
// again for k = 1..count with v killed after the k-th; it returns the
// number of fault points tried.
func (e *env) sweepUnpack(t *testing.T, op unpackOp, v sweepVictim, layers []string, snaps int) int {
	from := zfsCommands(t, e.sn.LogPath)
	e.d.MustCtr(t, op.args...)
	n := zfsCommands(t, e.sn.LogPath) - from
	e.d.MustCtr(t, "images", "rm", "--sync", op.ref)
	e.checkOrphans(t, "", layers, snaps)
	t.Logf("%s runs %d zfs commands", op.name, n)
	tried := 0
	for k := 1; k <= n; k++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		done := make(chan error, 1)
		start := zfsCommands(t, e.sn.LogPath)
		go func() {
			_, _, err := e.d.CtrContext(ctx, op.args...)
			done <- err
		}()
		at := waitZfsCommands(e.sn.LogPath, start+k, done)
		v.kill(t)
		err := <-done
		if ctx.Err() != nil {
			t.Errorf("k=%d: the %s still ran 2 min after the %s was killed (hung); killed: %v", k, op.name, v.name, err)
		}
		cancel()
		v.restart(t)
		e.d.Ctr(t, "images", "rm", "--sync", op.ref)
		e.checkOrphans(t, "", layers, snaps)
		if at < 0 {
			t.Logf("k=%d: the %s ended (%v) before command %d; stopping", k, op.name, err, k)
			break
		}
		tried++
		// The next run of the operation works.
		e.d.MustCtr(t, op.args...)
		e.d.MustCtr(t, "images", "rm", "--sync", op.ref)
		e.checkOrphans(t, "", layers, snaps)
		if t.Failed() {
			t.Fatalf("k=%d (killed after command %d): see above", k, at-start)
		}
	}
	t.Logf("%s killed at %d points of a %s", v.name, tried, op.name)
	return tried
}

// sweepLifecycle runs a container's lifecycle step by step, killing
// victim after each step; it returns the number of fault points tried.
func (e *env) sweepLifecycle(t *testing.T, victim string, layers []string, snaps int) int {
	steps := []struct {
		name string
		args []string
	}{
		{"create", []string{"containers", "create", "--snapshotter", e.snap, "--runtime", runtimeType, e.ref, "ID", "sleep", "600"}},
		{"start", []string{"task", "start", "-d", "--null-io", "ID"}},
		{"exec", []string{"task", "exec", "--exec-id", "x", "ID", "true"}},
		{"kill", []string{"task", "kill", "-s", "KILL", "ID"}},
		{"task-delete", nil}, // waits for the exit, then deletes
		{"container-delete", []string{"containers", "rm", "ID"}},
	}
	tried := 0
	for i := range steps {
		id := fmt.Sprintf("sweep-%s-%d", victim, i)
		for _, s := range steps[:i+1] {
			if s.args == nil {
				waitTaskGone(t, e, id)
				continue
			}
			args := make([]string, len(s.args))
			for j, a := range s.args {
				args[j] = strings.ReplaceAll(a, "ID", id)
			}
			e.d.MustCtr(t, args...)
		}
		if victim == "shim" && (i == 0 || i >= 4) {
			// No task before start; the shim exits with the task's
			// deletion.
			e.removeContainer(t, id)
			continue
		}
		e.kill(t, victim, id)
		e.restart(t, victim)
		tried++
		e.removeContainer(t, id)
		e.checkOrphans(t, id, layers, snaps)
		out, _, code := e.run(t, context.Background(), runtimeType, id+"-next")
		if code != 0 || !strings.Contains(out, "hello from") {
			t.Errorf("after %s killed after %s: the next run printed %q, exit %d", victim, steps[i].name, out, code)
		}
		if t.Failed() {
			t.Fatalf("%s killed after %s: see above", victim, steps[i].name)
		}
	}
	t.Logf("%s killed at %d points of a lifecycle", victim, tried)
	return tried
}

// kill sends SIGKILL to victim: one of the test's own daemons, or the shim
// of container id.
func (e *env) kill(t *testing.T, victim, id string) {
	t.Helper()
	switch victim {
	case "snapshotter":
		e.sn.Kill9(t)
	case "containerd":
		e.d.Kill9(t)
	case "shim":
		killed := 0
		for _, p := range procsMatching("-id " + id + " ") {
			pid, cmd, _ := strings.Cut(p, ": ")
			if n, err := strconv.Atoi(pid); err == nil && strings.Contains(cmd, shimBinary) {
				syscall.Kill(n, syscall.SIGKILL)
				killed++
			}
		}
		if killed == 0 {
			t.Fatalf("no %s of %s to kill", victim, id)
		}
	default:
		t.Fatalf("victim %q", victim)
	}
}

// restart starts victim again and waits until containerd reaches the
// snapshotter.
func (e *env) restart(t *testing.T, victim string) {
	t.Helper()
	switch victim {
	case "snapshotter":
		e.sn.Start(t)
	case "containerd":
		e.d.Restart(t)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := e.d.Ctr(t, "snapshots", "--snapshotter", e.snap, "ls"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd does not reach the snapshotter 30s after restarting the %s", victim)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// removeContainer removes whatever of id is left, ignoring errors (some
// steps never happened).
func (e *env) removeContainer(t *testing.T, id string) {
	t.Helper()
	e.d.Ctr(t, "task", "kill", "-s", "KILL", id)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, _, _ := e.d.Ctr(t, "task", "ls")
		if !running(out, id) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.d.Ctr(t, "task", "rm", "-f", id)
	e.d.Ctr(t, "containers", "rm", id)
}

// checkOrphans collects garbage and checks that nothing is left of id
// ("" for none) and that the pool and containerd hold exactly the base
// image's layers and snapshots. Two things outlive a killed operation
// until containerd's collection can take them, and are logged: the lease
// ctr took for it (24 h), which is removed here as its user would; and a
// snapshot the daemon made whose containerd side was never committed,
// which containerd's collection removes only after it removed something
// from that snapshotter (a throwaway snapshot is made and removed here).
func (e *env) checkOrphans(t *testing.T, id string, layers []string, snaps int) {
	t.Helper()
	leases := strings.Fields(e.d.MustCtr(t, "leases", "ls", "--quiet"))
	if len(leases) > 0 {
		t.Logf("leases left by the killed operation: %v", leases)
		e.d.MustCtr(t, append([]string{"leases", "rm", "--sync"}, leases...)...)
	}
	if ds := containerdtest.ChildDatasets(t, e.dataset); len(ds) != len(layers) {
		t.Logf("datasets before a collection that removes a snapshot: %v", ds)
	}
	throwaway := fmt.Sprintf("gc-%d", time.Now().UnixNano())
	e.d.MustCtr(t, "snapshots", "--snapshotter", e.snap, "prepare", throwaway)
	e.d.MustCtr(t, "snapshots", "--snapshotter", e.snap, "rm", throwaway)
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.gc(t)
		ds, n := containerdtest.ChildDatasets(t, e.dataset), e.ctrSnapshotCount(t)
		if len(ds) == len(layers) && n == snaps {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after 30s: datasets %v (want %d), containerd lists %d snapshots (want %d)\n%s", ds, len(layers), n, snaps, e.sn.LogTail(30))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if id != "" {
		e.checkClean(t, id)
		checkNoCgroup(t, id)
	}
}

// ctrSnapshotCount is the number of snapshots containerd lists for the
// zfslxc snapshotter.
func (e *env) ctrSnapshotCount(t *testing.T) int {
	t.Helper()
	out := e.d.MustCtr(t, "snapshots", "--snapshotter", e.snap, "ls")
	return len(strings.Split(strings.TrimSpace(out), "\n")) - 1 // header
}

// zfsCommands counts the zfs commands the snapshotter logged so far.
func zfsCommands(t *testing.T, log string) int {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(data, []byte(`msg="zfs command"`))
}

// waitZfsCommands waits until the log holds n zfs commands (waitClock).
func waitZfsCommands(log string, n int, done chan error) int {
	return waitClock(func() int { return countZfsCommands(log) }, n, done)
}

// countZfsCommands counts the zfs commands logged in the file at path
// (zfsdriver's debug line per command).
func countZfsCommands(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte(`msg="zfs command"`))
}
