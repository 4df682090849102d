package task

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// Runtime hooks get argv, env and the OCI state as runc gives them, in
// order; created stops at the first failure and names it; poststop runs
// every hook whatever fails.
func TestOCIHooks(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	// Each hook appends "<name> <argv0> $X <state>" to rec.
	hook := func(name string) specs.Hook {
		return specs.Hook{
			Path: "/bin/sh",
			Args: []string{"hook-" + name, "-c", `printf '%s %s %s ' "$1" "$0" "$X" >> ` + rec + `; cat >> ` + rec + `; echo >> ` + rec, "hook-" + name, name},
			Env:  []string{"X=x-" + name},
		}
	}
	fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo broken network >&2; exit 3"}}
	spec := &specs.Spec{Annotations: map[string]string{"nerdctl/name": "web"}}
	hs := lxcconv.Hooks{
		Prestart:      []specs.Hook{hook("pre")},
		CreateRuntime: []specs.Hook{hook("cr1"), hook("cr2")},
		Poststart:     []specs.Hook{hook("post")},
		Poststop:      []specs.Hook{fail, hook("stop")},
	}
	h := newOCIHooks("c1", "/b/c1", spec, hs)
	ctx := context.Background()
	if err := h.created(ctx, 1234); err != nil {
		t.Fatal(err)
	}
	h.started(ctx, 1234)
	h.stopped(ctx)
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	want := []struct{ name, status string }{{"pre", "creating"}, {"cr1", "creating"}, {"cr2", "creating"}, {"post", "created"}, {"stop", "stopped"}}
	if len(lines) != len(want) {
		t.Fatalf("hook runs:\n%s\nwant %d", data, len(want))
	}
	for i, w := range want {
		f := strings.SplitN(lines[i], " ", 4)
		if len(f) != 4 || f[0] != w.name || f[1] != "hook-"+w.name || f[2] != "x-"+w.name {
			t.Fatalf("run %d: %q, want name, argv0 and env of %s", i, lines[i], w.name)
		}
		var st specs.State
		if err := json.Unmarshal([]byte(f[3]), &st); err != nil {
			t.Fatalf("run %d state %q: %v", i, f[3], err)
		}
		wantPid := 1234
		if w.status == "stopped" {
			wantPid = 0
		}
		if st.ID != "c1" || st.Bundle != "/b/c1" || st.Pid != wantPid || string(st.Status) != w.status || st.Annotations["nerdctl/name"] != "web" || st.Version == "" {
			t.Errorf("run %d (%s): state %+v", i, w.name, st)
		}
	}

	// A failing createRuntime hook fails with its index, path and output.
	h = newOCIHooks("c2", "/b/c2", spec, lxcconv.Hooks{CreateRuntime: []specs.Hook{hook("ok"), fail}})
	err = h.created(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook 1 (/bin/sh)") || !strings.Contains(err.Error(), "broken network") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("created: %v", err)
	}
	// Timeout.
	one := 1
	h = newOCIHooks("c3", "/b", spec, lxcconv.Hooks{Prestart: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}})
	if err := h.created(ctx, 1); err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
		t.Fatalf("created: %v, want a timeout", err)
	}
	if newOCIHooks("c4", "/b", spec, lxcconv.Hooks{}) != nil {
		t.Error("no hooks: want nil")
	}
}

// The `delete` action of a dead shim runs the poststop hooks from the
// bundle's config.json, with the bundle's name as id.
func TestRunBundlePoststop(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "c9")
	if err := os.Mkdir(bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(bundle, "rec")
	spec := specs.Spec{
		Annotations: map[string]string{"nerdctl/namespace": "nerdtest"},
		Hooks: &specs.Hooks{Poststop: []specs.Hook{
			{Path: "/bin/false"},
			{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + rec}},
		}},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runBundlePoststop(context.Background(), bundle); err != nil {
		t.Fatal(err)
	}
	var st specs.State
	data, err = os.ReadFile(rec)
	if err != nil {
		t.Fatalf("the second hook did not run after the first failed: %v", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.ID != "c9" || st.Bundle != bundle || st.Status != specs.StateStopped || st.Annotations["nerdctl/namespace"] != "nerdtest" {
		t.Errorf("state %+v", st)
	}
	if err := runBundlePoststop(context.Background(), filepath.Join(bundle, "none")); err == nil {
		t.Error("no config.json: want an error")
	}
}
