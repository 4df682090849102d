// Package containerdtest runs real daemons for end-to-end tests: a private
// containerd (Debian's 1.6 or v2.4.2) with a config of its own, and the
// zfslxc-snapshotter binary on a test pool, each in fresh directories and
// torn down when the test ends, passed or failed.
//
// Tests that need a daemon skip when the host cannot run it (not root,
// binaries missing) and say why; with ZFSLXC_REQUIRE_INTEGRATION=1 (set by
// `make test`) they fail instead, so the tier cannot be skipped unnoticed
// where it is meant to run.
//
// Daemons are called by absolute path: ~/go/bin comes early on PATH here,
// and a containerd v2 installed there would shadow Debian's 1.6.
package containerdtest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// RequireEnv is the variable that turns integration-test skips into
// failures.
const RequireEnv = "ZFSLXC_REQUIRE_INTEGRATION"

// SkipOrFail skips the test, or fails it when RequireEnv=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf(format+" (%s=1 requires the integration tests)", append(args, RequireEnv)...)
	}
	t.Skipf(format, args...)
}

// RequireHost skips (or fails) unless the host can run flavor f: root,
// and the daemon, ctr and runc present. An Optional flavor that is not
// built is skipped even under RequireEnv.
func RequireHost(t testing.TB, f Flavor) {
	t.Helper()
	if f.Optional {
		if _, err := os.Stat(f.Daemon); err != nil {
			t.Skipf("%s not built (make deps builds it): %v", f.Name, err)
		}
	}
	if os.Geteuid() != 0 {
		SkipOrFail(t, "%s: needs root", f.Name)
	}
	for _, p := range []string{f.Daemon, f.Ctr} {
		if _, err := os.Stat(p); err != nil {
			SkipOrFail(t, "%s: %v", f.Name, err)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		SkipOrFail(t, "%s: runc not found (apt-get install runc): %v", f.Name, err)
	}
}

// ScratchDir makes a directory for daemon data under /var/tmp (on disk;
// /tmp can be a small tmpfs), unmounted below and removed at cleanup.
func ScratchDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", pattern)
	if err != nil {
		t.Fatalf("scratch dir: %v", err)
	}
	t.Cleanup(func() {
		UnmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// socketDir makes a directory for sockets under /run (sun_path holds only
// 108 bytes), removed at cleanup.
func socketDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/run", pattern)
	if err != nil {
		t.Fatalf("socket dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// UnmountUnder lazily unmounts every mount at or below dir, deepest first,
// so a failed test cannot leave mounts that block RemoveAll.
func UnmountUnder(t testing.TB, dir string) {
	if runtime.GOOS != "linux" {
		return
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			t.Logf("unmount %s: %v", mounts[i], err)
		}
	}
}

// unescapeMountinfo undoes the octal escapes (\040 for space…) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// logTail returns the last n lines of the file at path under a header.
func logTail(name, path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no %s log: %v)", name, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + name + " log (tail) ---\n" + strings.Join(lines, "\n")
}

// ChildDatasets lists the filesystem datasets below parent (not parent
// itself), as zfs lists them.
func ChildDatasets(t testing.TB, parent string) []string {
	t.Helper()
	out, err := exec.Command("zfs", "list", "-H", "-r", "-t", "filesystem", "-o", "name", parent).Output()
	if err != nil {
		t.Fatalf("zfs list -r %s: %v", parent, err)
	}
	var list []string
	for _, n := range strings.Fields(string(out)) {
		if n != parent {
			list = append(list, n)
		}
	}
	return list
}
