package devpool_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/internal/devpool"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

func TestCreateReplacesStalePoolAndDestroyIsIdempotent(t *testing.T) {
	testpool.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	drv, err := devpool.EnsureZFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := testpool.UniqueName()
	p, err := devpool.Create(ctx, drv, name, devpool.Options{Dir: dir, Size: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Destroy(context.Background()) })
	if err := os.WriteFile(filepath.Join(p.Mount, "old"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A run that died left the pool: creating it again replaces it.
	p2, err := devpool.Create(ctx, drv, name, devpool.Options{Dir: dir, Size: 256 << 20})
	if err != nil {
		t.Fatalf("create over a stale pool: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p2.Mount, "old")); !os.IsNotExist(err) {
		t.Errorf("stale pool's data survived: %v", err)
	}
	if err := p2.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p2.Destroy(ctx); err != nil {
		t.Errorf("destroy of a destroyed pool: %v", err)
	}
	for _, f := range []string{p2.Image, p2.Mount} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
}

func TestReapStale(t *testing.T) {
	testpool.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	drv, err := devpool.EnsureZFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The pid of a process that has ended.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("zfslxcreap%dxdead", cmd.Process.Pid)
	alive := fmt.Sprintf("zfslxcreap%dxlive", os.Getpid())
	for _, n := range []string{dead, alive} {
		p, err := devpool.Create(ctx, drv, n, devpool.Options{Dir: dir, Size: 128 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Destroy(context.Background()) })
	}
	reaped, err := devpool.ReapStale(ctx, drv, "zfslxcreap", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reaped, []string{dead}) {
		t.Errorf("reaped %v, want only %s", reaped, dead)
	}
	if ok, _ := drv.PoolExists(ctx, alive); !ok {
		t.Error("the pool of a live process was reaped")
	}
}
