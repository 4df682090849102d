package shim_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// parallelN is how many containers TestParallel starts at once.
const parallelN = 20

// gcTimeout bounds the wait for containerd's garbage collection to remove
// the containers' snapshots.
const gcTimeout = time.Minute

// parallelKind is what one of the parallel containers does.
type parallelKind int

const (
	printsAndExits parallelKind = iota // output on both streams, exit code i
	diesAtOnce                         // `true`: exits right after Start
	missingBinary                      // args[0] does not exist: create fails
)

func kindOf(i int) parallelKind {
	switch i % 5 {
	case 3:
		return diesAtOnce
	case 4:
		return missingBinary
	}
	return printsAndExits
}

// TestParallel starts 20 containers at once with `ctr run --rm` on our
// shim and the zfslxc snapshotter (each flavor): most print to stdout and
// stderr and exit with their own code, some exit as soon as they are
// started, some name a binary that does not exist (ctr run fails with
// that name). Each gets its own output and status; afterwards nothing is
// left: no task, container, bundle, mount, shim or zfslxc-start process,
// cgroup, and no dataset but the image's layers.
func TestParallel(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			prefix := fmt.Sprintf("par%d-", os.Getpid()) // unique on the host: cgroups and processes are global
			datasetsBefore := e.datasets(t)
			mountsBefore := mountLines(t, e.dataset)

			type result struct {
				stdout, stderr string
				code           int
				err            error // not an exit status
			}
			results := make([]result, parallelN)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			start := time.Now()
			for i := range parallelN {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("%s%d", prefix, i)
					args := []string{"run", "--rm", "--snapshotter", sn, "--runtime", runtimeType, e.ref, id}
					switch kindOf(i) {
					case printsAndExits:
						args = append(args, sh(`echo "out $1"; echo "err $1" >&2; exit "$1"`, fmt.Sprint(i))...)
					case diesAtOnce:
						args = append(args, "true")
					case missingBinary:
						args = append(args, fmt.Sprintf("/no/such/cmd-%d", i))
					}
					stdout, stderr, err := e.d.CtrContext(ctx, args...)
					r := result{stdout: stdout, stderr: ctrLogLine.ReplaceAllString(stderr, "")}
					var ee *exec.ExitError
					if errors.As(err, &ee) && ctx.Err() == nil {
						r.code = ee.ExitCode()
					} else if err != nil {
						r.err = err
					}
					results[i] = r
				}()
			}
			wg.Wait()
			took := time.Since(start)
			t.Logf("%d containers in parallel: %v", parallelN, took.Round(time.Millisecond))
			for i, r := range results {
				id := fmt.Sprintf("%s%d", prefix, i)
				if r.err != nil {
					t.Errorf("%s: %v", id, r.err)
					continue
				}
				switch kindOf(i) {
				case printsAndExits:
					if r.stdout != fmt.Sprintf("out %d\n", i) || r.stderr != fmt.Sprintf("err %d\n", i) || r.code != i {
						t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, out %d, err %d", id, r.code, r.stdout, r.stderr, i, i, i)
					}
				case diesAtOnce:
					if r.stdout != "" || r.stderr != "" || r.code != 0 {
						t.Errorf("%s (true): exit %d, stdout %q, stderr %q; want exit 0 and no output", id, r.code, r.stdout, r.stderr)
					}
				case missingBinary:
					if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf("/no/such/cmd-%d", i)) {
						t.Errorf("%s: exit %d, stderr %q; want a failure naming /no/such/cmd-%d", id, r.code, r.stderr, i)
					} else if i == 4 {
						t.Logf("missing binary: %s", strings.TrimSpace(r.stderr))
					}
				}
			}
			if t.Failed() {
				t.Log(e.d.LogTail(60))
			}

			for i := range parallelN {
				e.checkClean(t, fmt.Sprintf("%s%d", prefix, i))
			}
			if p := procsMatching("-id "+prefix, "--name "+prefix); len(p) > 0 {
				t.Errorf("processes left: %v", p)
			}
			// containerd removes the snapshots in its garbage collection,
			// after `ctr run --rm` returns, at a rate it limits: the next
			// collection waits 50 times as long as the last one took
			// (pause_threshold 0.02), and a zfs-fuse destroy can take a
			// second, so 1.6 left most datasets for over a minute here.
			// Removing a spare tag with --sync runs a collection now.
			gcStart := time.Now()
			e.d.MustCtr(t, "images", "tag", e.ref, e.ref+"-gc")
			e.d.MustCtr(t, "images", "rm", "--sync", e.ref+"-gc")
			for {
				after, afterMounts := e.datasets(t), mountLines(t, e.dataset)
				if slices.Equal(after, datasetsBefore) && slices.Equal(afterMounts, mountsBefore) {
					t.Logf("snapshots removed %v after the last container", time.Since(gcStart).Round(time.Millisecond))
					break
				}
				if time.Since(gcStart) > gcTimeout {
					t.Errorf("%v after the containers: datasets %d (before: %d, the image layers), mounts %d (before: %d):\n%s\n%s",
						gcTimeout, len(after), len(datasetsBefore), len(afterMounts), len(mountsBefore), strings.Join(after, "\n"), strings.Join(afterMounts, "\n"))
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if left := mountLines(t, e.d.State); len(left) > 0 {
				t.Errorf("mounts left under containerd's state dir:\n%s", strings.Join(left, "\n"))
			}
			// Payload cgroups (cgroupsPath /default/ID) and LXC's monitor
			// cgroups (lxc.monitor.default.ID), v1 and v2.
			var cgs []string
			for _, pat := range []string{"/sys/fs/cgroup/*/default/*" + prefix + "*", "/sys/fs/cgroup/default/*" + prefix + "*",
				"/sys/fs/cgroup/*/lxc.monitor.default.*" + prefix + "*", "/sys/fs/cgroup/lxc.monitor.default.*" + prefix + "*"} {
				m, err := filepath.Glob(pat)
				if err != nil {
					t.Fatal(err)
				}
				cgs = append(cgs, m...)
			}
			if len(cgs) > 0 {
				t.Errorf("cgroups left: %v", cgs)
			}
		})
	}
}

// datasets lists the snapshotter's datasets (and their snapshots), sorted.
func (e *env) datasets(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", e.dataset).CombinedOutput()
	if err != nil {
		t.Fatalf("zfs list -r %s: %v: %s", e.dataset, err, out)
	}
	names := strings.Fields(string(out))
	slices.Sort(names)
	return names
}

// mountLines returns the mount points (sorted) of the mounts whose
// mountinfo line mentions s (as source or mount point).
func mountLines(t *testing.T, s string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.Contains(l, s) {
			found = append(found, f[4])
		}
	}
	slices.Sort(found)
	return found
}
