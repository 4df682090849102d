#!/bin/bash
# make stress: N containers at once through ctr (lxc+zfslxc against
# runc+overlayfs in the same containerd), ROUNDS rounds, every exit code
# and every leftover checked (integration/shim TestStress); then 5
# images with shared layers imported at once while containers and
# templates churn (TestChurn). On success it
# writes the stress section of docs/benchmarks.md (between the markers;
# scripts/bench.sh keeps it). Needs root, zfs, LXC, both containerds
# (make deps). ZFSLXC_STRESS_N (100) and ZFSLXC_STRESS_ROUNDS (3) size it;
# STRESS_LOG=FILE writes the section from the -v output of an earlier run.
set -euo pipefail
OUT=${OUT:-docs/benchmarks.md}
BEGIN='<!-- stress:begin -->'
END='<!-- stress:end -->'
log=$(mktemp)
trap 'rm -f "$log" "$log.section"' EXIT
if [ -n "${STRESS_LOG:-}" ]; then
	# Only write the section, from the -v output of an earlier run.
	cp "$STRESS_LOG" "$log"
	status=0
else
	set +e
	ZFSLXC_STRESS=1 ZFSLXC_REQUIRE_ZFS=1 ZFSLXC_REQUIRE_INTEGRATION=1 ZFSLXC_BIN_DIR=${ZFSLXC_BIN_DIR:-$PWD/bin} \
		go test -count=1 -v -timeout 90m -run '^(TestStress|TestChurn)$' ./integration/shim/ >"$log" 2>&1
	status=$?
	set -e
fi
grep -E 'stress_test.go|churn_test.go|^\s*--- |^(ok|FAIL|PASS)' "$log" || true
if [ $status -ne 0 ]; then
	echo "==> stress test failed (exit $status): $OUT not changed" >&2
	tail -50 "$log" >&2
	exit $status
fi
{
	echo "$BEGIN"
	echo "## Stress: containers at once through ctr"
	echo
	echo "Written by \`make stress\` (scripts/stress.sh, integration/shim TestStress) on $(date -u +%Y-%m-%d);"
	echo "do not edit by hand. Each batch starts N containers at once with \`ctr run --rm\`"
	echo "(each prints its number and exits with it), under our shim on the zfslxc"
	echo "snapshotter or under runc on overlayfs in the same containerd, the runtimes"
	echo "taking turns going first; after each lxc batch nothing is left (task,"
	echo "container, process, cgroup, mount, dataset after a garbage collection)."
	echo "Wall time of the whole batch; failures = wrong exit code or output, or an error."
	echo
	echo "| containerd | round | runtime | containers | wall time | failures |"
	echo "|---|---:|---|---:|---:|---:|"
	awk '/=== RUN   TestStress\// { split($3, a, "/"); flavor = a[2] }
	     /stress_test.go:[0-9]+: round / {
		for (i = 1; i <= NF; i++) if ($i == "round") { r = $(i+1); rt = $(i+2); n = $(i+3); t = $(i+7); f = $(i+8) }
		sub(/,$/, "", t); printf "| %s | %s | %s | %s | %s | %s |\n", flavor, r, rt, n, t, f }' "$log"
	echo
	grep -E 'stress_test.go:[0-9]+: containerd-' "$log" | sed -E 's/^.*stress_test.go:[0-9]+: /- /'
	echo
	echo "### Imports while containers and templates churn (TestChurn)"
	echo
	echo "Five images sharing layers (busybox, a layer all share, one the even ones"
	echo "share, one of their own that replaces a shared file and whites out"
	echo "another) imported with \`ctr images import\` all at once, checked in a"
	echo "container each (every file's digest, every directory's listing), then"
	echo "removed; meanwhile loops of \`ctr run --rm\` (exit code checked) and of"
	echo "\`zfslxc template create\`/\`rm\` (a second process mounting datasets on the"
	echo "same zfs-fuse; the template's files checked). A watchdog fails the run"
	echo "with every zfs/ctr/daemon process's state and the goroutine dumps if it"
	echo "has not ended within 300 s. Afterwards nothing is left (as above, and no"
	echo "template). TestChurn also runs in make test."
	echo
	grep -E 'churn_test.go:[0-9]+: containerd-' "$log" | sed -E 's/^.*churn_test.go:[0-9]+: /- /'
	echo "$END"
} >"$log.section"
if [ -f "$OUT" ] && grep -qxF "$BEGIN" "$OUT"; then
	awk -v b="$BEGIN" -v e="$END" -v f="$log.section" '
		$0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
		$0 == e { skip = 0; next }
		!skip { print }' "$OUT" >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
else
	{ echo; cat "$log.section"; } >>"$OUT"
fi
echo "==> wrote the stress section of $OUT" >&2
