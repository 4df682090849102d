package ocihook

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunAll(t *testing.T) {
	t.Setenv("OCIHOOK_LEAK", "ours")
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	// Each hook appends "<name> <argv0> $X <state>" to rec.
	hook := func(name string) specs.Hook {
		return specs.Hook{
			Path: "/bin/sh",
			Args: []string{"hook-" + name, "-c", `printf '%s %s %s|%s ' "$1" "$0" "$X" "$OCIHOOK_LEAK" >> ` + rec + `; cat >> ` + rec + `; echo >> ` + rec, "hook-" + name, name},
			Env:  []string{"X=x-" + name},
		}
	}
	fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo broken network >&2; exit 3"}}
	st := specs.State{Version: specs.Version, ID: "c1", Bundle: "/b/c1", Status: specs.StateCreating, Pid: 42, Annotations: map[string]string{"a": "b"}}

	err := RunAll(context.Background(), "createRuntime", []specs.Hook{hook("one"), hook("two"), fail, hook("never")}, st)
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook 2 (/bin/sh)") ||
		!strings.Contains(err.Error(), "broken network") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("RunAll = %v, want hook 2's failure with its output and status", err)
	}
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("runs:\n%s\nwant two (the hook after the failure must not run)", data)
	}
	for i, name := range []string{"one", "two"} {
		f := strings.SplitN(lines[i], " ", 4)
		// Env is the whole environment: nothing of ours.
		if len(f) != 4 || f[0] != name || f[1] != "hook-"+name || f[2] != "x-"+name+"|" {
			t.Fatalf("run %d: %q, want argv, argv0 and only the hook's env of %s", i, lines[i], name)
		}
		var got specs.State
		if err := json.Unmarshal([]byte(f[3]), &got); err != nil {
			t.Fatalf("run %d state %q: %v", i, f[3], err)
		}
		if got.ID != "c1" || got.Bundle != "/b/c1" || got.Pid != 42 || got.Status != specs.StateCreating || got.Annotations["a"] != "b" || got.Version != specs.Version {
			t.Errorf("run %d state %+v", i, got)
		}
	}
	if err := RunAll(context.Background(), "poststart", nil, st); err != nil {
		t.Errorf("no hooks: %v", err)
	}
}

func TestRun(t *testing.T) {
	one, zero := 1, 0
	for _, tc := range []struct {
		name string
		hook specs.Hook
		err  string // substring; "" = success
	}{
		{"no args: argv is the path", specs.Hook{Path: "/bin/true"}, ""},
		{"missing binary", specs.Hook{Path: "/nonexistent/hook"}, "no such file"},
		{"timeout", specs.Hook{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}, "timed out after 1s"},
		{"zero timeout", specs.Hook{Path: "/bin/true", Timeout: &zero}, "timeout 0"},
		// The last OutputMax bytes are quoted (%q doubles a newline): the start is cut.
		{"long output cut", specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "printf START; yes | head -c 10000; printf END; exit 1"}}, `y\nEND"`},
		// A hook that exits 0 and leaves a child holding its output
		// succeeds (the child must not hang the runtime).
		{"child keeps stdout", specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 3 & exit 0"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a cancelled request does not kill a hook
			err := Run(ctx, tc.hook, []byte("{}"))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Run = %.300v, want an error containing %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "START") || len(err.Error()) > 2*OutputMax+200 {
				t.Errorf("output not cut to its last %d bytes: %d bytes", OutputMax, len(err.Error()))
			}
		})
	}
}
