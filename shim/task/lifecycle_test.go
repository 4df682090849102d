package task

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/zfslxc/zfslxc/shim/config"
)

// harness is a Service on a fake runtime, with a bundle per task.
type harness struct {
	t   *testing.T
	s   *Service
	rt  *fakeRuntime
	ev  *events
	dir string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	empty := filepath.Join(dir, "shim.toml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvPath, empty)
	h := &harness{t: t, rt: newFakeRuntime(), ev: &events{}, dir: dir}
	h.s = New(context.Background(), Config{Namespace: "test", Publisher: h.ev, Runtime: h.rt})
	return h
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// create makes task id in the created state.
func (h *harness) create(id string) {
	h.t.Helper()
	h.createSpec(id, &specs.Spec{Version: specs.Version, Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"}})
}

// createSpec makes task id of a bundle with spec in the created state.
func (h *harness) createSpec(id string, s *specs.Spec) {
	h.t.Helper()
	bundle := filepath.Join(h.dir, id)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		h.t.Fatal(err)
	}
	spec, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), spec, 0o600); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.s.Create(h.ctx(), &taskapi.CreateTaskRequest{ID: id, Bundle: bundle}); err != nil {
		h.t.Fatalf("Create %s: %v", id, err)
	}
}

// inState makes task id and brings it to st (created, running, paused,
// stopped).
func (h *harness) inState(id, st string) {
	h.t.Helper()
	h.create(id)
	ctx := h.ctx()
	if st == "created" {
		return
	}
	h.must(h.s.Start(ctx, &taskapi.StartRequest{ID: id}))
	switch st {
	case "paused":
		h.must(h.s.Pause(ctx, &taskapi.PauseRequest{ID: id}))
	case "stopped":
		h.rt.container(id).exit(lxcStatus(3))
		h.must(h.s.Wait(ctx, &taskapi.WaitRequest{ID: id}))
	}
	h.wantStatus(id, "", st)
}

func (h *harness) must(_ any, err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) wantStatus(id, execID, want string) {
	h.t.Helper()
	st, err := h.s.State(h.ctx(), &taskapi.StateRequest{ID: id, ExecID: execID})
	if err != nil {
		h.t.Fatalf("State %s/%s: %v", id, execID, err)
	}
	if got := strings.ToLower(st.Status.String()); got != want {
		h.t.Fatalf("State %s/%s = %s, want %s", id, execID, got, want)
	}
}

func execSpec(args ...string) *anypb.Any {
	a, err := typeurl.MarshalAnyToProto(&specs.Process{Args: args, Cwd: "/"})
	if err != nil {
		panic(err)
	}
	return a
}

func resources() *anypb.Any {
	limit := int64(1 << 20)
	a, err := typeurl.MarshalAnyToProto(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
	if err != nil {
		panic(err)
	}
	return a
}

// initCalls are the calls on a task's init whose answer depends on its
// state.
var initCalls = map[string]func(ctx context.Context, s *Service, id string) error{
	"start": func(ctx context.Context, s *Service, id string) error {
		_, err := s.Start(ctx, &taskapi.StartRequest{ID: id})
		return err
	},
	"delete": func(ctx context.Context, s *Service, id string) error {
		_, err := s.Delete(ctx, &taskapi.DeleteRequest{ID: id})
		return err
	},
	"pause": func(ctx context.Context, s *Service, id string) error {
		_, err := s.Pause(ctx, &taskapi.PauseRequest{ID: id})
		return err
	},
	"resume": func(ctx context.Context, s *Service, id string) error {
		_, err := s.Resume(ctx, &taskapi.ResumeRequest{ID: id})
		return err
	},
	"update": func(ctx context.Context, s *Service, id string) error {
		_, err := s.Update(ctx, &taskapi.UpdateTaskRequest{ID: id, Resources: resources()})
		return err
	},
	"exec": func(ctx context.Context, s *Service, id string) error {
		_, err := s.Exec(ctx, &taskapi.ExecProcessRequest{ID: id, ExecID: "e1", Spec: execSpec("true")})
		return err
	},
	"kill": func(ctx context.Context, s *Service, id string) error {
		_, err := s.Kill(ctx, &taskapi.KillRequest{ID: id, Signal: uint32(syscall.SIGUSR1)})
		return err
	},
}

// TestInitCallsInEveryState: every call on init in every state, allowed
// (OK) or refused: FailedPrecondition naming the state, NotFound for a
// kill once the process has ended and for anything once it is deleted.
func TestInitCallsInEveryState(t *testing.T) {
	const ok, fp, nf = codes.OK, codes.FailedPrecondition, codes.NotFound
	want := map[string]map[string]codes.Code{
		"created": {"start": ok, "delete": ok, "pause": fp, "resume": fp, "update": ok, "exec": fp, "kill": ok},
		"running": {"start": fp, "delete": fp, "pause": ok, "resume": fp, "update": ok, "exec": ok, "kill": ok},
		"paused":  {"start": fp, "delete": fp, "pause": fp, "resume": ok, "update": ok, "exec": fp, "kill": ok},
		"stopped": {"start": fp, "delete": ok, "pause": fp, "resume": fp, "update": nf, "exec": fp, "kill": nf},
		"deleted": {"start": nf, "delete": nf, "pause": nf, "resume": nf, "update": nf, "exec": nf, "kill": nf},
	}
	for st, calls := range want {
		for call, code := range calls {
			t.Run(st+"/"+call, func(t *testing.T) {
				h := newHarness(t)
				if st == "deleted" {
					h.inState("c", "stopped")
					h.must(h.s.Delete(h.ctx(), &taskapi.DeleteRequest{ID: "c"}))
				} else {
					h.inState("c", st)
				}
				err := initCalls[call](h.ctx(), h.s, "c")
				if got := status.Code(err); got != code {
					t.Fatalf("%s in %s state: %v (code %v), want %v", call, st, err, got, code)
				}
				if code == fp && !strings.Contains(err.Error(), "in "+st+" state") {
					t.Errorf("error %q does not name the state %s", err, st)
				}
			})
		}
	}
}

// TestInitTransitions: the state after each allowed call, and the events
// in order.
func TestInitTransitions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   string
		call   string
		to     string // "" once the task is gone
		events []string
	}{
		{"start", "created", "start", "running", []string{runtime.TaskStartEventTopic}},
		{"pause", "running", "pause", "paused", []string{runtime.TaskPausedEventTopic}},
		{"resume", "paused", "resume", "running", []string{runtime.TaskResumedEventTopic}},
		{"delete created", "created", "delete", "", []string{runtime.TaskExitEventTopic, runtime.TaskDeleteEventTopic}},
		{"delete stopped", "stopped", "delete", "", []string{runtime.TaskDeleteEventTopic}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.inState("c", tc.from)
			before := len(h.ev.list())
			if err := initCalls[tc.call](h.ctx(), h.s, "c"); err != nil {
				t.Fatal(err)
			}
			if tc.to == "" {
				if _, err := h.s.State(h.ctx(), &taskapi.StateRequest{ID: "c"}); status.Code(err) != codes.NotFound {
					t.Fatalf("State after delete: %v, want NotFound", err)
				}
			} else {
				h.wantStatus("c", "", tc.to)
			}
			if got := h.ev.list()[before:]; fmt.Sprint(got) != fmt.Sprint(tc.events) {
				t.Errorf("events %v, want %v", got, tc.events)
			}
		})
	}
}

// TestInitExit: init's exit from each live state is recorded once (Wait,
// State, Delete agree) and published after the start event.
func TestInitExit(t *testing.T) {
	for _, from := range []string{"created", "running", "paused"} {
		t.Run(from, func(t *testing.T) {
			h := newHarness(t)
			h.inState("c", from)
			h.rt.container("c").exit(lxcStatus(7))
			w, err := h.s.Wait(h.ctx(), &taskapi.WaitRequest{ID: "c"})
			if err != nil || w.ExitStatus != 7 {
				t.Fatalf("Wait = %v, %v; want 7", w, err)
			}
			h.wantStatus("c", "", "stopped")
			st, _ := h.s.State(h.ctx(), &taskapi.StateRequest{ID: "c"})
			if st.ExitStatus != 7 || !st.ExitedAt.AsTime().Equal(w.ExitedAt.AsTime()) {
				t.Errorf("State exit %d at %v, Wait %d at %v", st.ExitStatus, st.ExitedAt.AsTime(), w.ExitStatus, w.ExitedAt.AsTime())
			}
			d, err := h.s.Delete(h.ctx(), &taskapi.DeleteRequest{ID: "c"})
			if err != nil || d.ExitStatus != 7 {
				t.Fatalf("Delete = %v, %v; want status 7", d, err)
			}
			if n := h.ev.count(runtime.TaskExitEventTopic); n != 1 {
				t.Errorf("%d exit events, want 1", n)
			}
			evs := h.ev.list()
			if from != "created" && indexOf(evs, runtime.TaskStartEventTopic) > indexOf(evs, runtime.TaskExitEventTopic) {
				t.Errorf("exit published before start: %v", evs)
			}
		})
	}
}

// TestKillPausedThaws: SIGKILL to a paused task thaws it, so that the
// process can die (cgroup v1 freezer), as runc does.
func TestKillPausedThaws(t *testing.T) {
	h := newHarness(t)
	h.inState("c", "paused")
	h.must(h.s.Kill(h.ctx(), &taskapi.KillRequest{ID: "c", Signal: uint32(syscall.SIGKILL)}))
	w, err := h.s.Wait(h.ctx(), &taskapi.WaitRequest{ID: "c"})
	if err != nil || w.ExitStatus != 128+uint32(syscall.SIGKILL) {
		t.Fatalf("Wait = %v, %v; want 137", w, err)
	}
	if h.ev.count(runtime.TaskResumedEventTopic) != 1 {
		t.Errorf("events %v: want one resumed", h.ev.list())
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// execCalls are the calls on an exec process whose answer depends on its
// state.
var execCalls = map[string]func(ctx context.Context, s *Service, id, execID string) error{
	"start": func(ctx context.Context, s *Service, id, execID string) error {
		_, err := s.Start(ctx, &taskapi.StartRequest{ID: id, ExecID: execID})
		return err
	},
	"delete": func(ctx context.Context, s *Service, id, execID string) error {
		_, err := s.Delete(ctx, &taskapi.DeleteRequest{ID: id, ExecID: execID})
		return err
	},
	"kill": func(ctx context.Context, s *Service, id, execID string) error {
		_, err := s.Kill(ctx, &taskapi.KillRequest{ID: id, ExecID: execID, Signal: uint32(syscall.SIGUSR1)})
		return err
	},
	"resize": func(ctx context.Context, s *Service, id, execID string) error {
		_, err := s.ResizePty(ctx, &taskapi.ResizePtyRequest{ID: id, ExecID: execID, Width: 80, Height: 24})
		return err
	},
}

// execInState adds exec e1 to a running task c and brings it to st.
func (h *harness) execInState(st string) {
	h.t.Helper()
	h.inState("c", "running")
	ctx := h.ctx()
	h.must(h.s.Exec(ctx, &taskapi.ExecProcessRequest{ID: "c", ExecID: "e1", Spec: execSpec("sleep")}))
	if st == "created" {
		return
	}
	h.must(h.s.Start(ctx, &taskapi.StartRequest{ID: "c", ExecID: "e1"}))
	if st == "stopped" {
		h.rt.container("c").exec("e1").exit(lxcStatus(5))
		w, err := h.s.Wait(ctx, &taskapi.WaitRequest{ID: "c", ExecID: "e1"})
		if err != nil || w.ExitStatus != 5 {
			h.t.Fatalf("exec Wait = %v, %v; want 5", w, err)
		}
	}
	h.wantStatus("c", "e1", st)
}

// TestExecCallsInEveryState: as TestInitCallsInEveryState for an exec
// process (no terminal: resize is refused in every state but deleted).
func TestExecCallsInEveryState(t *testing.T) {
	const ok, fp, nf = codes.OK, codes.FailedPrecondition, codes.NotFound
	want := map[string]map[string]codes.Code{
		"created": {"start": ok, "delete": ok, "kill": fp, "resize": fp},
		"running": {"start": fp, "delete": fp, "kill": ok, "resize": fp},
		"stopped": {"start": fp, "delete": ok, "kill": nf, "resize": fp},
		"deleted": {"start": nf, "delete": nf, "kill": nf, "resize": nf},
	}
	for st, calls := range want {
		for call, code := range calls {
			t.Run(st+"/"+call, func(t *testing.T) {
				h := newHarness(t)
				if st == "deleted" {
					h.execInState("created")
					h.must(h.s.Delete(h.ctx(), &taskapi.DeleteRequest{ID: "c", ExecID: "e1"}))
				} else {
					h.execInState(st)
				}
				err := execCalls[call](h.ctx(), h.s, "c", "e1")
				if got := status.Code(err); got != code {
					t.Fatalf("%s in %s state: %v (code %v), want %v", call, st, err, got, code)
				}
				if code == fp && call != "resize" && !strings.Contains(err.Error(), "in "+st+" state") {
					t.Errorf("error %q does not name the state %s", err, st)
				}
			})
		}
	}
}

// TestExecStartFails: an exec that cannot start is stopped with 255, and
// Delete removes it.
func TestExecStartFails(t *testing.T) {
	h := newHarness(t)
	h.inState("c", "running")
	ctx := h.ctx()
	h.must(h.s.Exec(ctx, &taskapi.ExecProcessRequest{ID: "c", ExecID: "e1", Spec: execSpec("missing")}))
	if _, err := h.s.Start(ctx, &taskapi.StartRequest{ID: "c", ExecID: "e1"}); err == nil {
		t.Fatal("Start of a missing executable succeeded")
	}
	w, err := h.s.Wait(ctx, &taskapi.WaitRequest{ID: "c", ExecID: "e1"})
	if err != nil || w.ExitStatus != exitUnknown {
		t.Fatalf("Wait = %v, %v; want %d", w, err, exitUnknown)
	}
	h.wantStatus("c", "e1", "stopped")
	h.must(h.s.Delete(ctx, &taskapi.DeleteRequest{ID: "c", ExecID: "e1"}))
}

// TestConcurrentDeleteExecKill: Delete, Exec, exec Start, Kill and State
// race on one task (run with -race). Whatever wins, the task is deleted
// once, and no exec process outlives it.
func TestConcurrentDeleteExecKill(t *testing.T) {
	for round := 0; round < 20; round++ {
		h := newHarness(t)
		h.inState("c", "running")
		ctx := h.ctx()
		var wg sync.WaitGroup
		run := func(fn func()) {
			wg.Add(1)
			go func() { defer wg.Done(); fn() }()
		}
		for i := 0; i < 4; i++ {
			execID := fmt.Sprintf("e%d", i)
			run(func() {
				if _, err := h.s.Exec(ctx, &taskapi.ExecProcessRequest{ID: "c", ExecID: execID, Spec: execSpec("sleep")}); err == nil {
					_, _ = h.s.Start(ctx, &taskapi.StartRequest{ID: "c", ExecID: execID})
				}
			})
			run(func() { _, _ = h.s.Kill(ctx, &taskapi.KillRequest{ID: "c", Signal: uint32(syscall.SIGKILL)}) })
			run(func() { _, _ = h.s.Delete(ctx, &taskapi.DeleteRequest{ID: "c"}) })
			run(func() { _, _ = h.s.State(ctx, &taskapi.StateRequest{ID: "c"}) })
			run(func() { _, _ = h.s.Pids(ctx, &taskapi.PidsRequest{ID: "c"}) })
		}
		wg.Wait()
		if _, err := h.s.Wait(ctx, &taskapi.WaitRequest{ID: "c"}); err != nil && status.Code(err) != codes.NotFound {
			t.Fatalf("round %d: Wait: %v", round, err)
		}
		// Once init has exited, a Delete still running or a last one
		// removes the task.
		if _, err := h.s.Delete(ctx, &taskapi.DeleteRequest{ID: "c"}); err != nil && status.Code(err) != codes.NotFound {
			t.Fatalf("round %d: final Delete: %v", round, err)
		}
		if n := h.ev.count(runtime.TaskDeleteEventTopic); n != 1 {
			t.Fatalf("round %d: %d delete events, want 1: %v", round, n, h.ev.list())
		}
		c := h.rt.container("c")
		c.mu.Lock()
		for id, e := range c.execs {
			e.mu.Lock()
			if !e.deleted {
				t.Errorf("round %d: exec %s not deleted with its task", round, id)
			}
			e.mu.Unlock()
		}
		c.mu.Unlock()
		if _, err := h.s.get("c"); status.Code(toGRPC(err)) != codes.NotFound {
			t.Fatalf("round %d: task still there: %v", round, err)
		}
	}
}

// TestStateStatuses: State's status for each state of init.
func TestStateStatuses(t *testing.T) {
	for st, want := range map[string]tasktypes.Status{
		"created": tasktypes.Status_CREATED, "running": tasktypes.Status_RUNNING,
		"paused": tasktypes.Status_PAUSED, "stopped": tasktypes.Status_STOPPED,
	} {
		t.Run(st, func(t *testing.T) {
			h := newHarness(t)
			h.inState("c", st)
			r, err := h.s.State(h.ctx(), &taskapi.StateRequest{ID: "c"})
			if err != nil || r.Status != want {
				t.Fatalf("State = %v, %v; want %v", r, err, want)
			}
		})
	}
}

// TestOrphansSweptWithoutOwnPidNamespace: init's exit leads to a sweep of
// the container's cgroups (KillOrphans) only when the container has no
// pid namespace of its own, as runc's shim kills all only then; with its
// own, the kernel has ended everything before init's status is known.
func TestOrphansSweptWithoutOwnPidNamespace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ns    []specs.LinuxNamespace
		linux bool
		want  int
	}{
		{"own pid namespace", []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}}, true, 0},
		{"joined pid namespace (a pod's shareProcessNamespace)", []specs.LinuxNamespace{{Type: specs.PIDNamespace, Path: "/proc/1/ns/pid"}}, true, 1},
		{"host pid namespace", []specs.LinuxNamespace{{Type: specs.MountNamespace}}, true, 1},
		{"no linux section", nil, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			spec := &specs.Spec{Version: specs.Version, Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"}}
			if tc.linux {
				spec.Linux = &specs.Linux{Namespaces: tc.ns}
			}
			h.createSpec("c", spec)
			ctx := h.ctx()
			h.must(h.s.Start(ctx, &taskapi.StartRequest{ID: "c"}))
			c := h.rt.container("c")
			c.exit(lxcStatus(0))
			h.must(h.s.Wait(ctx, &taskapi.WaitRequest{ID: "c"}))
			c.mu.Lock()
			got := c.sweeps
			c.mu.Unlock()
			if got != tc.want {
				t.Errorf("KillOrphans called %d times after init's exit, want %d", got, tc.want)
			}
		})
	}
}
