package shimbench_test

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// BenchmarkExitEvent times how long containerd waits to hear that a
// task's process has ended: from the moment the benchmark SIGKILLs the
// container's init (`sleep 600`, its host pid from `ctr task ls`) to the
// envelope time of the /tasks/exit event the shim published, lxc shim vs
// runc's shim in the same containerd, interleaved. One b.N iteration is
// SHIM_RUNS kills of each variant: run it with -benchtime 1x.
func BenchmarkExitEvent(b *testing.B) {
	runs := envInt(b, runsEnv, 20)
	for _, f := range containerdtest.Flavors() {
		b.Run(f.Name, func(b *testing.B) {
			e := setup(b, f)
			ev := e.watchEvents(b)
			lat := map[string][]float64{}
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				for i := 0; i < runs; i++ {
					order := variants
					if i%2 == 1 {
						order = []variant{variants[1], variants[0]}
					}
					for _, v := range order {
						id := fmt.Sprintf("exit-%s-%d-%d", v.name, n, i)
						lat[v.name] = append(lat[v.name], e.killToExitEvent(b, ev, v, id))
					}
				}
			}
			b.StopTimer()
			var rows strings.Builder
			for _, v := range variants {
				s := summarize(lat[v.name])
				b.ReportMetric(s.p50, v.name+"-p50-ms")
				fmt.Fprintf(&rows, "| %s | %s | %d | %.1f | %.1f | %.1f |\n", f.Name, v.runtime, s.n, s.min, s.p50, s.p90)
			}
			ratio := summarize(lat[lxc.name]).p50 / summarize(lat[runc.name]).p50
			b.ReportMetric(ratio, "lxc/runc-p50")
			report(b, "\n#### Process exit → TaskExit event, %s: %d kills per runtime, interleaved (lxc/runc median: %.2f×)\n\n"+
				"| containerd | runtime | runs | min ms | median ms | p90 ms |\n|---|---|---:|---:|---:|---:|\n%s",
				f.Name, len(lat[lxc.name]), ratio, rows.String())
		})
	}
}

// killToExitEvent starts `sleep 600` in container id, SIGKILLs it and
// returns the ms from the kill to the /tasks/exit event; the task and
// container are removed after, outside the timing.
func (e *env) killToExitEvent(b *testing.B, ev *events, v variant, id string) float64 {
	b.StopTimer()
	defer b.StartTimer()
	if err := e.runDetached(b, v, id); err != nil {
		b.Fatalf("ctr run -d %s: %v", id, err)
	}
	pid := e.taskPid(b, id)
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		b.Fatalf("kill %s (pid %d): %v", id, pid, err)
	}
	t, ok := ev.wait(id, "/tasks/exit")["/tasks/exit"]
	if !ok {
		b.Fatalf("%s: no /tasks/exit event", id)
	}
	if err := e.remove(b, id); err != nil {
		b.Fatalf("removing %s: %v", id, err)
	}
	return ms(t.Sub(start))
}

// taskPid is the host pid of id's task (`ctr task ls`).
func (e *env) taskPid(b *testing.B, id string) int {
	b.Helper()
	for _, l := range strings.Split(e.ctr(b, "task", "ls"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil || pid <= 0 {
				b.Fatalf("ctr task ls: pid of %s: %q", id, f[1])
			}
			return pid
		}
	}
	b.Fatalf("ctr task ls: no task %s", id)
	return 0
}
