package manager

import (
	"context"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
)

// The shim lives as long as its pod or container and is idle almost all
// that time; what it allocates serving a call (the spec, lxcconv's
// config, a task's IO set-up) is garbage soon after. Go keeps freed heap
// for reuse and returns it to the kernel only slowly. After each burst of
// calls the shim collects and returns what it does not use
// (debug.FreeOSMemory), and it collects at half Go's default heap growth
// (measured in docs/benchmarks.md, "CRI": RSS and PSS per pod).
const (
	// gcPercent is the heap growth that triggers a collection (Go's
	// default is 100): a shim's live heap is a few MiB.
	gcPercent = 50
	// trimDelay is the quiet time after a call before memory is
	// returned: one collection per burst, not per call.
	trimDelay = 500 * time.Millisecond
)

// memTrimmer returns unused memory to the kernel once the shim has been
// quiet for delay after its last call (debug.FreeOSMemory).
type memTrimmer struct {
	delay time.Duration
	free  func()

	mu    sync.Mutex
	timer *time.Timer
}

func newMemTrimmer(delay time.Duration, free func()) *memTrimmer {
	return &memTrimmer{delay: delay, free: free}
}

// kick (re)starts the quiet period.
func (m *memTrimmer) kick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer == nil {
		m.timer = time.AfterFunc(m.delay, m.free)
		return
	}
	m.timer.Reset(m.delay)
}

// stop cancels a pending trim.
func (m *memTrimmer) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timer != nil {
		m.timer.Stop()
	}
}

// interceptor kicks the trimmer after every ttrpc call.
func (m *memTrimmer) interceptor(ctx context.Context, um ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
	defer m.kick()
	return method(ctx, um)
}
