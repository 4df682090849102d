package lxcrun

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestWatchOOMV2 drives the cgroup v2 watcher with a fake memory.events
// (inotify works on any file): one call per oom_kill increment, none for
// other changes.
func TestWatchOOMV2(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "memory.events")
	write := func(oom, kills int) {
		t.Helper()
		data := []byte("low 0\nhigh 0\nmax 3\noom " + strconv.Itoa(oom) + "\noom_kill " + strconv.Itoa(kills) + "\n")
		if err := os.WriteFile(events, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1, 1) // before the watch: not reported
	got := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := watchOOMV2(ctx, dir, func() { got <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	write(2, 1) // oom without a kill: nothing
	write(4, 3) // two kills
	for i := 0; i < 2; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("OOM %d not reported", i+1)
		}
	}
	select {
	case <-got:
		t.Fatal("more OOM events than kills")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestWatchOOMV2Missing(t *testing.T) {
	if err := watchOOMV2(context.Background(), t.TempDir(), func() {}); err == nil {
		t.Fatal("no memory.events: want an error")
	}
}
