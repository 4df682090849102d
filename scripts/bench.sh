#!/usr/bin/env bash
# Runs the benchmarks against their baselines on this machine and writes
# docs/benchmarks.md. Needs root, zfs (zfs-fuse is started when no kernel
# ZFS is loaded) and, for the import comparison, the containerd binaries
# `make deps` installs. Benchmarks are not tests: nothing here asserts a
# timing. Run on an idle machine; BENCHTIME and COUNT tune the effort.
#
# PARTS says what to run: "go" (zfsdriver, snapshotter operations),
# "unpack" (ctr images import zfslxc vs overlayfs, first after start and
# warm, with the zfs breakdown; the applier's write path into a host
# directory vs zfs-fuse datasets; Prepare on a 1 GiB vs a 1 MiB parent;
# IMPORT_COLD, IMPORT_WARM and PREPARE_ROUNDS size them),
# "shim" (integration/shimbench: ctr run --rm, process exit → TaskExit event, shim memory, many
# containers, the runtimes alone) and/or
# "registry" (integration/pull BenchmarkPull, integration/docker
# BenchmarkDockerRun: ctr images pull from a local registry into zfslxc
# and overlayfs; docker run --rm under lxc+zfslxc, runc+zfslxc and
# runc+overlayfs; PULL_RUNS, PULL_LARGE_MIB and DOCKER_RUNS size them).
# "cri" (integration/cri BenchmarkCRI: pods under the lxc handler against
# runc in the same CRI containerd; CRI_BENCH_RUNS, CRI_BENCH_MANY size it).
# A part not run keeps its section of the existing $OUT.
# The shim part runs SHIM_PASSES times (the machine is shared: compare the
# passes to see the noise); SHIM_RUNS, MANY, MANY_CONCURRENCY and
# SHIM_RSS_ROUNDS size it, e.g. a quick look:
#   PARTS=shim SHIM_PASSES=1 SHIM_RUNS=4 MANY=5 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHTIME=${BENCHTIME:-30x}
COUNT=${COUNT:-3}
OUT=${OUT:-docs/benchmarks.md}
PARTS=${PARTS:-go unpack shim registry cri}
export IMPORT_COLD=${IMPORT_COLD:-3} IMPORT_WARM=${IMPORT_WARM:-5} PREPARE_ROUNDS=${PREPARE_ROUNDS:-20}
SHIM_PASSES=${SHIM_PASSES:-2}
SHIM_BENCH=${SHIM_BENCH:-CtrRun|ExitEvent|Runtime|ShimMemory|Many}
export SHIM_RUNS=${SHIM_RUNS:-20} MANY=${MANY:-50} MANY_CONCURRENCY=${MANY_CONCURRENCY:-4} SHIM_RSS_ROUNDS=${SHIM_RSS_ROUNDS:-3}
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
has() { [[ " $PARTS " == *" $1 "* ]]; }
# The shim section of $OUT sits between these markers; hand-written notes
# between the notes markers survive regeneration.
SHIM_BEGIN='<!-- shim-bench:begin -->'
SHIM_END='<!-- shim-bench:end -->'
NOTES_BEGIN='<!-- shim-notes:begin -->'
NOTES_END='<!-- shim-notes:end -->'
# The unpack section, likewise, with its hand-written analysis.
UNPACK_BEGIN='<!-- unpack-bench:begin -->'
UNPACK_END='<!-- unpack-bench:end -->'
UNPACK_NOTES_BEGIN='<!-- unpack-notes:begin -->'
UNPACK_NOTES_END='<!-- unpack-notes:end -->'
# The runtime's exit-path section (issue #12): hand-written, kept too.
EXIT_BEGIN='<!-- exit-notes:begin -->'
EXIT_END='<!-- exit-notes:end -->'
REG_BEGIN='<!-- registry-bench:begin -->'
REG_END='<!-- registry-bench:end -->'
CRI_BEGIN='<!-- cri-bench:begin -->'
CRI_END='<!-- cri-bench:end -->'
# between FILE BEGIN END prints the lines strictly between the markers.
between() { [ -f "$1" ] && awk -v b="$2" -v e="$3" '$0 == e { p = 0 } p { print } $0 == b { p = 1 }' "$1" || true; }
# keep NAME BEGIN END copies the section of $OUT from BEGIN to END (markers
# included) to $raw/NAME.md, or empties that file when $OUT has none: a
# part not run keeps the section it last wrote.
keep() {
	if [ -f "$OUT" ] && grep -qxF "$2" "$OUT"; then
		awk -v b="$2" -v e="$3" '$0 == b { p = 1 } p { print } $0 == e { p = 0 }' "$OUT" >"$raw/$1.md"
	else
		: >"$raw/$1.md"
	fi
}
# wrap NAME BEGIN END REPORT writes $raw/NAME.md: BEGIN, the header read
# from stdin, the file REPORT, END.
wrap() {
	{
		echo "$2"
		cat
		cat "$4"
		echo "$3"
	} >"$raw/$1.md"
}
# bench_log LOG [VAR=VALUE...] go test ARGS... runs the benchmark with the
# integration environment, its output to LOG; on failure it prints LOG and
# exits.
bench_log() {
	local log=$1
	shift
	if ! env ZFSLXC_REQUIRE_ZFS=1 ZFSLXC_REQUIRE_INTEGRATION=1 ZFSLXC_BIN_DIR="${ZFSLXC_BIN_DIR:-$PWD/bin}" "$@" >"$log" 2>&1; then
		cat "$log" >&2
		exit 1
	fi
}

run() { # package, benchmark regexp, benchtime[, count]; lines go to $raw/${RAWFILE:-all.txt}
	local count=${4:-$COUNT}
	echo "==> go test -bench '$2' $1 (benchtime $3, count $count)" >&2
	ZFSLXC_REQUIRE_ZFS=1 ZFSLXC_REQUIRE_INTEGRATION=1 ZFSLXC_BIN_DIR=${ZFSLXC_BIN_DIR:-$PWD/bin} \
		ZFSLXC_UNPACKBENCH_REPORT="$raw/unpack-report.md" \
		go test -run '^$' -bench "$2" -benchtime "$3" -count "$count" -timeout 60m "$1" 2>"$raw/stderr" |
		tee -a "$raw/${RAWFILE:-all.txt}" | grep -E '^Benchmark' >&2 || { cat "$raw/stderr" >&2; exit 1; }
}

# shim_pass N runs the shim benchmarks once; their tables go to
# $raw/shim-N.md, the benchmark lines to $raw/shim-N.txt.
shim_pass() {
	local n=$1
	echo "==> shim pass $n/$SHIM_PASSES: go test -bench '$SHIM_BENCH' ./integration/shimbench/ (SHIM_RUNS=$SHIM_RUNS MANY=$MANY MANY_CONCURRENCY=$MANY_CONCURRENCY)" >&2
	{
		echo
		echo "### Pass $n of $SHIM_PASSES ($(date -u +%H:%M) UTC; load average at start: $(cut -d' ' -f1-3 /proc/loadavg))"
	} >"$raw/shim-$n.md"
	bench_log "$raw/shim-$n.out" ZFSLXC_SHIMBENCH_REPORT="$raw/shim-$n.md" \
		go test -run '^$' -bench "$SHIM_BENCH" -benchtime 1x -count 1 -timeout 90m ./integration/shimbench/
	grep -E '^Benchmark' "$raw/shim-$n.out" | tee "$raw/shim-$n.txt" >&2
	printf '\n(load average at the end of pass %s: %s)\n' "$n" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/shim-$n.md"
}

if has go; then
	run ./zfsdriver/ . "$BENCHTIME"
	run ./snapshotter/ 'Layer|Prepare$|Commit|Remove' "$BENCHTIME"
fi
if has unpack; then
	: >"$raw/unpack-report.md"
	RAWFILE=unpack.txt run ./integration/snapshotter/ 'Import' 1x 1
	RAWFILE=unpack.txt run ./integration/snapshotter/ 'Apply' 1x 1
	RAWFILE=unpack.txt run ./snapshotter/ 'PrepareImageSize' 1x 1
fi
if has shim; then
	for n in $(seq 1 "$SHIM_PASSES"); do shim_pass "$n"; done
fi

# Median of the runs of each benchmark, in ms, with the extra metrics.
if has go; then
table=$(awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) {
		if ($(i+1) == "ns/op") { v[name] = v[name] " " $i/1e6 }
		else if ($(i+1) != "B/op" && $(i+1) != "allocs/op") { extra[name] = $i " " $(i+1) }
	}
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
}
function median(s,   a, k, i, j, t) {
	k = split(s, a, " ")
	for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
END {
	for (i = 1; i <= n; i++) {
		name = order[i]; m = median(v[name]); med[name] = m
		group = name; sub(/\/[^\/]*$/, "", group)
		base = ""
		for (j = 1; j <= n; j++) {
			o = order[j]; g = o; sub(/\/[^\/]*$/, "", g)
			if (g == group && o != name && o ~ /\/(bare|bare-zfs|overlayfs|1MiB)$/) base = o
		}
		ratio = "";
		if (base != "" && name !~ /\/(bare|bare-zfs|overlayfs|1MiB)$/) ratio = sprintf("%.2f× %s", m / median(v[base]), substr(base, length(group) + 2))
		printf("| `%s` | %.3f | %s | %s |\n", name, m, ratio, extra[name])
	}
}' "$raw/all.txt")

{
	cat <<HDR
# Benchmarks

Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d); do not edit by hand.
Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r);
zfs: $(zfs version 2>/dev/null | head -1 || true)$( [ -e /sys/module/zfs ] || echo "zfs-fuse $(dpkg-query -W -f='${Version}' zfs-fuse 2>/dev/null)").
Median of $COUNT runs of $BENCHTIME iterations each; ms per operation. Each
row with a ratio is measured against its baseline in the same run: the bare
\`zfs\` commands the operation runs. The unpack benchmarks (image import
against overlayfs, Prepare by parent size) and the shim benchmarks (ctr
run, memory, many containers) have their own sections below.

| benchmark | ms/op | vs baseline | other |
|---|---:|---|---|
$table

## What the rows are

- \`zfsdriver\` rows: one driver call against the bare \`zfs\` command it runs
  (same pool, same process). \`BenchmarkOverhead\` is the driver's own cost with
  a runner that does nothing (validation, argument building, parsing).
- \`BenchmarkLayer\`: per image layer, Prepare (zfs clone) + Commit (zfs
  snapshot; readonly=on runs after Commit, batched) + Remove (unmount on
  zfs-fuse + destroy), and \`zfs-procs/op\`, the zfs processes spawned for
  that (busy retries included). containerd's own zfs snapshotter spawns 3–4
  per operation.
- \`BenchmarkPrepare\`, \`BenchmarkCommit\`, \`BenchmarkRemove\`: each operation
  alone against its bare commands.

## Raw output

\`\`\`
$(grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$raw/all.txt")
\`\`\`
HDR
} >"$raw/go.md"
elif [ -f "$OUT" ]; then
	# Keep the existing go section: everything before the unpack, shim, stress and faults sections.
	awk -v u="$UNPACK_BEGIN" -v b="$SHIM_BEGIN" '$0 == u || $0 == b || $0 == "<!-- stress:begin -->" || $0 == "<!-- faults:begin -->" { exit } { print }' "$OUT" >"$raw/go.md"
else
	: >"$raw/go.md"
fi

if has unpack; then
	unpack_notes=$(between "$OUT" "$UNPACK_NOTES_BEGIN" "$UNPACK_NOTES_END")
	{
		echo "$UNPACK_BEGIN"
		cat <<UNPACK
## Unpack: image import on zfslxc against overlayfs

Written by \`scripts/bench.sh\` (PARTS=unpack) on $(date -u +%Y-%m-%d); do not edit by hand
except between the notes markers. Machine: $(nproc) cores, $(uname -r); zfs-fuse
$(dpkg-query -W -f='${Version}' zfs-fuse 2>/dev/null || echo '?'); containerd 1.6.20 (Debian) and v2.4.2; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).
\`BenchmarkImport\` (integration/snapshotter): \`ctr images import\` of two
images, 4 layers of ~8 MiB in all (busybox, then three layers of 64 files
of 32 KiB, gzip) and 2 layers of 128 MiB (busybox and one 128 MiB file),
into zfslxc and into overlayfs in the same containerd, interleaved (the
order alternates). "First" is the first import after containerd and the
snapshotter start ($IMPORT_COLD rounds, each after a restart of both), "warm" the
median of $IMPORT_WARM rounds after one untimed warm-up. Each round removes the
image and collects garbage, so each import unpacks every layer. The zfs
processes per layer and the breakdown come from the snapshotter's debug
log (every zfs command with its duration). \`BenchmarkApply\` times the
write path alone: containerd's archive applier writing the same layers
into a directory on the host filesystem (where overlayfs keeps its upper
directories) and into zfs-fuse datasets, with the snapshotter's defaults
and with one dataset property changed ($IMPORT_WARM interleaved rounds).

UNPACK
		cat "$raw/unpack-report.md"
		echo
		echo "$UNPACK_NOTES_BEGIN"
		echo "${unpack_notes:-_No notes yet._}"
		echo "$UNPACK_NOTES_END"
		echo
		echo "#### Raw benchmark lines"
		echo
		echo '```'
		grep -E '^Benchmark' "$raw/unpack.txt"
		echo '```'
		echo "$UNPACK_END"
	} >"$raw/unpack.md"
else
	keep unpack "$UNPACK_BEGIN" "$UNPACK_END"
fi

if has shim; then
	notes=$(between "$OUT" "$NOTES_BEGIN" "$NOTES_END")
	exitnotes=$(between "$OUT" "$EXIT_BEGIN" "$EXIT_END")
	cgroup=$(stat -fc %T /sys/fs/cgroup)
	case $cgroup in cgroup2fs) cgroup="cgroup v2" ;; *) cgroup="cgroup v1 ($cgroup at /sys/fs/cgroup)" ;; esac
	{
		echo "$SHIM_BEGIN"
		cat <<SHIM
## Shim: containerd-shim-lxc-v1 + zfslxc against runc + overlayfs

Written by \`scripts/bench.sh\` on $(date -u +%Y-%m-%d) from integration/shimbench; do not edit by
hand except between the notes markers. Command:
\`PARTS="$PARTS"$( [ "$SHIM_BENCH" = 'CtrRun|ExitEvent|Runtime|ShimMemory|Many' ] || echo " SHIM_BENCH='$SHIM_BENCH'") SHIM_PASSES=$SHIM_PASSES SHIM_RUNS=$SHIM_RUNS MANY=$MANY MANY_CONCURRENCY=$MANY_CONCURRENCY SHIM_RSS_ROUNDS=$SHIM_RSS_ROUNDS scripts/bench.sh\`
(\`make bench\` runs it with these defaults and PARTS="go shim").
Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $cgroup;
zfs-fuse $(dpkg-query -W -f='${Version}' zfs-fuse 2>/dev/null || echo '?') (one zfs CLI call ≈ 15–45 ms), LXC $(lxc-start --version 2>/dev/null || echo '?'),
$(runc --version 2>/dev/null | head -1 || echo 'runc ?'); containerd 1.6.20 (Debian) and v2.4.2 (its own runc shim).
The machine is shared with other engineers' test runs: each pass records the
load average, and the passes differ by that noise. Both variants run in the
same containerd, in the same pass, interleaved (the order alternates every
run), so drift hits both.

- \`BenchmarkCtrRun\`: \`ctr run --rm\` of a busybox image whose entrypoint is
  \`echo hello\` (output checked), $SHIM_RUNS runs per variant after one
  untimed warm-up each. The phase table is the median time between the
  events containerd publishes for each run (\`ctr events\` timestamps:
  /snapshot/prepare, /containers/create, /tasks/create, /tasks/start,
  /tasks/exit, /tasks/delete, /containers/delete) and the lxc shim's
  "shim serving" log line; the zfs table is every zfs command the
  snapshotter ran meanwhile (its debug log, with durations).
- \`BenchmarkExitEvent\`: how long containerd waits to hear that a task's
  process ended: the benchmark SIGKILLs the container's init (\`sleep 600\`,
  host pid from \`ctr task ls\`) and times until the envelope of the
  /tasks/exit event the shim published, $SHIM_RUNS kills per runtime,
  interleaved, lxc shim vs runc's shim in the same containerd.
- \`BenchmarkRuntime\`: the runtimes without containerd, shims or
  snapshotters: the spec \`ctr\` generates for the hello image, running
  \`/bin/true\` on a plain busybox directory, through lxcrun (the shim's
  runtime layer: lxcconv, \`zfslxc-start\` + liblxc, \`zfslxc-init\`; each
  step timed in-process) and through \`runc run\`, interleaved,
  $SHIM_RUNS runs each.
- \`BenchmarkShimMemory\`: what serves a running container besides its own
  process (busybox sleep, the same under both and not counted): the shim,
  and for lxc any \`zfslxc-start\` of the container (LXC's monitor: none
  once the container runs since ADR 0007), while \`sleep 600\` runs, one
  container of each variant at a time; processes, VmRSS (/proc/PID/status)
  and PSS (/proc/PID/smaps_rollup) summed, median of $SHIM_RSS_ROUNDS rounds.
- \`BenchmarkMany\`: $MANY containers (\`ctr run -d … sleep 600\`) from one image,
  one at a time, then $MANY_CONCURRENCY at a time; total wall time, per-\`ctr run -d\` time,
  the time to remove them all (\`ctr task rm -f\` + \`ctr containers rm\`,
  same concurrency), and the disk the running containers add: for zfslxc
  the parent dataset's \`used\` (after a \`zfs snapshot\` forces the txg sync
  zfs-fuse's \`used\` waits for) and each clone's \`used\`/\`referenced\`;
  for overlayfs \`du -sk\` of its snapshots directory (upper + work dirs).
  Everything is removed (and garbage-collected) after each row.

$NOTES_BEGIN
${notes:-_No notes yet._}
$NOTES_END

$EXIT_BEGIN
${exitnotes:-_No notes yet._}
$EXIT_END
SHIM
		for n in $(seq 1 "$SHIM_PASSES"); do cat "$raw/shim-$n.md"; done
		echo
		echo "#### Raw benchmark lines"
		echo
		echo '```'
		for n in $(seq 1 "$SHIM_PASSES"); do echo "# pass $n"; cat "$raw/shim-$n.txt"; done
		echo '```'
		echo "$SHIM_END"
	} >"$raw/shim.md"
else
	keep shim "$SHIM_BEGIN" "$SHIM_END"
fi

# section FILE: FILE after one blank line, when FILE is not empty.
section() {
	[ -s "$1" ] || return 0
	echo
	cat "$1"
}

if has registry; then
	echo "==> registry: go test -bench 'Pull' ./integration/pull/, -bench 'DockerRun' ./integration/docker/" >&2
	for pb in ./integration/pull/:Pull ./integration/docker/:DockerRun; do
		bench_log "$raw/registry.out" ZFSLXC_REGISTRYBENCH_REPORT="$raw/registry-tables.md" \
			go test -run '^$' -bench "${pb#*:}" -benchtime 1x -count 1 -timeout 90m "${pb%%:*}"
	done
	wrap registry "$REG_BEGIN" "$REG_END" "$raw/registry-tables.md" <<REG
## Registry pulls and Docker: zfslxc against overlayfs, LXC against runc

Written by \`scripts/bench.sh\` (PARTS=registry) on $(date -u +%Y-%m-%d) from integration/pull and
integration/docker; do not edit by hand. The registry is the reference
registry (distribution v3.1.2) on 127.0.0.1, plain HTTP, its storage on
the same disk. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).
REG
else
	keep registry "$REG_BEGIN" "$REG_END"
fi

if has cri; then
	echo "==> go test -bench CRI ./integration/cri/ (CRI_BENCH_RUNS=${CRI_BENCH_RUNS:-10} CRI_BENCH_MANY=${CRI_BENCH_MANY:-20})" >&2
	bench_log "$raw/cri.out" ZFSLXC_CRIBENCH_REPORT="$raw/cri.report" \
		go test -run '^$' -bench 'BenchmarkCRI$' -benchtime 1x -count 1 -timeout 60m ./integration/cri/
	wrap cri "$CRI_BEGIN" "$CRI_END" "$raw/cri.report" <<CRI

## CRI: pods under the lxc handler against runc

Written by \`scripts/bench.sh\` on $(date -u +%Y-%m-%d) from integration/cri (BenchmarkCRI); do not edit by
hand. Both runtimes in the same CRI containerd (crictl v1.34.0, Debian's CNI
bridge), interleaved: containerd 1.6 runs both on zfslxc (its CRI-wide
snapshotter: 1.6 ignores a runtime's own), 2.4 runs runc on overlayfs and
lxc on zfslxc. Load average at start: $(cut -d' ' -f1-3 /proc/loadavg).
Processes and RSS count what serves the pod besides its containers' own
processes: shims (one per pod for both: the lxc shim groups a pod's
sandbox and containers by io.kubernetes.cri.sandbox-id, as runc's does)
and, for lxc, any \`zfslxc-start\` (LXC's monitor, which the shim ends once
a container's init is set up since ADR 0007; it stayed for the
container's life before) — VmRSS summed, shared pages counted in each.
CRI
else
	keep cri "$CRI_BEGIN" "$CRI_END"
fi

# The stress section (make stress, scripts/stress.sh) is kept as it is.
keep stress '<!-- stress:begin -->' '<!-- stress:end -->'
# So is the faults section (make faults, make hostile-big; by hand).
keep faults '<!-- faults:begin -->' '<!-- faults:end -->'
{
	# The go section without its trailing blank lines, then the others.
	awk 'NF { for (; blank > 0; blank--) print ""; print; next } { blank++ }' "$raw/go.md"
	section "$raw/unpack.md"
	section "$raw/shim.md"
	section "$raw/registry.md"
	section "$raw/cri.md"
	section "$raw/stress.md"
	section "$raw/faults.md"
} >"$OUT"
echo "==> wrote $OUT" >&2
