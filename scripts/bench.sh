#!/usr/bin/env bash
# Runs the benchmarks against their baselines on this machine and writes
# docs/benchmarks.md. Needs root, zfs (zfs-fuse is started when no kernel
# ZFS is loaded) and, for the import comparison, the containerd binaries
# `make deps` installs. Benchmarks are not tests: nothing here asserts a
# timing. Run on an idle machine; BENCHTIME and COUNT tune the effort.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHTIME=${BENCHTIME:-30x}
COUNT=${COUNT:-3}
OUT=${OUT:-docs/benchmarks.md}
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT

run() { # package, benchmark regexp, benchtime[, count]
	local count=${4:-$COUNT}
	echo "==> go test -bench '$2' $1 (benchtime $3, count $count)" >&2
	ZFSLXC_REQUIRE_ZFS=1 ZFSLXC_REQUIRE_INTEGRATION=1 ZFSLXC_BIN_DIR=${ZFSLXC_BIN_DIR:-$PWD/bin} \
		go test -run '^$' -bench "$2" -benchtime "$3" -count "$count" -timeout 60m "$1" 2>"$raw/stderr" |
		tee -a "$raw/all.txt" | grep -E '^Benchmark' >&2 || { cat "$raw/stderr" >&2; exit 1; }
}

run ./zfsdriver/ . "$BENCHTIME"
run ./snapshotter/ 'Layer|Prepare$|Commit|Remove' "$BENCHTIME"
run ./snapshotter/ 'PrepareImageSize' "$BENCHTIME"
if ls integration/snapshotter/*_test.go >/dev/null 2>&1 && grep -q 'func BenchmarkImport' integration/snapshotter/*_test.go; then
	run ./integration/snapshotter/ 'Import' "${IMPORT_BENCHTIME:-5x}" "${IMPORT_COUNT:-1}"
fi

# Median of the runs of each benchmark, in ms, with the extra metrics.
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
Median of $COUNT runs of $BENCHTIME iterations each (the import rows: ${IMPORT_COUNT:-1}
run of ${IMPORT_BENCHTIME:-5x}); ms per operation. Each
row with a ratio is measured against its baseline in the same run: the bare
\`zfs\` commands the operation runs, or overlayfs in the same containerd.

| benchmark | ms/op | vs baseline | other |
|---|---:|---|---|
$table

## What the rows are

- \`zfsdriver\` rows: one driver call against the bare \`zfs\` command it runs
  (same pool, same process). \`BenchmarkOverhead\` is the driver's own cost with
  a runner that does nothing (validation, argument building, parsing).
- \`BenchmarkLayer\`: per image layer, Prepare (zfs clone) + Commit (zfs
  snapshot + readonly=on) + Remove (unmount on zfs-fuse + destroy), and
  \`zfs-procs/op\`, the zfs processes spawned for that (busy retries included).
  containerd's own zfs snapshotter spawns 3–4 per operation.
- \`BenchmarkPrepare\`, \`BenchmarkCommit\`, \`BenchmarkRemove\`: each operation
  alone against its bare commands.
- \`BenchmarkPrepareImageSize\`: Prepare on a parent layer of 1 MiB and of
  1 GiB: a clone costs the same whatever the size.
- \`BenchmarkImport\` (when present): \`ctr images import\` of the same image with
  \`--snapshotter zfslxc\` and with \`overlayfs\`, in the same containerd.

## Raw output

\`\`\`
$(grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$raw/all.txt")
\`\`\`
HDR
} >"$OUT"
echo "==> wrote $OUT" >&2
