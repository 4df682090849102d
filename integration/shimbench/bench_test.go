package shimbench_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// Knobs (scripts/bench.sh sets them).
const (
	// runsEnv: `ctr run --rm` runs per variant (default 20).
	runsEnv = "SHIM_RUNS"
	// manyEnv: containers started from one image (default 50).
	manyEnv = "MANY"
	// concurrencyEnv: the concurrent mode of BenchmarkMany (default 4).
	concurrencyEnv = "MANY_CONCURRENCY"
	// rssEnv: rounds of BenchmarkShimMemory (default 3).
	rssEnv = "SHIM_RSS_ROUNDS"
	// reportEnv names a file the benchmarks append markdown tables to
	// (docs/benchmarks.md's shim section).
	reportEnv = "ZFSLXC_SHIMBENCH_REPORT"
)

const sn = containerdtest.SnapshotterName

// variant is one runtime+snapshotter pair.
type variant struct {
	name, snapshotter, runtime, shim string
}

var (
	lxc  = variant{"lxc", sn, "io.containerd.lxc.v1", "containerd-shim-lxc-v1"}
	runc = variant{"runc", "overlayfs", "io.containerd.runc.v2", "containerd-shim-runc-v2"}
	// variants are interleaved in this order (and reversed every other
	// round), so drift on the shared machine hits both.
	variants = []variant{lxc, runc}
)

var imageDir string

func TestMain(m *testing.M) {
	os.Exit(containerdtest.MainWithDir(m, "zfslxc-shimbench-", &imageDir))
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// report appends markdown to the report file, when one is named, and logs
// it.
func report(b *testing.B, format string, args ...any) {
	b.Helper()
	s := fmt.Sprintf(format, args...)
	b.Log("\n" + s)
	path := os.Getenv(reportEnv)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatalf("report: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		b.Fatalf("report: %v", err)
	}
}

var helloLayout imagebuild.LayoutOnce

// helloImage is busybox-static with ENTRYPOINT ["/bin/echo","hello"].
func helloImage(b *testing.B) (ref, tar string) {
	b.Helper()
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(b, "busybox-static missing: %v", err)
	}
	ref, tar, err := helloLayout.Get(filepath.Join(imageDir, "hello.tar"), func() (*imagebuild.Image, error) {
		return imagebuild.BusyboxImage("docker.io/zfslxc/bench-hello:latest", []string{"/bin/echo", "hello"}, nil)
	})
	if err != nil {
		b.Fatalf("build image: %v", err)
	}
	return ref, tar
}

// env is one containerd with the zfslxc snapshotter on a fresh pool and
// overlayfs, the lxc shim first on its PATH, the image unpacked into both.
type env struct {
	f    containerdtest.Flavor
	d    *containerdtest.Daemon
	s    *containerdtest.Snapshotter
	pool *testpool.Pool
	ref  string
}

func setup(b *testing.B, f containerdtest.Flavor) *env {
	b.Helper()
	bin := os.Getenv(containerdtest.BinDirEnv)
	if bin == "" {
		containerdtest.SkipOrFail(b, "%s is not set (make build; bench.sh sets it to bin/)", containerdtest.BinDirEnv)
	}
	for _, name := range []string{lxc.shim, "zfslxc-init", "zfslxc-start", "zfslxc-snapshotter"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			containerdtest.SkipOrFail(b, "%s: %v", name, err)
		}
	}
	containerdtest.RequireHost(b, f)
	ref, tar := helloImage(b)
	f = f.PathFirst(bin)
	p := testpool.New(b, testpool.Options{Size: 4 << 30})
	s := containerdtest.StartSnapshotter(b, containerdtest.SnapshotterOptions{Dataset: p.Name + "/zfslxc", Driver: p.Driver})
	d := containerdtest.Start(b, f, containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: f.ConfigVersion, SnapshotterName: sn, SnapshotterAddress: s.Address}))
	for _, v := range variants {
		d.MustCtr(b, "images", "import", "--snapshotter", v.snapshotter, tar)
	}
	return &env{f: f, d: d, s: s, pool: p, ref: ref}
}

// ctr runs ctr and returns its stdout, failing the benchmark on error.
func (e *env) ctr(b *testing.B, args ...string) string {
	b.Helper()
	out, _, err := e.d.Ctr(b, args...)
	if err != nil {
		b.Fatalf("%v\n%s", err, e.d.LogTail(30))
	}
	return out
}

// stats of a sample, in ms.
type stats struct {
	n                   int
	min, p50, p90, mean float64
}

func summarize(ms []float64) stats {
	if len(ms) == 0 {
		return stats{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	p50 := s[len(s)/2]
	if len(s)%2 == 0 {
		p50 = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	// p90 by nearest rank.
	r := (9*len(s) + 9) / 10
	return stats{n: len(s), min: s[0], p50: p50, p90: s[r-1], mean: sum / float64(len(s))}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// events records `ctr events`: the first time each (container, topic) was
// published, from the envelope timestamps.
type events struct {
	mu   sync.Mutex
	seen map[string]map[string]time.Time // id → topic → time; guarded by mu
}

// watchEvents runs `ctr events` until the benchmark ends.
func (e *env) watchEvents(b *testing.B) *events {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, e.d.Flavor.Ctr, "--address", e.d.Address, "events")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("ctr events: %v", err)
	}
	ev := &events{seen: map[string]map[string]time.Time{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			ev.add(sc.Text())
		}
	}()
	b.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
	})
	return ev
}

// add parses one line of `ctr events`:
// "2026-11-25 22:40:01.123456789 +0000 UTC default /tasks/create {json}".
func (ev *events) add(line string) {
	f := strings.SplitN(line, " ", 7)
	if len(f) < 7 {
		return
	}
	ts, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", strings.Join(f[:4], " "))
	if err != nil {
		return
	}
	topic := f[5]
	var body map[string]any
	if err := json.Unmarshal([]byte(f[6]), &body); err != nil {
		return
	}
	var id string
	for _, k := range []string{"container_id", "id", "key"} {
		if s, ok := body[k].(string); ok && s != "" {
			id = s
			break
		}
	}
	if id == "" {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.seen[id] == nil {
		ev.seen[id] = map[string]time.Time{}
	}
	if _, ok := ev.seen[id][topic]; !ok {
		ev.seen[id][topic] = ts
	}
}

// wait returns the times of id's events once topic was seen (events can
// trail the command that caused them by a few ms).
func (ev *events) wait(id, topic string) map[string]time.Time {
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev.mu.Lock()
		m := ev.seen[id]
		_, ok := m[topic]
		cp := map[string]time.Time{}
		for k, v := range m {
			cp[k] = v
		}
		ev.mu.Unlock()
		if ok || time.Now().After(deadline) {
			return cp
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shimServing returns, per container id, when the lxc shim logged
// "shim serving" (its log reaches containerd's).
func shimServing(logPath string) map[string]time.Time {
	data, _ := os.ReadFile(logPath)
	found := map[string]time.Time{}
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.Contains(l, `msg="shim serving"`) {
			continue
		}
		ts, id := logField(l, "time"), logField(l, "id")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err == nil && id != "" {
			found[id] = t
		}
	}
	return found
}

// logField returns the value of key=value or key="value" in a logrus
// text line.
func logField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		if !strings.HasPrefix(line, key+"=") {
			return ""
		}
		i = -1
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		if s, err := strconv.QuotedPrefix(v); err == nil {
			u, _ := strconv.Unquote(s)
			return u
		}
		return ""
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// phases of one `ctr run --rm`, between the events containerd published.
var phases = []struct {
	name, from, to string
}{
	{"ctr start → snapshot prepared", "", "/snapshot/prepare"},
	{"→ container created", "/snapshot/prepare", "/containers/create"},
	{"→ shim serving (lxc: shim bootstrap)", "/containers/create", "serving"},
	{"→ task created (shim start + mount + runtime create)", "/containers/create", "/tasks/create"},
	{"  of which after shim serving (lxc: mount, lxcconv, LXC start to zfslxc-init ready)", "serving", "/tasks/create"},
	{"→ task started", "/tasks/create", "/tasks/start"},
	{"→ task exited (echo runs)", "/tasks/start", "/tasks/exit"},
	{"→ task deleted (runtime teardown, unmount)", "/tasks/exit", "/tasks/delete"},
	{"→ container deleted (snapshot removal queued)", "/tasks/delete", "/containers/delete"},
	{"→ ctr exits", "/containers/delete", ""},
}

// BenchmarkCtrRun times `ctr run --rm` of a hello image with the lxc shim
// + zfslxc and with runc + overlayfs, interleaved in the same containerd,
// for each flavor; it reports min/median/p90 per variant, the time between
// the events of each run (phases), and the zfs commands the snapshotter
// ran meanwhile. One b.N iteration is SHIM_RUNS runs of each variant: run
// it with -benchtime 1x.
func BenchmarkCtrRun(b *testing.B) {
	runs := envInt(b, runsEnv, 20)
	for _, f := range containerdtest.Flavors() {
		b.Run(f.Name, func(b *testing.B) {
			e := setup(b, f)
			ev := e.watchEvents(b)
			// Warm-up, untimed: first runs pay for cold caches.
			for i, v := range variants {
				e.runHello(b, v, fmt.Sprintf("warm-%s-%d", v.name, i))
			}
			logStart := fileSize(e.s.LogPath)
			b.ResetTimer()
			total := map[string][]float64{}
			phase := map[string]map[string][]float64{}
			for n := 0; n < b.N; n++ {
				for i := 0; i < runs; i++ {
					order := variants
					if i%2 == 1 {
						order = []variant{variants[1], variants[0]}
					}
					for _, v := range order {
						id := fmt.Sprintf("hello-%s-%d-%d", v.name, n, i)
						start := time.Now()
						e.runHello(b, v, id)
						end := time.Now()
						total[v.name] = append(total[v.name], ms(end.Sub(start)))
						b.StopTimer()
						t := ev.wait(id, "/containers/delete")
						t[""] = start
						if v == lxc {
							if s, ok := shimServing(e.d.LogPath)[id]; ok {
								t["serving"] = s
							}
						}
						if phase[v.name] == nil {
							phase[v.name] = map[string][]float64{}
						}
						for _, p := range phases {
							from, to := t[p.from], t[p.to]
							if p.to == "" {
								to = end
							}
							if !from.IsZero() && !to.IsZero() {
								phase[v.name][p.name] = append(phase[v.name][p.name], ms(to.Sub(from)))
							}
						}
						b.StartTimer()
					}
				}
			}
			b.StopTimer()
			var rows strings.Builder
			for _, v := range variants {
				s := summarize(total[v.name])
				b.ReportMetric(s.p50, v.name+"-p50-ms")
				b.ReportMetric(s.p90, v.name+"-p90-ms")
				b.ReportMetric(s.min, v.name+"-min-ms")
				fmt.Fprintf(&rows, "| %s | %s + %s | %d | %.0f | %.0f | %.0f |\n", f.Name, v.runtime, v.snapshotter, s.n, s.min, s.p50, s.p90)
			}
			ratio := summarize(total[lxc.name]).p50 / summarize(total[runc.name]).p50
			b.ReportMetric(ratio, "lxc/runc-p50")
			report(b, "\n#### `ctr run --rm`, %s: %d runs per variant, interleaved (lxc/runc median: %.2f×)\n\n"+
				"| containerd | runtime + snapshotter | runs | min ms | median ms | p90 ms |\n|---|---|---:|---:|---:|---:|\n%s",
				f.Name, len(total[lxc.name]), ratio, rows.String())
			var pr strings.Builder
			for _, p := range phases {
				l, r := phase[lxc.name][p.name], phase[runc.name][p.name]
				if len(l) == 0 && len(r) == 0 {
					continue
				}
				fmt.Fprintf(&pr, "| %s | %s | %s |\n", p.name, medianCell(l), medianCell(r))
			}
			report(b, "\nPhases (median ms between the events published for each run, stamped by their publisher: containerd, "+
				"or the shim for task events, so under load a short phase can read 0; \"shim serving\" is the lxc shim's log line):\n\n| phase | lxc + zfslxc | runc + overlayfs |\n|---|---:|---:|\n%s", pr.String())
			report(b, "\nzfs commands zfslxc-snapshotter ran during the timed runs (its debug log; "+
				"all but the clones run in containerd's GC, after `ctr run --rm` returns):\n\n%s", zfsCommands(b, e.s.LogPath, logStart))
		})
	}
}

func medianCell(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	m := summarize(v).p50
	if m < 0.5 && m > -0.5 {
		m = 0 // not "-0"
	}
	return fmt.Sprintf("%.0f", m)
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// zfsCommands summarizes the "zfs command" debug lines of the snapshotter
// log from offset on: count and median duration per subcommand.
func zfsCommands(b *testing.B, path string, offset int64) string {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if offset > int64(len(data)) {
		offset = 0
	}
	durs := map[string][]float64{}
	for _, l := range strings.Split(string(data[offset:]), "\n") {
		if !strings.Contains(l, `msg="zfs command"`) {
			continue
		}
		cmd := strings.Fields(logField(l, "cmd"))
		d, err := time.ParseDuration(logField(l, "duration"))
		if len(cmd) < 2 || err != nil {
			continue
		}
		op := cmd[1]
		if op == "get" {
			// Which properties: says who asked (Usage, mount checks…).
			op += " " + cmd[len(cmd)-2]
		}
		durs[op] = append(durs[op], ms(d))
	}
	ops := make([]string, 0, len(durs))
	for op := range durs {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var s strings.Builder
	s.WriteString("| zfs subcommand | count | median ms | p90 ms |\n|---|---:|---:|---:|\n")
	for _, op := range ops {
		st := summarize(durs[op])
		fmt.Fprintf(&s, "| `zfs %s` | %d | %.0f | %.0f |\n", op, st.n, st.p50, st.p90)
	}
	return s.String()
}

// runHello is `ctr run --rm` of the hello image; it fails the benchmark
// unless the container printed "hello".
func (e *env) runHello(b *testing.B, v variant, id string) {
	b.Helper()
	out := e.ctr(b, "run", "--rm", "--snapshotter", v.snapshotter, "--runtime", v.runtime, e.ref, id)
	if out != "hello\n" {
		b.Fatalf("ctr run %s (%s): stdout %q, want \"hello\\n\"", id, v.name, out)
	}
}

// runDetached starts `sleep 600` in container id and returns when ctr
// run -d returns (the task is started). It may run on any goroutine.
func (e *env) runDetached(b *testing.B, v variant, id string) error {
	_, _, err := e.d.Ctr(b, "run", "-d", "--snapshotter", v.snapshotter, "--runtime", v.runtime, e.ref, id, "sleep", "600")
	return err
}

// remove kills and deletes the task and the container (and its snapshot).
// It may run on any goroutine.
func (e *env) remove(b *testing.B, id string) error {
	if _, _, err := e.d.Ctr(b, "task", "rm", "-f", id); err != nil {
		return err
	}
	_, _, err := e.d.Ctr(b, "containers", "rm", id)
	return err
}

// gc makes containerd collect garbage now (removed snapshots reach the
// snapshotter).
func (e *env) gc(b *testing.B) {
	b.Helper()
	id := fmt.Sprintf("gc-%d", time.Now().UnixNano())
	e.ctr(b, "leases", "create", "--id", id)
	e.ctr(b, "leases", "rm", "--sync", id)
}

// mem is a process's memory in KiB.
type mem struct{ rss, pss float64 }

func procMem(b *testing.B, pid int) mem {
	b.Helper()
	var m mem
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	m.rss = kbField(string(status), "VmRSS:")
	rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Fatal(err)
	}
	m.pss = kbField(string(rollup), "Pss:")
	return m
}

func kbField(s, key string) float64 {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, key) {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
	}
	return 0
}

// pidsOf returns the processes whose argv[0] has base name bin and whose
// command line contains all of subs.
func pidsOf(bin string, subs ...string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
next:
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil || len(data) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if filepath.Base(args[0]) != bin {
			continue
		}
		cmd := " " + strings.Join(args, " ") + " "
		for _, s := range subs {
			if !strings.Contains(cmd, s) {
				continue next
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// onePid waits up to 10 s for exactly one process matching pidsOf.
func onePid(b *testing.B, bin string, subs ...string) int {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := pidsOf(bin, subs...)
		if len(p) == 1 {
			return p[0]
		}
		if time.Now().After(deadline) {
			b.Fatalf("processes %s %v: %v (want one)", bin, subs, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkShimMemory measures, while `sleep 600` runs in one container of
// each variant, what serves it besides its own processes: the shim's
// VmRSS and PSS (smaps_rollup) and, for the lxc variant, any zfslxc-start
// of the container (LXC's monitor: none once the container runs since
// ADR 0007; it stayed for the container's life before). Median of
// SHIM_RSS_ROUNDS rounds; run it with -benchtime 1x.
func BenchmarkShimMemory(b *testing.B) {
	rounds := envInt(b, rssEnv, 3)
	report(b, "\n#### Shim memory while a container runs (median of %d rounds)\n\n| containerd | variant | processes | RSS MiB | PSS MiB |\n|---|---|---:|---:|---:|\n", rounds)
	for _, f := range containerdtest.Flavors() {
		b.Run(f.Name, func(b *testing.B) {
			e := setup(b, f)
			got := map[string][]mem{}
			procs := map[string][]float64{}
			for n := 0; n < b.N; n++ {
				for r := 0; r < rounds; r++ {
					ids := map[string]string{}
					for _, v := range variants {
						ids[v.name] = fmt.Sprintf("mem-%s-%d-%d", v.name, n, r)
						if err := e.runDetached(b, v, ids[v.name]); err != nil {
							b.Fatalf("%v\n%s", err, e.d.LogTail(30))
						}
					}
					time.Sleep(time.Second) // let start-up garbage settle
					for _, v := range variants {
						id := ids[v.name]
						pids := []int{onePid(b, v.shim, "-id "+id+" ")}
						if v == lxc {
							pids = append(pids, pidsOf("zfslxc-start", "--name "+id+" ")...)
						}
						var total mem
						for _, pid := range pids {
							m := procMem(b, pid)
							total.rss += m.rss
							total.pss += m.pss
						}
						got[v.name] = append(got[v.name], total)
						procs[v.name] = append(procs[v.name], float64(len(pids)))
					}
					for _, v := range variants {
						if err := e.remove(b, ids[v.name]); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			med := func(key string) mem {
				var rss, pss []float64
				for _, m := range got[key] {
					rss = append(rss, m.rss)
					pss = append(pss, m.pss)
				}
				return mem{summarize(rss).p50, summarize(pss).p50}
			}
			for _, v := range variants {
				m := med(v.name)
				b.ReportMetric(m.rss, v.name+"-rss-KiB")
				b.ReportMetric(m.pss, v.name+"-pss-KiB")
				report(b, "| %s | %s + %s | %.0f | %.1f | %.1f |\n", f.Name, v.name, v.snapshotter, summarize(procs[v.name]).p50, m.rss/1024, m.pss/1024)
			}
		})
	}
}

// BenchmarkMany starts MANY containers (`ctr run -d … sleep 600`) from one
// image, one at a time and then MANY_CONCURRENCY at a time, for each
// variant, and reports the total and per-container start time, the disk
// the containers' writable layers use, and the time to remove them all.
// Run it with -benchtime 1x.
func BenchmarkMany(b *testing.B) {
	many := envInt(b, manyEnv, 50)
	conc := envInt(b, concurrencyEnv, 4)
	report(b, "\n#### %d containers from one image (`ctr run -d … sleep 600`)\n\n| containerd | runtime + snapshotter | containers | concurrency | total s | per-container median ms | p90 ms | remove all s | disk of the running containers |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n", many)
	for _, f := range containerdtest.Flavors() {
		b.Run(f.Name, func(b *testing.B) {
			e := setup(b, f)
			for _, c := range []int{1, conc} {
				for _, v := range variants {
					b.Run(fmt.Sprintf("%s/c%d", v.name, c), func(b *testing.B) {
						for n := 0; n < b.N; n++ {
							e.many(b, v, many, c, n)
						}
					})
				}
			}
		})
	}
}

func (e *env) many(b *testing.B, v variant, many, conc, round int) {
	b.Helper()
	diskBefore := e.disk(b, v)
	ids := make([]string, many)
	for i := range ids {
		ids[i] = fmt.Sprintf("many-%s-c%d-%d-%d", v.name, conc, round, i)
	}
	durs := make([]float64, many)
	start := time.Now()
	e.parallel(b, conc, ids, func(i int, id string) error {
		t0 := time.Now()
		err := e.runDetached(b, v, id)
		durs[i] = ms(time.Since(t0))
		return err
	})
	total := time.Since(start)
	b.StopTimer()
	running := 0
	for _, l := range strings.Split(e.ctr(b, "task", "ls"), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && strings.HasPrefix(f[0], "many-") && f[2] == "RUNNING" {
			running++
		}
	}
	if running != many {
		b.Fatalf("%d tasks running, want %d", running, many)
	}
	diskAfter := e.disk(b, v)
	t0 := time.Now()
	e.parallel(b, conc, ids, func(_ int, id string) error { return e.remove(b, id) })
	teardown := time.Since(t0)
	e.gc(b)
	e.waitGone(b, v, diskBefore)
	b.StartTimer()

	s := summarize(durs)
	b.ReportMetric(ms(total)/1000, "total-s")
	b.ReportMetric(s.p50, "per-container-p50-ms")
	b.ReportMetric(s.p90, "per-container-p90-ms")
	b.ReportMetric(ms(teardown)/1000, "teardown-s")
	b.ReportMetric((diskAfter.used-diskBefore.used)/1024/float64(many), "disk-KiB/container")
	report(b, "| %s | %s + %s | %d | %d | %.1f | %.0f | %.0f | %.1f | %s |\n",
		e.f.Name, v.runtime, v.snapshotter, many, conc, ms(total)/1000, s.p50, s.p90, ms(teardown)/1000,
		diskCell(diskBefore, diskAfter, many))
}

// parallel calls fn for each id, conc at a time, and fails the benchmark
// (from its own goroutine, as FailNow requires) with the first error.
func (e *env) parallel(b *testing.B, conc int, ids []string, fn func(i int, id string) error) {
	b.Helper()
	work := make(chan int)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs[i] = fn(i, ids[i])
			}
		}()
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatalf("%v\n%s", err, e.d.LogTail(30))
		}
	}
}

// usage is what the snapshotter's data takes on disk, in bytes: for
// zfslxc the parent dataset's `used` and the sum of its children's
// `used` and `referenced` (after a txg sync); for overlayfs du of its
// snapshots directory.
type usage struct {
	used, childUsed, childRefer float64
	children                    int
	datasets                    map[string]bool
}

func (e *env) disk(b *testing.B, v variant) usage {
	b.Helper()
	if v.snapshotter == "overlayfs" {
		dir := filepath.Join(e.d.Root, "io.containerd.snapshotter.v1.overlayfs", "snapshots")
		out, err := exec.Command("du", "-sk", "-x", dir).Output()
		if err != nil {
			b.Fatalf("du %s: %v", dir, err)
		}
		kb, _ := strconv.ParseFloat(strings.Fields(string(out))[0], 64)
		ents, _ := os.ReadDir(dir)
		return usage{used: kb * 1024, children: len(ents)}
	}
	// zfs-fuse's `used` lags until the next txg sync; taking a snapshot
	// syncs one.
	snap := fmt.Sprintf("%s@benchsync%d", e.s.Dataset, time.Now().UnixNano())
	testpool.ZFS(b, "snapshot", snap)
	testpool.ZFS(b, "destroy", snap)
	out, err := exec.Command("zfs", "get", "-Hp", "-r", "-o", "name,property,value", "used,referenced", e.s.Dataset).Output()
	if err != nil {
		b.Fatalf("zfs get: %v: %s", err, stderrOf(err))
	}
	u := usage{datasets: map[string]bool{}}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 || strings.Contains(f[0], "@") {
			continue
		}
		val, _ := strconv.ParseFloat(f[2], 64)
		switch {
		case f[0] == e.s.Dataset && f[1] == "used":
			u.used = val
		case f[0] != e.s.Dataset && f[1] == "used":
			u.childUsed += val
			u.children++
			u.datasets[f[0]] = true
		case f[0] != e.s.Dataset && f[1] == "referenced":
			u.childRefer += val
		}
	}
	return u
}

// diskCell describes the disk the containers added.
func diskCell(before, after usage, many int) string {
	per := (after.used - before.used) / float64(many) / 1024
	if after.datasets == nil {
		return fmt.Sprintf("du +%.0f KiB (%.1f KiB/container)", (after.used-before.used)/1024, per)
	}
	return fmt.Sprintf("`used` +%.0f KiB (%.1f KiB/container); clones: `used` %.1f KiB, `referenced` %.0f KiB each",
		(after.used-before.used)/1024, per,
		(after.childUsed-before.childUsed)/float64(many)/1024, (after.childRefer-before.childRefer)/float64(many)/1024)
}

// waitGone waits until the containers' snapshots are gone from the
// snapshotter (GC is asynchronous) so the next round starts clean.
func (e *env) waitGone(b *testing.B, v variant, before usage) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		if v.snapshotter == "overlayfs" {
			ents, _ := os.ReadDir(filepath.Join(e.d.Root, "io.containerd.snapshotter.v1.overlayfs", "snapshots"))
			n = len(ents)
		} else {
			out, err := exec.Command("zfs", "list", "-H", "-r", "-o", "name", e.s.Dataset).Output()
			if err != nil {
				b.Fatalf("zfs list: %v: %s", err, stderrOf(err))
			}
			n = -1 // the parent
			for _, name := range strings.Fields(string(out)) {
				if !strings.Contains(name, "@") {
					n++
				}
			}
		}
		if n <= before.children {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d snapshots left after removing the containers, want %d", v.snapshotter, n, before.children)
		}
		e.gc(b)
		time.Sleep(500 * time.Millisecond)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// BenchmarkRuntime separates the runtime from containerd, the shims and
// the snapshotters: the spec `ctr` generates for the hello image, on a
// plain busybox directory (no zfs, no overlayfs), run with lxcrun (what
// the lxc shim calls: lxcconv + zfslxc-start/liblxc + zfslxc-init) and with
// `runc run` (create, start, wait, delete in one process), interleaved,
// SHIM_RUNS times each. The lxc phases are timed in-process. Run it with
// -benchtime 1x.
func BenchmarkRuntime(b *testing.B) {
	runs := envInt(b, runsEnv, 20)
	f := containerdtest.Debian()
	e := setup(b, f)
	bin := os.Getenv(containerdtest.BinDirEnv)
	if _, err := exec.LookPath("runc"); err != nil {
		containerdtest.SkipOrFail(b, "runc: %v", err)
	}
	// The spec containerd's ctr makes for `ctr run IMAGE ID` (no
	// container is run).
	e.ctr(b, "containers", "create", "--snapshotter", runc.snapshotter, e.ref, "specsrc")
	var spec specs.Spec
	if err := json.Unmarshal([]byte(e.ctr(b, "containers", "info", "--spec", "specsrc")), &spec); err != nil {
		b.Fatalf("ctr containers info --spec: %v", err)
	}
	e.ctr(b, "containers", "rm", "specsrc")
	base := containerdtest.ScratchDir(b, "zfslxc-shimbench-rt-")
	rootfs := filepath.Join(base, "rootfs")
	makeRootfs(b, rootfs)
	spec.Root = &specs.Root{Path: rootfs}
	spec.Process.Args = []string{"/bin/true"}
	spec.Process.Terminal = false
	// Each container's cgroup goes below a parent of this run, removed
	// (when empty, as it should be) at the end.
	cgParent := fmt.Sprintf("zfslxc-shimbench-%d", os.Getpid())
	b.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgParent)
		if d := "/sys/fs/cgroup/" + cgParent; fileSize(d) > 0 {
			dirs = append(dirs, d)
		}
		for _, d := range dirs {
			if err := os.Remove(d); err != nil {
				b.Logf("cgroup left: %v", err)
			}
		}
	})

	lxcPhases := []string{"Prepare (lxcconv, state files)", "Start (zfslxc-start, liblxc, zfslxc-init ready, monitor ended)",
		"Release (exec fifo)", "Wait (true runs and exits; init reaped by lxcrun: ADR 0004, 0007)", "Delete (cgroups, state dir)", "total"}
	got := map[string][]float64{}
	ctx := context.Background()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := 0; i < runs; i++ {
			doLXC := func() {
				id := fmt.Sprintf("rt-lxc-%d-%d-%d", os.Getpid(), n, i)
				s := spec
				linux := *spec.Linux
				linux.CgroupsPath = "/" + cgParent + "/" + id
				s.Linux = &linux
				t := []time.Time{time.Now()}
				c, err := lxcrun.Prepare(ctx, filepath.Join(base, id), &s, lxcrun.Options{
					Name: id, BinDir: bin,
					Convert: lxcconv.Options{BundleDir: base, RootFS: os.DirFS(rootfs), DefaultAppArmorProfile: "unconfined"},
				})
				if err != nil {
					b.Fatalf("lxcrun.Prepare: %v", err)
				}
				t = append(t, time.Now())
				if err := c.Start(ctx, lxcrun.Stdio{}); err != nil {
					_ = c.Delete(ctx)
					b.Fatalf("lxcrun Start: %v", err)
				}
				t = append(t, time.Now())
				if err := c.Release(ctx); err != nil {
					_ = c.Delete(ctx)
					b.Fatalf("lxcrun Release: %v", err)
				}
				t = append(t, time.Now())
				st, err := c.Wait(ctx)
				if err != nil || st.ExitCode() != 0 {
					_ = c.Delete(ctx)
					b.Fatalf("lxcrun Wait: %v, status %+v", err, st)
				}
				t = append(t, time.Now())
				if err := c.Delete(ctx); err != nil {
					b.Fatalf("lxcrun Delete: %v", err)
				}
				t = append(t, time.Now())
				for k := 1; k < len(t); k++ {
					got["lxc/"+lxcPhases[k-1]] = append(got["lxc/"+lxcPhases[k-1]], ms(t[k].Sub(t[k-1])))
				}
				got["lxc/total"] = append(got["lxc/total"], ms(t[len(t)-1].Sub(t[0])))
			}
			doRunc := func() {
				id := fmt.Sprintf("rt-runc-%d-%d-%d", os.Getpid(), n, i)
				bundle := filepath.Join(base, id)
				s := spec
				linux := *spec.Linux
				linux.CgroupsPath = "/" + cgParent + "/" + id
				s.Linux = &linux
				data, err := json.Marshal(&s)
				if err != nil {
					b.Fatal(err)
				}
				if err := os.MkdirAll(bundle, 0o700); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if out, err := exec.Command("runc", "run", "--bundle", bundle, id).CombinedOutput(); err != nil {
					b.Fatalf("runc run: %v: %s", err, out)
				}
				got["runc/total"] = append(got["runc/total"], ms(time.Since(t0)))
				os.RemoveAll(bundle)
			}
			if i%2 == 0 {
				doLXC()
				doRunc()
			} else {
				doRunc()
				doLXC()
			}
		}
	}
	b.StopTimer()
	l, r := summarize(got["lxc/total"]), summarize(got["runc/total"])
	b.ReportMetric(l.p50, "lxc-p50-ms")
	b.ReportMetric(r.p50, "runc-p50-ms")
	var rows strings.Builder
	for _, p := range lxcPhases[:len(lxcPhases)-1] {
		s := summarize(got["lxc/"+p])
		fmt.Fprintf(&rows, "| lxcrun: %s | %.1f | %.1f |\n", p, s.p50, s.p90)
	}
	fmt.Fprintf(&rows, "| **lxcrun total** | **%.1f** | %.1f |\n", l.p50, l.p90)
	fmt.Fprintf(&rows, "| **`runc run`** (create + start + wait + delete) | **%.1f** | %.1f |\n", r.p50, r.p90)
	report(b, "\n#### The runtimes alone (no containerd, shim or snapshotter): ctr's spec for the hello image running `/bin/true` on a plain directory, %d runs each, interleaved\n\n"+
		"| step | median ms | p90 ms |\n|---|---:|---:|\n%s", l.n, rows.String())
}

// makeRootfs lays out a busybox root filesystem in dir.
func makeRootfs(b *testing.B, dir string) {
	b.Helper()
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	data, err := os.ReadFile(imagebuild.DefaultBusyboxPath)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, applet := range []string{"true", "echo", "sh", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			b.Fatal(err)
		}
	}
}
