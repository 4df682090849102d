#!/usr/bin/env bash
# Runs integration/docker TestDockerParity (docker run under runc and under
# the LXC shim in one dockerd on containerd 2.4 + zfslxc) and writes its
# table into docs/parity.md between the docker-parity markers. Needs what
# `make test` needs (root, zfs, `scripts/deps.sh --test`, make build).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-docs/parity.md}
BEGIN='<!-- docker-parity:begin -->'
END='<!-- docker-parity:end -->'
table=$(mktemp)
trap 'rm -f "$table"' EXIT
eval "$(scripts/deps.sh --print-env)"
status=0
ZFSLXC_REQUIRE_ZFS=1 ZFSLXC_REQUIRE_INTEGRATION=1 ZFSLXC_BIN_DIR=${ZFSLXC_BIN_DIR:-$PWD/bin} \
	ZFSLXC_DOCKER_PARITY=1 ZFSLXC_DOCKER_PARITY_OUT="$table" \
	go test -count=1 -timeout 30m -run 'TestDockerParity$' -v ./integration/docker/ || status=$?
[ -s "$table" ] || { echo "docker-parity: no table written" >&2; exit 1; }
grep -qxF "$BEGIN" "$OUT" || { echo "docker-parity: $OUT has no $BEGIN marker" >&2; exit 1; }
{
	awk -v b="$BEGIN" '{ print } $0 == b { exit }' "$OUT"
	echo
	echo "Written by \`make docker-parity\` on $(date -u +%Y-%m-%d); do not edit by hand."
	echo
	cat "$table"
	echo
	awk -v e="$END" '$0 == e { p = 1 } p { print }' "$OUT"
} >"$OUT.new"
mv "$OUT.new" "$OUT"
echo "==> wrote the Docker table of $OUT" >&2
exit $status
