package shim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestStdinEarlyEOF: ctr's stdin ends before the task exists, so ctr
// never sends CloseIO (it only can once the task is created) and its FIFO
// writer is gone before the shim's reader opens. The process still reads
// end of file: cat ends, with nothing read (runc's shim, which holds a
// writer of its own until CloseIO, hangs here).
func TestStdinEarlyEOF(t *testing.T) {
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, sn)
			for i, in := range []string{"", "short input\n"} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				id := []string{"early-empty", "early-short"}[i]
				out, stderr, code := ctrStdin(ctx, e, strings.NewReader(in), "run", "--rm", "--snapshotter", e.snap, "--runtime", runtimeType,
					e.ref, id, "sh", "-c", `cat; echo "cat: $?"`)
				cancel()
				if code != 0 || out != in+"cat: 0\n" {
					t.Fatalf("%s: code %d, stdout %q (want %q), stderr %q\n%s", id, code, out, in+"cat: 0\n", stderr, e.d.LogTail(30))
				}
				e.checkClean(t, id)
			}
		})
	}
}
