package containerdtest

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// ZfslxcBinDir returns $ZFSLXC_BIN_DIR after checking that it holds the
// shim, its helpers and the snapshotter (make build); it skips or fails
// (RequireEnv) otherwise.
func ZfslxcBinDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		SkipOrFail(t, "%s is not set (make test sets it to bin/)", BinDirEnv)
	}
	for _, b := range []string{"containerd-shim-lxc-v1", "zfslxc-init", "zfslxc-start", "zfslxc-snapshotter"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			SkipOrFail(t, "%s: %v (make build)", b, err)
		}
	}
	return dir
}

// Median returns the median of v (0 for none), for benchmarks that time
// interleaved runs themselves.
func Median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
