// Package snapshotter holds the end-to-end tests of zfslxc-snapshotter:
// the real daemon binary on a real (zfs-fuse) test pool, registered as the
// proxy snapshotter "zfslxc" of a private containerd, driven with ctr for
// each containerd flavor (Debian's 1.6 and v2.4.2), and through its gRPC
// socket where ctr cannot say what a test needs.
//
// The tests need root, ZFS and containerd; they skip and say why without
// them, and fail instead under ZFSLXC_REQUIRE_ZFS=1 and
// ZFSLXC_REQUIRE_INTEGRATION=1 (as `make test` runs them). The daemon is
// taken from ZFSLXC_BIN_DIR, or built once per run.
package snapshotter
