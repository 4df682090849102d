package task

import (
	"syscall"
	"testing"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
)

// TestSeveralTasks: one service serves a pod's sandbox and containers
// (the manager groups them into one shim): each task is addressed by its
// id, deleting one leaves the others running, and Shutdown makes the
// shim exit only once the last task is deleted.
func TestSeveralTasks(t *testing.T) {
	h := newHarness(t)
	shutdowns := 0
	h.s.cfg.Shutdown = func() { shutdowns++ }
	ids := []string{"pod", "c1", "c2"}
	for _, id := range ids {
		h.inState(id, "running")
	}
	ctx := h.ctx()
	pids := map[uint32]string{}
	for _, id := range ids {
		st, err := h.s.State(ctx, &taskapi.StateRequest{ID: id})
		if err != nil || st.ID != id {
			t.Fatalf("State %s = %v, %v", id, st, err)
		}
		if other, ok := pids[st.Pid]; ok {
			t.Errorf("%s and %s have pid %d", id, other, st.Pid)
		}
		pids[st.Pid] = id
		c, err := h.s.Connect(ctx, &taskapi.ConnectRequest{ID: id})
		if err != nil || c.TaskPid != st.Pid {
			t.Errorf("Connect %s: task pid %v, %v; want %d", id, c.GetTaskPid(), err, st.Pid)
		}
	}

	// c1 is stopped and deleted; containerd then asks the shim to shut
	// down, which it must not while pod and c2 run.
	h.must(h.s.Kill(ctx, &taskapi.KillRequest{ID: "c1", Signal: uint32(syscall.SIGKILL)}))
	h.must(h.s.Wait(ctx, &taskapi.WaitRequest{ID: "c1"}))
	h.must(h.s.Delete(ctx, &taskapi.DeleteRequest{ID: "c1"}))
	h.must(h.s.Shutdown(ctx, &taskapi.ShutdownRequest{ID: "c1"}))
	if shutdowns != 0 {
		t.Fatal("shim shut down with two tasks left")
	}
	if _, err := h.s.State(ctx, &taskapi.StateRequest{ID: "c1"}); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("State of deleted c1: %v, want NotFound", err)
	}
	for _, id := range []string{"pod", "c2"} {
		h.wantStatus(id, "", "running")
		if sigs := h.rt.container(id).signals; len(sigs) != 0 {
			t.Errorf("%s got signals %v", id, sigs)
		}
	}
	if _, err := h.s.Exec(ctx, &taskapi.ExecProcessRequest{ID: "c2", ExecID: "e", Spec: execSpec("true")}); err != nil {
		t.Errorf("exec in c2 after c1's delete: %v", err)
	}

	// The last two go: the shim exits after the last Shutdown.
	for i, id := range []string{"c2", "pod"} {
		h.must(h.s.Kill(ctx, &taskapi.KillRequest{ID: id, Signal: uint32(syscall.SIGKILL)}))
		h.must(h.s.Wait(ctx, &taskapi.WaitRequest{ID: id}))
		h.must(h.s.Delete(ctx, &taskapi.DeleteRequest{ID: id}))
		h.must(h.s.Shutdown(ctx, &taskapi.ShutdownRequest{ID: id}))
		if want := i; shutdowns != want {
			t.Fatalf("after deleting %s: %d shutdowns, want %d", id, shutdowns, want)
		}
	}
}
