package shim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	_ "github.com/containerd/containerd/v2/core/runtime" // registers specs.LinuxResources with typeurl
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestUpdate changes a running container's resources through
// containerd's Tasks.Update (what `nerdctl update` and the CRI's
// UpdateContainerResources call; ctr 1.6 and 2.4 have no `task update`)
// and reads the cgroup files back as the container sees them (the host's
// cgroup tree bound in at /cg): memory limit, cpu shares/quota/period,
// pids limit; a field the host cannot apply is refused with its name;
// a stopped task is NotFound.
func TestUpdate(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			id := fmt.Sprintf("update-%d", os.Getpid()) // cgroups are named after it, host-wide
			a := []string{"run", "-d", "--null-io", "--snapshotter", e.snap, "--runtime", runtimeType,
				"--memory-limit", "67108864", "--mount", "type=bind,src=/sys/fs/cgroup,dst=/cg,options=rbind:ro",
				e.ref, id, "sleep", "600"}
			if _, stderr, err := e.d.Ctr(t, a...); err != nil {
				t.Fatalf("ctr run -d: %v (%s)\n%s", err, stderr, e.d.LogTail(40))
			}
			initPid := e.waitRunning(t, id)
			cg := containerCgroup(t, initPid)
			if got := cg.read(t, "memory", "memory.limit_in_bytes", "memory.max"); got != "67108864" {
				t.Fatalf("memory limit at create: %q, want 67108864", got)
			}

			ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "default"), time.Minute)
			defer cancel()
			tasks := tasksClient(t, e.d.Address)
			update := func(r *specs.LinuxResources) error {
				res, err := typeurl.MarshalAnyToProto(r)
				if err != nil {
					t.Fatal(err)
				}
				_, err = tasks.Update(ctx, &tasksapi.UpdateTaskRequest{ContainerID: id, Resources: res})
				return err
			}

			mem, quota, shares, period, pids := int64(128<<20), int64(20000), uint64(256), uint64(100000), int64(64)
			if err := update(&specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: &mem},
				CPU:    &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period},
				Pids:   &specs.LinuxPids{Limit: &pids},
			}); err != nil {
				t.Fatalf("update: %v\n%s", err, e.d.LogTail(40))
			}
			for _, c := range []struct{ ctrl, v1, v2, want string }{
				{"memory", "memory.limit_in_bytes", "memory.max", "134217728"},
				{"cpu", "cpu.shares", "cpu.weight", map[bool]string{false: "256", true: "10"}[cg.v2]},
				{"cpu", "cpu.cfs_quota_us", "cpu.max", map[bool]string{false: "20000", true: "20000 100000"}[cg.v2]},
				{"pids", "pids.max", "pids.max", "64"},
			} {
				if got := cg.read(t, c.ctrl, c.v1, c.v2); got != c.want {
					t.Errorf("after update: %s = %q, want %q", c.v1, got, c.want)
				}
			}
			// Only what is given changes.
			if err := update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: func() *int64 { v := int64(-1); return &v }()}}); err != nil {
				t.Fatalf("update pids: %v", err)
			}
			if got := cg.read(t, "pids", "pids.max", "pids.max"); got != "max" {
				t.Errorf("pids.max = %q after -1, want max", got)
			}
			if got := cg.read(t, "memory", "memory.limit_in_bytes", "memory.max"); got != "134217728" {
				t.Errorf("memory limit changed by a pids update: %q", got)
			}

			// Refusals name the field; nothing is applied.
			bad := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Unified: map[string]string{"memory.high": "1"}}
			want := "linux.resources.unified: needs a cgroup v2 host"
			if cg.v2 {
				bad = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, CPU: &specs.LinuxCPU{RealtimeRuntime: &quota}}
				want = "linux.resources.cpu.realtimeRuntime"
			}
			err := update(bad)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), want) {
				t.Errorf("update with an unsupported field: %v (code %v), want InvalidArgument naming %q", err, status.Code(err), want)
			} else {
				t.Logf("refused: %v", err)
			}
			if _, err := tasks.Update(ctx, &tasksapi.UpdateTaskRequest{ContainerID: id}); status.Code(err) != codes.InvalidArgument {
				t.Errorf("update without resources: %v, want InvalidArgument", err)
			}

			if _, stderr, err := e.d.Ctr(t, "task", "kill", "-s", "KILL", id); err != nil {
				t.Fatalf("ctr task kill: %v %s", err, stderr)
			}
			e.waitStatus(t, id, "STOPPED")
			if err := update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &pids}}); status.Code(err) != codes.NotFound {
				t.Errorf("update of a stopped task: %v, want NotFound", err)
			}
			e.d.MustCtr(t, "task", "rm", id)
			e.d.MustCtr(t, "containers", "rm", id)
			e.checkClean(t, id)
		})
	}
}

// waitRunning waits until id is RUNNING and returns init's host pid.
func (e *env) waitRunning(t *testing.T, id string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ := e.d.Ctr(t, "task", "ls")
		if pid := runningPid(out, id); pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not running after 30s: task ls %q", id, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tasksClient(t *testing.T, address string) tasksapi.TasksClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return tasksapi.NewTasksClient(conn)
}

// ctrCgroup is a container's cgroup as seen from inside it: the host's
// cgroup tree is bound at /cg, read through init's root.
type ctrCgroup struct {
	root  string            // /proc/PID/root/cg
	v2    bool              // unified hierarchy
	paths map[string]string // v1 controller -> cgroup path; "" -> v2 path
}

func containerCgroup(t *testing.T, pid int) *ctrCgroup {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	cg := &ctrCgroup{root: fmt.Sprintf("/proc/%d/root/cg", pid), paths: map[string]string{}}
	_, err = os.Stat("/sys/fs/cgroup/cgroup.controllers")
	cg.v2 = err == nil
	for _, l := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			cg.paths[c] = parts[2]
		}
	}
	return cg
}

// read returns a cgroup file's content, trimmed: file v1 of controller
// ctrl's hierarchy on a v1 host, file v2 of the unified one on v2.
func (c *ctrCgroup) read(t *testing.T, ctrl, v1, v2 string) string {
	t.Helper()
	p := filepath.Join(c.root, ctrl, c.paths[ctrl], v1)
	if c.v2 {
		p = filepath.Join(c.root, c.paths[""], v2)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading the container's %s: %v", v1, err)
	}
	return strings.TrimSpace(string(data))
}
