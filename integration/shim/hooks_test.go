package shim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestOCIHooks runs specs (ctr run --config) with OCI hooks under runc and
// under the lxc shim, each hook recording the OCI state it gets on stdin;
// the lxc shim must run the same hooks, in the same order, with the same
// state fields as runc (id, bundle, annotations, status, a pid while the
// container exists, in the same pid namespace). ociVersion differs: runc
// gives its own, we the spec's. One spec has the runtime-namespace hooks
// (prestart, createRuntime, poststart, poststop); the other createContainer
// hooks and an extra device node (linux.devices), which LXC runs through
// the shim's hook action (lxc.hook.mount): the hook gets pid 1 as under
// runc and the container sees the node. Both kinds in one spec are refused
// by the lxc shim (LXC runs createContainer hooks before the shim can run
// createRuntime ones, and the OCI order is the other way round), with the
// field named and nothing left running.
func TestOCIHooks(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, "native")
			dir, rootfs, base := e.specBundle(t, "zfslxc-hooks-")
			for _, kinds := range [][]string{
				{"prestart", "createRuntime", "poststart", "poststop"},
				{"createContainer", "poststart", "poststop"},
			} {
				name := fmt.Sprintf("%s-%d", strings.ToLower(kinds[0]), os.Getpid())
				runcStates, err := e.hookRun(t, dir, base, rootfs, "io.containerd.runc.v2", "runc-"+name, kinds)
				if err != nil {
					t.Fatal(err)
				}
				lxcStates, err := e.hookRun(t, dir, base, rootfs, runtimeType, "lxc-"+name, kinds)
				if err != nil {
					t.Fatal(err)
				}
				if len(lxcStates) != len(runcStates) {
					t.Fatalf("hooks run: lxc %v, runc %v", keys(lxcStates), keys(runcStates))
				}
				for i := range runcStates {
					r, l := runcStates[i], lxcStates[i]
					if l.kind != r.kind || l.ns != r.ns || l.st.Status != r.st.Status || (l.st.Pid == 0) != (r.st.Pid == 0) ||
						(l.kind == "createContainer" && l.st.Pid != r.st.Pid) {
						t.Errorf("hook %d: lxc %s %+v, runc %s %+v", i, l.kind, l.st, r.kind, r.st)
					}
				}
			}
			id := fmt.Sprintf("lxc-both-%d", os.Getpid())
			_, err := e.hookRun(t, dir, base, rootfs, runtimeType, id, []string{"createRuntime", "createContainer"})
			if err == nil || !strings.Contains(err.Error(), "hooks.createContainer") {
				t.Fatalf("createRuntime and createContainer hooks together: %v, want the refusal naming hooks.createContainer", err)
			}
			if out, _, _ := e.d.Ctr(t, "tasks", "ls", "-q"); strings.Contains(out, id) {
				t.Errorf("refused task %s is listed: %q", id, out)
			}
			// A failing createContainer hook fails the start with its
			// output (LXC logs only that the hook failed; the hook
			// action puts the reason in LXC's log, which the error quotes).
			id = fmt.Sprintf("lxc-failing-%d", os.Getpid())
			_, err = e.hookRun(t, dir, base, rootfs, runtimeType, id, []string{"failingCreateContainer"})
			if err == nil || !strings.Contains(err.Error(), "createContainer hook 0 (/bin/sh)") || !strings.Contains(err.Error(), "no gpu here") {
				t.Fatalf("failing createContainer hook: %v, want its failure and output", err)
			}
			if out, _, _ := e.d.Ctr(t, "tasks", "ls", "-q"); strings.Contains(out, id) {
				t.Errorf("failed task %s is listed: %q", id, out)
			}
		})
	}
}

type hookState struct {
	kind, ns string
	st       specs.State
}

func keys(hs []hookState) []string {
	var k []string
	for _, h := range hs {
		k = append(k, h.kind)
	}
	return k
}

// hookRun runs base (a ctr oci spec) with one recording hook of each of
// kinds under runtime rt as container id, and returns the hooks' states in
// the order they ran, or the error of a run that failed. With a
// createContainer hook the spec also has /dev/fuse in linux.devices, and
// the process checks it is there.
func (e *env) hookRun(t *testing.T, dir, base, rootfs, rt, id string, kinds []string) ([]hookState, error) {
	t.Helper()
	var spec specs.Spec
	if err := json.Unmarshal([]byte(base), &spec); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, id+".rec")
	hook := func(kind string) specs.Hook {
		// One line per run: the kind, then the state; hooks append
		// in the order they run.
		// ns: whether the state's pid is in a pid namespace of its
		// own (the container's init), not the hook's.
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `s=$(cat)
pid=$(printf '%s' "$s" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
ns=none
if [ -n "$pid" ]; then
	if [ "$(readlink /proc/$pid/ns/pid)" != "$(readlink /proc/self/ns/pid)" ]; then ns=own; else ns=host; fi
fi
printf '%s %s %s\n' "$1" "$ns" "$s" >> "$2"`, "sh", kind, rec}}
	}
	spec.Root = &specs.Root{Path: rootfs}
	spec.Process.Args = []string{"/bin/sh", "-c", "echo ran"}
	spec.Linux.CgroupsPath = "/" + id
	spec.Annotations = map[string]string{"test": "annotation for " + rt}
	spec.Hooks = &specs.Hooks{}
	for _, k := range kinds {
		switch k {
		case "prestart":
			spec.Hooks.Prestart = []specs.Hook{hook(k)}
		case "createRuntime":
			spec.Hooks.CreateRuntime = []specs.Hook{hook(k)}
		case "createContainer":
			spec.Hooks.CreateContainer = []specs.Hook{hook(k)}
			major, minor := int64(10), int64(229)
			spec.Linux.Devices = append(spec.Linux.Devices, specs.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: major, Minor: minor})
			spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"})
			spec.Process.Args = []string{"/bin/sh", "-c", "[ -c /dev/fuse ] && echo ran"}
		case "failingCreateContainer":
			spec.Hooks.CreateContainer = []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo no gpu here; exit 4"}}}
		case "poststart":
			spec.Hooks.Poststart = []specs.Hook{hook(k)}
		case "poststop":
			spec.Hooks.Poststop = []specs.Hook{hook(k)}
		default:
			t.Fatalf("hook kind %q", k)
		}
	}
	data, err := json.Marshal(&spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, id+".json")
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, stderr, err := e.d.CtrContext(ctx, "run", "--rm", "--runtime", rt, "--config", cfg, id)
	if err != nil {
		return nil, fmt.Errorf("%s: ctr run --config: %v: %s", rt, err, stderr)
	}
	if out != "ran\n" {
		t.Fatalf("%s: ctr run --config: stdout %q, stderr %q\n%s", rt, out, stderr, e.d.LogTail(40))
	}
	// poststop runs on delete, which ctr run --rm waits for.
	raw, err := os.ReadFile(rec)
	if err != nil {
		t.Fatalf("%s: no hook ran: %v", rt, err)
	}
	var states []hookState
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("%s: record %q", rt, l)
		}
		kind, ns, js := f[0], f[1], f[2]
		var st specs.State
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("%s: %s state %q: %v", rt, kind, js, err)
		}
		if st.ID != id || st.Annotations["test"] != "annotation for "+rt || !strings.HasSuffix(st.Bundle, "/"+id) {
			t.Errorf("%s: %s hook: state %+v", rt, kind, st)
		}
		states = append(states, hookState{kind, ns, st})
		t.Logf("%s: %s hook: status %s pid %d (pid namespace: %s)", rt, kind, st.Status, st.Pid, ns)
	}
	return states, nil
}
