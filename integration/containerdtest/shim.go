package containerdtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ShimBinary is the LXC shim's binary name.
const ShimBinary = "containerd-shim-lxc-v1"

// ShimBinDir returns $ZFSLXC_BIN_DIR after checking it holds the shim and
// its helpers (make build); it skips (or fails under RequireEnv) when not.
func ShimBinDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		SkipOrFail(t, "%s is not set (make test sets it to bin/; go build -o bin/ ./cmd/...)", BinDirEnv)
	}
	for _, b := range []string{ShimBinary, "zfslxc-init", "zfslxc-start"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			SkipOrFail(t, "%s: %v", b, err)
		}
	}
	return dir
}

// ShimProcs lists the LXC shim and zfslxc-start processes ("pid: command
// line") whose command line contains any of subs (container ids, bundle
// paths).
func ShimProcs(subs ...string) []string {
	ents, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(data), "\x00", " ")
		if !strings.Contains(cmd, ShimBinary) && !strings.Contains(cmd, "zfslxc-start") {
			continue
		}
		for _, s := range subs {
			if strings.Contains(cmd, s) {
				found = append(found, e.Name()+": "+cmd)
				break
			}
		}
	}
	return found
}
