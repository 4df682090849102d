#!/usr/bin/env bash
# Start a test run with a fresh zfs-fuse when the running one holds no
# pools. A zfs-fuse that had served an hour of test runs (pools created and
# destroyed by the hundred) deadlocked here once: every thread waiting on a
# futex, FUSE requests (a setxattr of an image unpack) never answered, the
# tests hung. Kernel ZFS, and a zfs-fuse with pools imported (someone's
# data), are left alone; a zfs-fuse that does not answer is restarted.
# The tests start zfs-fuse again themselves (internal/devpool).
set -euo pipefail

[ -e /sys/module/zfs ] && exit 0
pid=$(pgrep -x zfs-fuse || true)
[ -n "$pid" ] || exit 0

# Test pools (zfslxct<pid>x…) of test processes that are gone hold
# nothing of anyone's: destroy them, so they do not keep an old zfs-fuse.
dir=/var/tmp/zfslxc-testpools
if pools=$(timeout 20 zpool list -H -o name 2>/dev/null); then
	for p in $pools; do
		[[ $p =~ ^zfslxct([0-9]+)x ]] || continue
		kill -0 "${BASH_REMATCH[1]}" 2>/dev/null && continue
		echo "==> destroying the stale test pool $p"
		timeout 60 zpool destroy -f "$p" || true
		rm -f "$dir/$p.img"; rmdir "$dir/$p.mnt" 2>/dev/null || true
	done
fi
if pools=$(timeout 20 zpool list -H -o name 2>/dev/null); then
	if [ -n "$pools" ]; then
		echo "==> zfs-fuse holds pools ($(echo $pools)): not restarting it"
		exit 0
	fi
	echo "==> restarting the idle zfs-fuse (pid $pid) for a fresh test run"
else
	echo "==> zfs-fuse (pid $pid) does not answer: restarting it"
fi
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 50); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.2
done
kill -KILL "$pid" 2>/dev/null || true
# The mounts of a daemon that is gone only answer ENOTCONN.
awk '$3 == "fuse.zfs" {print $2}' /proc/mounts | sort -r | while read -r m; do
	umount -l "$m" 2>/dev/null || true
done
rm -f /run/zfs-fuse.pid
