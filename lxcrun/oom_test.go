package lxcrun

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
)

// fakeV2Manager is a cgroups/v3 manager of a fake cgroup v2 directory
// holding files (inotify works on any file).
func fakeV2Manager(t *testing.T, files map[string]string) (v2Manager, string) {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, filepath.Join(root, "c1"), files)
	m, err := cgroup2.Load("/c1", cgroup2.WithMountpoint(root))
	if err != nil {
		t.Fatal(err)
	}
	return v2Manager{m: m, dir: filepath.Join(root, "c1")}, filepath.Join(root, "c1")
}

func memoryEvents(oom, kills int) string {
	return "low 0\nhigh 0\nmax 3\noom " + strconv.Itoa(oom) + "\noom_kill " + strconv.Itoa(kills) + "\n"
}

// TestWatchOOMV2 drives the cgroup v2 watcher (cgroups/v3's EventChan)
// with a fake memory.events: one call per oom_kill increment, none for
// kills before the watch or other changes (cgroup.events saying the
// cgroup emptied ends the watch).
func TestWatchOOMV2(t *testing.T) {
	m, dir := fakeV2Manager(t, map[string]string{
		"memory.events": memoryEvents(1, 1), // before the watch: not reported
		"cgroup.events": "populated 1\nfrozen 0\n",
	})
	write := func(file, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.watchOOM(ctx, func() { got <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	write("memory.events", memoryEvents(2, 1)) // oom without a kill: nothing
	write("memory.events", memoryEvents(4, 3)) // two kills
	for i := 0; i < 2; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("OOM %d not reported", i+1)
		}
	}
	write("cgroup.events", "populated 0\nfrozen 0\n") // the watch ends, no kill more
	select {
	case <-got:
		t.Fatal("more OOM events than kills")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestWatchOOMV2Refused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		is    func(error) bool
	}{
		{"no memory controller", map[string]string{"cgroup.events": "populated 1\n"}, errdefs.IsNotImplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := fakeV2Manager(t, tc.files)
			err := m.watchOOM(context.Background(), func() {})
			if err == nil || !tc.is(err) {
				t.Fatalf("error %v, want NotImplemented", err)
			}
		})
	}
}
