package manager

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/ttrpc"
)

// TestMemTrimmer: calls in a burst lead to one trim, delay after the last
// one; a later call to another; stop cancels a pending one.
func TestMemTrimmer(t *testing.T) {
	var trims atomic.Int32
	m := newMemTrimmer(100*time.Millisecond, func() { trims.Add(1) })
	call := func() {
		if _, err := m.interceptor(context.Background(), nil, &ttrpc.UnaryServerInfo{}, func(context.Context, func(any) error) (any, error) {
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		call()
		time.Sleep(20 * time.Millisecond)
	}
	if n := trims.Load(); n != 0 {
		t.Fatalf("%d trims during the burst, want 0", n)
	}
	waitTrims(t, &trims, 1)
	call()
	waitTrims(t, &trims, 2)
	call()
	m.stop()
	time.Sleep(300 * time.Millisecond)
	if n := trims.Load(); n != 2 {
		t.Errorf("%d trims after stop, want 2", n)
	}
}

func waitTrims(t *testing.T, trims *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for trims.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d trims, want %d", trims.Load(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeEnv(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"PATH=/bin"}, "GODEBUG=memprofilerate=0"},
		{[]string{"GODEBUG=gctrace=1", "PATH=/bin"}, "GODEBUG=gctrace=1,memprofilerate=0"},
		{[]string{"GODEBUG=memprofilerate=512"}, "GODEBUG=memprofilerate=512"},
		{[]string{"GODEBUG="}, "GODEBUG=memprofilerate=0"},
	} {
		got := serveEnv(tc.in)
		n := 0
		for _, kv := range got {
			if strings.HasPrefix(kv, "GODEBUG=") {
				n++
				if kv != tc.want {
					t.Errorf("serveEnv(%q): %q, want %q", tc.in, kv, tc.want)
				}
			}
		}
		if n != 1 || len(got) != len(tc.in)+1-min(1, countGodebug(tc.in)) {
			t.Errorf("serveEnv(%q) = %q: want the other variables and one GODEBUG", tc.in, got)
		}
	}
}

func countGodebug(env []string) int {
	n := 0
	for _, kv := range env {
		if strings.HasPrefix(kv, "GODEBUG=") {
			n++
		}
	}
	return n
}
