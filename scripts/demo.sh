#!/usr/bin/env bash
# make demo: a file-backed ZFS pool, the zfslxc snapshotter, a private
# containerd with it registered, a locally built image imported onto ZFS and
# run (runc, then the LXC shim); then a zfslxc template of the same image
# (a clone of the snapshotter's layer), a plain LXC container cloned from
# it and lxc-start. `scripts/demo.sh clean` (make demo-clean) undoes it all.
# Expects `make deps build` to have run (make demo does that).
set -euo pipefail
cd "$(dirname "$0")/.."

POOL=${DEMO_POOL:-zfslxcdemo}
DATASET=$POOL/snapshots
TEMPLATES=$POOL/templates
STATE=/var/lib/zfslxc-demo
LXCPATH=$STATE/lxc
CT=demo-ct
RUN=/run/zfslxc-demo
IMAGE=docker.io/zfslxc/demo:latest
BIN=$PWD/bin
CONTAINERD=/usr/bin/containerd # Debian's 1.6; see README for 2.x
CTR=(/usr/bin/ctr --address "$RUN/containerd.sock")

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
stop_pid() { # pidfile
	[ -f "$1" ] || return 0
	local pid; pid=$(cat "$1")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}

clean() {
	if [ -d "$LXCPATH/$CT" ]; then
		step "removing LXC container $CT (lxc-stop -k) and its clone"
		"$BIN/zfslxc" lxc rm "$CT" --dataset "$TEMPLATES" --lxcpath "$LXCPATH" --bin-dir "$BIN" || true
	fi
	step "stopping containerd and the snapshotter"
	if [ -S "$RUN/containerd.sock" ]; then
		for c in $("${CTR[@]}" containers ls -q 2>/dev/null); do
			"${CTR[@]}" tasks kill -s KILL "$c" >/dev/null 2>&1 || true
			"${CTR[@]}" tasks delete "$c" >/dev/null 2>&1 || true
			"${CTR[@]}" containers delete "$c" >/dev/null 2>&1 || true
		done
	fi
	stop_pid "$RUN/containerd.pid"
	stop_pid "$RUN/snapshotter.pid"
	grep -o " $STATE[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	step "destroying pool $POOL"
	if [ -x "$BIN/zfslxc" ]; then "$BIN/zfslxc" devpool down --name "$POOL" || true; fi
	rm -rf "$STATE" "$RUN"
	echo "demo cleaned up"
}

wait_socket() { # path, what, log
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
	echo "$2 did not start; its log ($3):" >&2; tail -20 "$3" >&2; exit 1
}

demo() {
	mkdir -p "$STATE" "$RUN"
	chmod 700 "$RUN"
	stop_pid "$RUN/containerd.pid"
	stop_pid "$RUN/snapshotter.pid"

	step "ZFS pool $POOL on a sparse file (zfs-fuse is started if the kernel has no ZFS)"
	"$BIN/zfslxc" devpool up --name "$POOL" --size 4G --keep

	step "zfslxc-snapshotter on dataset $DATASET, socket $RUN/snapshotter.sock"
	"$BIN/zfslxc-snapshotter" --dataset "$DATASET" --root "$STATE/snapshotter" \
		--address "$RUN/snapshotter.sock" --metrics-address 127.0.0.1:9338 \
		>"$STATE/snapshotter.log" 2>&1 &
	echo $! >"$RUN/snapshotter.pid"
	wait_socket "$RUN/snapshotter.sock" zfslxc-snapshotter "$STATE/snapshotter.log"

	step "a private containerd ($($CONTAINERD --version | awk '{print $3}')) with the snapshotter as proxy plugin 'zfslxc'"
	cat >"$STATE/containerd.toml" <<TOML
version = 2
root = "$STATE/containerd/root"
state = "$RUN/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$RUN/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
TOML
	"$BIN/zfslxc" config containerd --version 1 --address "$RUN/snapshotter.sock" >>"$STATE/containerd.toml"
	sed 's/^/    /' "$STATE/containerd.toml"
	# bin/ first on containerd's PATH: it finds containerd-shim-lxc-v1 there.
	env PATH="$BIN:/usr/sbin:/usr/bin:/sbin:/bin" "$CONTAINERD" --config "$STATE/containerd.toml" \
		>"$STATE/containerd.log" 2>&1 &
	echo $! >"$RUN/containerd.pid"
	wait_socket "$RUN/containerd.sock" containerd "$STATE/containerd.log"

	step "building the demo image locally (busybox-static, 3 layers with whiteouts)"
	go run ./integration/imagebuild/mkimage -o "$STATE/demo.tar" -name "$IMAGE" \
		-cmd 'echo "hello from a container on ZFS: $(cat /data/keep.txt)"; ls /data'

	step "ctr images import --snapshotter zfslxc"
	"${CTR[@]}" images import --snapshotter zfslxc "$STATE/demo.tar"
	echo "one dataset per layer, each with its @committed snapshot:"
	zfs list -r -t all -o name,used,refer,origin "$DATASET"

	step "ctr run --snapshotter zfslxc (runtime: runc)"
	"${CTR[@]}" run --rm --snapshotter zfslxc "$IMAGE" demo1
	echo
	echo "The container's root was a zfs clone of the top layer; containerd's garbage"
	echo "collection has the snapshotter destroy it once the container is gone:"
	for _ in $(seq 50); do
		[ "$(zfs list -H -o name -d 1 "$DATASET" | wc -l)" -le 4 ] && break
		sleep 0.2
	done
	zfs list -r -o name,origin "$DATASET"

	step "ctr run --snapshotter zfslxc --runtime io.containerd.lxc.v1 (the same image under LXC)"
	"${CTR[@]}" run --rm --snapshotter zfslxc --runtime io.containerd.lxc.v1 "$IMAGE" demo-lxc
	echo "and an exit code through LXC:"
	set +e
	"${CTR[@]}" run --rm --snapshotter zfslxc --runtime io.containerd.lxc.v1 "$IMAGE" demo-exit sh -c 'echo "exiting with 42"; exit 42'
	echo "ctr run exited with $?"
	set -e

	step "zfslxc template create demo --from $IMAGE (the image in containerd's store, through its API)"
	"$BIN/zfslxc" template create demo --from "$IMAGE" --address "$RUN/containerd.sock" --dataset "$TEMPLATES"
	echo "the template is a zfs clone of the snapshotter's top layer (no unpack, no copy):"
	zfs list -r -t all -o name,used,refer,origin "$TEMPLATES"
	"$BIN/zfslxc" template ls --dataset "$TEMPLATES"

	step "zfslxc lxc create $CT --template demo (a plain LXC container, rootfs a clone of the template)"
	"$BIN/zfslxc" lxc rm "$CT" --dataset "$TEMPLATES" --lxcpath "$LXCPATH" --bin-dir "$BIN" >/dev/null 2>&1 || true
	"$BIN/zfslxc" lxc create "$CT" --template demo --dataset "$TEMPLATES" --lxcpath "$LXCPATH" --bin-dir "$BIN"

	step "lxc-start -n $CT -P $LXCPATH -F (the image's ENTRYPOINT+CMD, run by LXC itself)"
	lxc-start -n "$CT" -P "$LXCPATH" -F
	"$BIN/zfslxc" lxc ls --dataset "$TEMPLATES" --lxcpath "$LXCPATH" --bin-dir "$BIN"

	step "metrics"
	curl -fsS 127.0.0.1:9338/metrics 2>/dev/null | grep -E '^zfslxc_snapshotter_(operations_total|snapshots|zfs_commands_total)' || true

	cat <<MSG

The demo stays up. Try:
  ${CTR[*]} run --rm -t --snapshotter zfslxc $IMAGE demo2 sh
  zfs list -r -t all $DATASET
  ${CTR[*]} run --rm --snapshotter zfslxc --runtime io.containerd.lxc.v1 $IMAGE demo3 sh -c 'ls /data'
  lxc-start -n $CT -P $LXCPATH -F
  $BIN/zfslxc lxc create ct2 --template demo --dataset $TEMPLATES --lxcpath $LXCPATH -- /bin/sh -c 'echo "\$@"' sh a 'b c'
Logs: $STATE/snapshotter.log, $STATE/containerd.log
Undo everything: make demo-clean
(The LXC shim also does ctr run -t, ctr tasks exec, kill, ps, pause/resume, metrics and OOM events.)
MSG
}

case "${1:-}" in
clean) clean ;;
"") demo ;;
*) echo "usage: $0 [clean]" >&2; exit 2 ;;
esac
