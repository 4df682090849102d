// Package shimbench holds the benchmarks of containerd-shim-lxc-v1 with the
// zfslxc snapshotter against containerd's runc shim with overlayfs, in the
// same private containerd, for each containerd flavor (Debian's 1.6 and
// v2.4.2): `ctr run --rm` latency with a phase breakdown, the shim's memory,
// and 50 containers from one image (start time and disk used).
//
// Benchmarks are not tests: nothing here asserts a timing; a benchmark
// fails only when a container does not do what it should (wrong output,
// not running). `make bench` (scripts/bench.sh) runs them and writes
// docs/benchmarks.md; under `go test` without -bench nothing runs. They
// need root, ZFS, LXC and containerd, and the binaries in ZFSLXC_BIN_DIR.
package shimbench
