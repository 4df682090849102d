package snapshotter_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
)

// importReportEnv names a file BenchmarkImport appends its markdown tables
// to (scripts/bench.sh puts them in docs/benchmarks.md).
const importReportEnv = "ZFSLXC_UNPACKBENCH_REPORT"

// Rounds of BenchmarkImport, from the environment (scripts/bench.sh).
var (
	importColdRounds = envInt("IMPORT_COLD", 3)
	importWarmRounds = envInt("IMPORT_WARM", 5)
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchImage is an image BenchmarkImport imports.
type benchImage struct {
	name string
	img  *imagebuild.Image
	tar  string
}

// smallFilesLayer is a layer of n files of size bytes each (pseudorandom,
// so they do not compress away) in dir, as packages and libraries are.
func smallFilesLayer(dir string, n int, size int64, seed uint64) imagebuild.Layer {
	entries := []imagebuild.Entry{{Path: dir, Type: imagebuild.Dir, Mode: 0o755}}
	for i := 0; i < n; i++ {
		entries = append(entries, imagebuild.Entry{Path: fmt.Sprintf("%s/f%03d", dir, i), Size: size, Seed: seed + uint64(i)})
	}
	return imagebuild.Layer{Entries: entries, Gzip: true}
}

// benchImages builds the two images of the issue: 4 layers of about
// 8 MiB in all (busybox, then three layers of 64 files of 32 KiB), and
// 2 layers of 128 MiB (busybox and one 128 MiB file).
func benchImages(b *testing.B) []*benchImage {
	base, err := imagebuild.BusyboxLayer("")
	if err != nil {
		b.Fatal(err)
	}
	small := &imagebuild.Image{Name: "docker.io/zfslxc/bench-small:latest", Layers: []imagebuild.Layer{base}}
	for i, dir := range []string{"/usr/lib/a", "/usr/lib/b", "/opt/app"} {
		small.Layers = append(small.Layers, smallFilesLayer(dir, 64, 32<<10, uint64(i+1)<<20))
	}
	large := &imagebuild.Image{
		Name:   "docker.io/zfslxc/bench-large:latest",
		Layers: []imagebuild.Layer{base, imagebuild.LargeFileLayer("/big/blob.bin", 128<<20)},
	}
	dir := b.TempDir()
	imgs := []*benchImage{{name: "4layers-8MiB", img: small}, {name: "2layers-128MiB", img: large}}
	for _, bi := range imgs {
		bi.tar = filepath.Join(dir, bi.name+".tar")
		if _, err := bi.img.WriteLayoutFile(bi.tar); err != nil {
			b.Fatal(err)
		}
	}
	return imgs
}

// BenchmarkImport times `ctr images import` of the same image into the
// zfslxc snapshotter and into overlayfs, in the same containerd, in the
// same run, for each containerd flavor: the first import after both
// daemons start (IMPORT_COLD rounds, each after a restart of containerd
// and the snapshotter) and warm imports (IMPORT_WARM rounds after one
// untimed warm-up), the two snapshotters interleaved, the order
// alternating. Every round removes the image and collects garbage
// (untimed), so every import unpacks all layers again. From the
// snapshotter's debug log it also reports the zfs processes per layer and
// where an import's time goes. Benchmarks assert nothing about time.
func BenchmarkImport(b *testing.B) {
	imgs := benchImages(b)
	report := newImportReport(b)
	for _, f := range containerdtest.Flavors() {
		b.Run(f.Name, func(b *testing.B) {
			containerdtest.RequireHost(b, f)
			p := testpool.New(b, testpool.Options{Size: 4 << 30})
			s := containerdtest.StartSnapshotter(b, containerdtest.SnapshotterOptions{Dataset: p.Name + "/zfslxc", Driver: p.Driver})
			d := containerdtest.Start(b, f, containerdconfig.Snippet(containerdconfig.Options{ConfigVersion: f.ConfigVersion, SnapshotterName: sn, SnapshotterAddress: s.Address}))
			for _, bi := range imgs {
				b.Run(bi.name, func(b *testing.B) {
					r := measureImports(b, s, d, bi)
					for _, m := range r.metrics() {
						b.ReportMetric(m.value, m.unit)
					}
					report.add(f.Name, bi, r)
				})
			}
		})
	}
	report.write(b)
}

// importRun is one timed import.
type importRun struct {
	wall  time.Duration
	log   []zfsLogCommand // zfs commands the snapshotter ran meanwhile
	seals int             // read-only seals that ran after it
}

// importResult holds the runs of one image in one containerd.
type importResult struct {
	layers int
	first  map[string][]importRun // by snapshotter
	warm   map[string][]importRun
}

type metric struct {
	value float64
	unit  string
}

func (r *importResult) metrics() []metric {
	fz, fo := medianWall(r.first[sn]), medianWall(r.first["overlayfs"])
	wz, wo := medianWall(r.warm[sn]), medianWall(r.warm["overlayfs"])
	return []metric{
		{ms(fz), "zfslxc-first-ms"}, {ms(fo), "overlayfs-first-ms"}, {ms(fz) / ms(fo), "first-ratio"},
		{ms(wz), "zfslxc-warm-ms"}, {ms(wo), "overlayfs-warm-ms"}, {ms(wz) / ms(wo), "warm-ratio"},
		{r.procsPerLayer(true), "zfs-procs/layer"}, {r.procsPerLayer(false), "zfs-procs-all/layer"},
	}
}

// procsPerLayer is the median number of zfs processes per layer over the
// zfslxc imports: on the unpack's path only (without the read-only seals
// that run after Commit), or all.
func (r *importResult) procsPerLayer(pathOnly bool) float64 {
	var n []float64
	for _, runs := range [][]importRun{r.first[sn], r.warm[sn]} {
		for _, run := range runs {
			count := 0
			if !pathOnly {
				count = run.seals
			}
			for _, c := range run.log {
				if !pathOnly || !c.seal() {
					count++
				}
			}
			n = append(n, float64(count)/float64(r.layers))
		}
	}
	return containerdtest.Median(n)
}

// measureImports runs the cold and warm rounds of one image.
func measureImports(b *testing.B, s *containerdtest.Snapshotter, d *containerdtest.Daemon, bi *benchImage) *importResult {
	r := &importResult{layers: len(bi.img.Layers), first: map[string][]importRun{}, warm: map[string][]importRun{}}
	order := func(round int) []string {
		if round%2 == 0 {
			return []string{sn, "overlayfs"}
		}
		return []string{"overlayfs", sn}
	}
	for i := 0; i < importColdRounds; i++ {
		for _, snap := range order(i) {
			s.Restart(b)
			d.Restart(b)
			r.first[snap] = append(r.first[snap], importOnce(b, s, d, bi, snap))
		}
	}
	for _, snap := range order(0) {
		importOnce(b, s, d, bi, snap) // warm-up
	}
	for i := 0; i < importWarmRounds; i++ {
		for _, snap := range order(i) {
			r.warm[snap] = append(r.warm[snap], importOnce(b, s, d, bi, snap))
		}
	}
	return r
}

// importOnce imports bi into snapshotter snap, then (untimed) removes the
// image and collects garbage.
func importOnce(b *testing.B, s *containerdtest.Snapshotter, d *containerdtest.Daemon, bi *benchImage, snap string) importRun {
	off := logSize(b, s.LogPath)
	start := time.Now()
	d.MustCtr(b, "images", "import", "--snapshotter", snap, bi.tar)
	run := importRun{wall: time.Since(start)}
	// The read-only seals run half a second after the last Commit (and
	// an image removed before that needs none): wait for them, untimed.
	time.Sleep(1500 * time.Millisecond)
	end := start.Add(run.wall)
	for _, c := range readZFSLog(b, s.LogPath, off) {
		if c.end.After(end) {
			if c.seal() {
				run.seals++
			}
			continue
		}
		run.log = append(run.log, c)
	}
	if os.Getenv("IMPORT_DEBUG") != "" && snap == sn {
		for _, c := range run.log {
			b.Logf("%s %s %s %v", c.end.Format("15:04:05.000000"), c.sub, c.target, c.duration)
		}
		b.Logf("start %s wall %v", start.Format("15:04:05.000000"), run.wall)
	}
	d.MustCtr(b, "images", "rm", "--sync", bi.img.Ref())
	id := fmt.Sprintf("gc-%d", time.Now().UnixNano())
	d.MustCtr(b, "leases", "create", "--id", id)
	d.MustCtr(b, "leases", "rm", "--sync", id)
	return run
}

func logSize(b *testing.B, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// zfsLogCommand is one "zfs command" line of the snapshotter's debug log.
type zfsLogCommand struct {
	end      time.Time
	duration time.Duration
	sub      string // zfs subcommand: clone, snapshot, set...
	arg      string // first argument after the subcommand
	target   string // last argument
}

// seal reports whether c is the read-only seal that runs after Commit.
func (c zfsLogCommand) seal() bool { return c.sub == "set" && c.arg == "readonly=on" }

var (
	logTime     = regexp.MustCompile(`time="([^"]+)"`)
	logCmd      = regexp.MustCompile(`cmd="([^"]*)"`)
	logDuration = regexp.MustCompile(`duration=([0-9.]+[a-zµ]+)`)
)

// readZFSLog parses the zfs commands logged after offset off.
func readZFSLog(b *testing.B, path string, off int64) []zfsLogCommand {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		b.Fatal(err)
	}
	var cmds []zfsLogCommand
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="zfs command`) {
			continue
		}
		tm, cm, dm := logTime.FindStringSubmatch(line), logCmd.FindStringSubmatch(line), logDuration.FindStringSubmatch(line)
		if tm == nil || cm == nil || dm == nil {
			b.Fatalf("unexpected zfs log line: %s", line)
		}
		end, err := time.Parse(time.RFC3339Nano, tm[1])
		if err != nil {
			b.Fatalf("time of %s: %v", line, err)
		}
		dur, err := time.ParseDuration(dm[1])
		if err != nil {
			b.Fatalf("duration of %s: %v", line, err)
		}
		args := strings.Fields(cm[1])
		c := zfsLogCommand{end: end, duration: dur}
		if len(args) > 1 {
			c.sub, c.target = args[1], args[len(args)-1]
		}
		if len(args) > 2 {
			c.arg = args[2]
		}
		cmds = append(cmds, c)
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return cmds
}

// breakdown splits a zfslxc import: zfs time by subcommand, the time
// between a layer's Prepare (its create/clone ending) and its Commit (its
// snapshot starting), in which containerd applies the layer through
// FUSE, and the rest (content ingest, gRPC, metadata, ctr).
func (run importRun) breakdown() (zfs map[string]time.Duration, apply, rest time.Duration) {
	zfs = map[string]time.Duration{}
	created := map[string]time.Time{}
	var total time.Duration
	for _, c := range run.log {
		zfs[c.sub] += c.duration
		total += c.duration
		switch c.sub {
		case "create", "clone":
			created[c.target] = c.end
		case "snapshot":
			ds, _, _ := strings.Cut(c.target, "@")
			if t, ok := created[ds]; ok {
				apply += c.end.Add(-c.duration).Sub(t)
			}
		}
	}
	return zfs, apply, run.wall - total - apply
}

// importReport collects the markdown tables.
type importReport struct {
	path string
	rows []string
	bd   []string
}

func newImportReport(b *testing.B) *importReport {
	return &importReport{path: os.Getenv(importReportEnv)}
}

func (rep *importReport) add(flavor string, bi *benchImage, r *importResult) {
	fz, fo := medianWall(r.first[sn]), medianWall(r.first["overlayfs"])
	wz, wo := medianWall(r.warm[sn]), medianWall(r.warm["overlayfs"])
	rep.rows = append(rep.rows, fmt.Sprintf("| %s | %s | %.0f (%s) | %.0f (%s) | **%.2f×** | %.0f | %.0f | **%.2f×** | %.2f | %.2f |",
		flavor, bi.name, ms(fz), walls(r.first[sn]), ms(fo), walls(r.first["overlayfs"]), ms(fz)/ms(fo),
		ms(wz), ms(wo), ms(wz)/ms(wo), r.procsPerLayer(true), r.procsPerLayer(false)))
	for _, kind := range []string{"first", "warm"} {
		runs := r.first[sn]
		if kind == "warm" {
			runs = r.warm[sn]
		}
		zfsBy := map[string][]float64{}
		var applies, rests, walls, counts []float64
		for _, run := range runs {
			z, a, rest := run.breakdown()
			for sub, d := range z {
				zfsBy[sub] = append(zfsBy[sub], ms(d))
			}
			applies, rests, walls = append(applies, ms(a)), append(rests, ms(rest)), append(walls, ms(run.wall))
			counts = append(counts, float64(len(run.log)))
		}
		var subs []string
		for sub, v := range zfsBy {
			subs = append(subs, fmt.Sprintf("`zfs %s` %.0f", sub, containerdtest.Median(v)))
		}
		slices.Sort(subs)
		rep.bd = append(rep.bd, fmt.Sprintf("| %s | %s | %s | %.0f | %s | %.0f | %.0f | %.0f |",
			flavor, bi.name, kind, containerdtest.Median(walls), strings.Join(subs, ", "), containerdtest.Median(counts), containerdtest.Median(applies), containerdtest.Median(rests)))
	}
}

func (rep *importReport) write(b *testing.B) {
	if rep.path == "" || len(rep.rows) == 0 {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "#### `ctr images import`: zfslxc ÷ overlayfs, same containerd, same run (%d first-after-start rounds, %d warm rounds, interleaved; medians, ms)\n\n", importColdRounds, importWarmRounds)
	sb.WriteString("First: median (each round, in order; the first zfslxc round is the first import into a new pool).\n\n")
	sb.WriteString("zfs processes per layer: on the unpack's path (Prepare's create/clone, Commit's snapshot), and all that ran during the import with the read-only seals that run after Commit, before or up to 1.5 s after `ctr` returns.\n\n")
	sb.WriteString("| containerd | image | zfslxc first | overlayfs first | first ratio | zfslxc warm | overlayfs warm | warm ratio | zfs processes per layer (path) | (all) |\n")
	sb.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	sb.WriteString(strings.Join(rep.rows, "\n") + "\n\n")
	sb.WriteString("#### Where a zfslxc import's time goes (medians, ms; from the snapshotter's debug log)\n\n")
	sb.WriteString("zfs: time in each zfs subcommand (all layers); apply: from each layer's Prepare (its `zfs create`/`clone` done) to its Commit (its `zfs snapshot` starting), in which containerd applies the layer into the dataset through FUSE; rest: wall − zfs − apply (ctr, content ingest, gRPC, metadata).\n\n")
	sb.WriteString("| containerd | image | import | wall | zfs by subcommand | zfs processes | apply | rest |\n")
	sb.WriteString("|---|---|---|---:|---|---:|---:|---:|\n")
	sb.WriteString(strings.Join(rep.bd, "\n") + "\n")
	f, err := os.OpenFile(rep.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(sb.String()); err != nil {
		b.Fatal(err)
	}
}

// walls lists the wall times of runs in ms, in order.
func walls(runs []importRun) string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = fmt.Sprintf("%.0f", ms(r.wall))
	}
	return strings.Join(s, ", ")
}

func medianWall(runs []importRun) time.Duration {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = float64(r.wall)
	}
	return time.Duration(containerdtest.Median(v))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
