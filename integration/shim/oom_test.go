package shim_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestOOM: a container that outgrows its memory limit is killed by the
// kernel (exit 137, as under runc) and the shim publishes /tasks/oom,
// which `ctr events` shows.
func TestOOM(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			evCtx, stopEvents := context.WithCancel(context.Background())
			events := make(chan string, 1)
			go func() {
				out, _, _ := e.d.CtrContext(evCtx, "events")
				events <- out
			}()
			time.Sleep(500 * time.Millisecond) // let ctr events subscribe

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// tail buffers a line that never ends: memory grows until
			// the OOM killer acts.
			a := []string{"run", "--rm", "--memory-limit", "33554432", "--snapshotter", e.snap, "--runtime", runtimeType,
				e.ref, "oom", "tail", "/dev/zero"}
			_, stderr, err := e.d.CtrContext(ctx, a...)
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != 137 {
				t.Fatalf("ctr run: exit %d (want 137, killed), stderr %q\n%s", code, stderr, e.d.LogTail(40))
			}
			// The shim publishes in order: oom, exit, then delete before
			// ctr run --rm returned; give containerd a moment to forward.
			time.Sleep(2 * time.Second)
			stopEvents()
			out := <-events
			if !strings.Contains(out, "/tasks/oom") || !strings.Contains(out, `"oom"`) {
				t.Fatalf("no /tasks/oom event for oom; ctr events: %q\n%s", out, e.d.LogTail(40))
			}
			e.checkClean(t, "oom")
		})
	}
}
