package shim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestRefusedSpec: a spec lxcconv refuses (a mount over the root, which
// LXC cannot do; runc can) fails `ctr run` at once with lxcconv's message
// naming the field — no hang — and leaves no task, bundle, mount, shim or
// snapshot behind.
func TestRefusedSpec(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			id := "refused"
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, stderr, err := e.d.CtrContext(ctx, "run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType,
				"--mount", "type=tmpfs,src=tmpfs,dst=/,options=nosuid", e.ref, id, "true")
			if ctx.Err() != nil {
				t.Fatalf("ctr run hung on a refused spec: stderr %q", stderr)
			}
			if err == nil || !strings.Contains(stderr, "mounts[") || !strings.Contains(stderr, "mounting over the root is not supported") {
				t.Fatalf("ctr run: %v, stderr %q; want a failure naming mounts[N].destination", err, stderr)
			}
			t.Logf("ctr run: %s", strings.TrimSpace(stderr))
			e.checkClean(t, id)
			if snaps := e.d.MustCtr(t, "snapshots", "--snapshotter", e.snap, "ls"); strings.Contains(snaps, id) {
				t.Errorf("snapshot of %s left: %q", id, snaps)
			}
		})
	}
}
