package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// CRIBenchReportEnv names a file the benchmark tables are appended to
// (Markdown; scripts/bench.sh puts them in docs/benchmarks.md).
const CRIBenchReportEnv = "ZFSLXC_CRIBENCH_REPORT"

// Runtimes compared: the lxc handler against runc in the same containerd
// (1.6 runs both on zfslxc, its CRI-wide snapshotter; 2.4 runs runc on
// overlayfs).
var benchRuntimes = []string{"runc", handler}

// runcOnZfslxc is a runc handler on the zfslxc snapshotter (2.x only).
const runcOnZfslxc = "runc-zfslxc"

// BenchmarkCRI measures pods under the lxc handler against runc in the
// same containerd, interleaved: pod start (runp + create + start of a
// one-container pod, until crictl start returns: the container runs), the
// processes and RSS a 3-container pod costs on the host besides its own
// processes (shims, LXC monitors), and 20 pods started at once.
func BenchmarkCRI(b *testing.B) {
	runs := envInt("CRI_BENCH_RUNS", 10)
	many := envInt("CRI_BENCH_MANY", 20)
	var report strings.Builder
	for _, f := range containerdtest.Flavors() {
		b.Run(f.Name, func(b *testing.B) {
			// On 2.x, runc also on zfslxc: the runtimes compared on the
			// same storage (1.6 runs both on zfslxc anyway).
			var o containerdtest.CRIOptions
			startRuntimes := benchRuntimes
			if f.ConfigVersion >= 3 {
				o.ExtraConfig = fmt.Sprintf("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.%s]\n"+
					"  runtime_type = \"io.containerd.runc.v2\"\n  snapshotter = %q\n", runcOnZfslxc, containerdtest.SnapshotterName)
				startRuntimes = append(startRuntimes[:len(startRuntimes):len(startRuntimes)], runcOnZfslxc)
			}
			e := setup(b, f, o)
			fmt.Fprintf(&report, "\n### %s\n\n", f.Name)

			// Pod start, interleaved (the order rotates), one warm-up each.
			times := map[string][]time.Duration{}
			for i := -1; i < runs; i++ {
				k := (i + 1) % len(startRuntimes)
				order := append(append([]string(nil), startRuntimes[k:]...), startRuntimes[:k]...)
				for _, rt := range order {
					d := e.timePod(b, rt, fmt.Sprintf("start-%s-%d", rt, i+1))
					if i >= 0 {
						times[rt] = append(times[rt], d)
					}
				}
			}
			mr, ml := median(times["runc"]), median(times[handler])
			fmt.Fprintf(&report, "Pod start (runp + create + start, one container), median of %d interleaved:\n\n"+
				"| runc | lxc | lxc ÷ runc |\n|---:|---:|---:|\n| %.0f ms | %.0f ms | %.2f |\n\n",
				runs, ms(mr), ms(ml), float64(ml)/float64(mr))
			if rz := median(times[runcOnZfslxc]); rz > 0 {
				fmt.Fprintf(&report, "The same, runc on zfslxc in the same containerd (both runtimes on one snapshotter; runc on overlayfs above):\n\n"+
					"| runc + zfslxc | lxc + zfslxc | lxc ÷ runc |\n|---:|---:|---:|\n| %.0f ms | %.0f ms | %.2f |\n\n",
					ms(rz), ms(ml), float64(ml)/float64(rz))
			}

			// What a 3-container pod costs besides its containers.
			fmt.Fprintf(&report, "A pod of 3 containers (`sleep`): processes, RSS and PSS on the host besides the containers' own (shims, LXC monitors; PSS shares each page among the processes that map it), median of %d interleaved pods:\n\n"+
				"| runtime | processes | RSS (MiB) | PSS (MiB) |\n|---|---:|---:|---:|\n", envInt("CRI_BENCH_COST_ROUNDS", 5))
			costRounds := envInt("CRI_BENCH_COST_ROUNDS", 5)
			samples := map[string][3][]float64{}
			for i := 0; i < costRounds; i++ {
				order := benchRuntimes
				if i%2 != 0 {
					order = []string{benchRuntimes[1], benchRuntimes[0]}
				}
				for _, rt := range order {
					n, rss, pss := e.podCost(b, rt)
					s := samples[rt]
					s[0], s[1], s[2] = append(s[0], float64(n)), append(s[1], rss), append(s[2], pss)
					samples[rt] = s
				}
			}
			cost := map[string][3]float64{}
			for _, rt := range benchRuntimes {
				s := samples[rt]
				cost[rt] = [3]float64{median(s[0]), median(s[1]), median(s[2])}
				fmt.Fprintf(&report, "| %s | %.0f | %.1f | %.1f |\n", rt, cost[rt][0], cost[rt][1], cost[rt][2])
			}
			fmt.Fprintf(&report, "| lxc ÷ runc | %.2f | %.2f | %.2f |\n\n", cost[handler][0]/cost["runc"][0], cost[handler][1]/cost["runc"][1], cost[handler][2]/cost["runc"][2])

			// Many pods at once.
			manyRounds := envInt("CRI_BENCH_MANY_ROUNDS", 3)
			fmt.Fprintf(&report, "%d one-container pods started at once (wall time until all run), median of %d interleaved rounds:\n\n| runc | lxc | lxc ÷ runc |\n|---:|---:|---:|\n", many, manyRounds)
			walls := map[string][]time.Duration{}
			for i := 0; i < manyRounds; i++ {
				order := benchRuntimes
				if i%2 != 0 {
					order = []string{benchRuntimes[1], benchRuntimes[0]}
				}
				for _, rt := range order {
					walls[rt] = append(walls[rt], e.manyPods(b, rt, many))
				}
			}
			wr, wl := median(walls["runc"]), median(walls[handler])
			fmt.Fprintf(&report, "| %.1f s | %.1f s | %.2f |\n", wr.Seconds(), wl.Seconds(), float64(wl)/float64(wr))
		})
	}
	b.Log(report.String())
	if p := os.Getenv(CRIBenchReportEnv); p != "" {
		if err := os.WriteFile(p, []byte(report.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// timePod times runp + create + start of a one-container pod under rt,
// then removes the pod (untimed).
func (e *env) timePod(b testing.TB, rt, name string) time.Duration {
	pod := e.newPod(b, name, nil)
	start := time.Now()
	podID := e.runPod(b, rt, pod)
	e.startContainer(b, podID, pod, ctrConfig("c", "sleep", "600"))
	d := time.Since(start)
	e.MustCrictl(b, "rmp", "-f", podID)
	return d
}

// podCost runs a 3-container pod under rt and counts the host processes
// serving it (shims, zfslxc-start monitors) and their RSS and PSS (MiB).
func (e *env) podCost(b testing.TB, rt string) (int, float64, float64) {
	pod := e.newPod(b, "cost-"+rt, nil)
	podID := e.runPod(b, rt, pod)
	defer e.MustCrictl(b, "rmp", "-f", podID)
	ids := []string{podID}
	for i := 0; i < 3; i++ {
		ids = append(ids, e.startContainer(b, podID, pod, ctrConfig(fmt.Sprintf("c%d", i), "sleep", "600")))
	}
	time.Sleep(time.Second) // settle
	n, rss, pss := 0, 0, 0
	for _, p := range servingProcs(ids) {
		n++
		rss += memKB(fmt.Sprintf("/proc/%d/status", p), "VmRSS:")
		pss += memKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss:")
	}
	return n, float64(rss) / 1024, float64(pss) / 1024
}

// servingProcs lists the pids of shims (any runtime's) and LXC monitors
// whose command line names one of ids, and the shims' children that are
// not container processes (none for runc and lxc).
func servingProcs(ids []string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, en := range ents {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(data), "\x00", " ")
		if !strings.Contains(cmd, "containerd-shim") && !strings.Contains(cmd, "zfslxc-start") {
			continue
		}
		for _, id := range ids {
			if strings.Contains(cmd, id) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// memKB is the kB value of the line starting with field in a /proc file
// (status's VmRSS:, smaps_rollup's Pss:); 0 if it cannot be read.
func memKB(file, field string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}

// manyPods starts n one-container pods under rt at once and returns the
// wall time until all run; they are removed after.
func (e *env) manyPods(b testing.TB, rt string, n int) time.Duration {
	var wg sync.WaitGroup
	ids := make([]string, n)
	pods := make([]podConfig, n)
	for i := range pods {
		pods[i] = e.newPod(b, fmt.Sprintf("many-%s-%d", rt, i), nil)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, _, err := e.Crictl(b, "runp", "--runtime", rt, writeJSON(b, pods[i]))
			if err != nil {
				b.Error(err)
				return
			}
			ids[i] = strings.TrimSpace(out)
			id, _, err := e.Crictl(b, "create", ids[i], writeJSON(b, ctrConfig("c", "sleep", "600")), writeJSON(b, pods[i]))
			if err == nil {
				_, _, err = e.Crictl(b, "start", strings.TrimSpace(id))
			}
			if err != nil {
				b.Error(err)
			}
		}(i)
	}
	wg.Wait()
	d := time.Since(start)
	e.MustCrictl(b, "rmp", "-fa")
	return d
}

func median[T time.Duration | float64](d []T) T {
	if len(d) == 0 {
		return 0
	}
	s := append([]T(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
