package devpool

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCloseInheritedOnExec: a descriptor inherited without close-on-exec
// (flock(1)'s lock fd) does not reach a child started afterwards; a
// zfs-fuse started under `flock LOCK go test` held the lock for good.
func TestCloseInheritedOnExec(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "lock")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd())) // dup: no close-on-exec, as inherited
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	child := func() string {
		out, err := exec.Command("/bin/sh", "-c", fmt.Sprintf("[ -e /proc/self/fd/%d ] && echo open || echo closed", fd)).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := child(); got != "open" {
		t.Fatalf("before: fd %d is %s in the child, want open (the test cannot see the leak)", fd, got)
	}
	if err := closeInheritedOnExec(); err != nil {
		t.Fatal(err)
	}
	if got := child(); got != "closed" {
		t.Errorf("after closeInheritedOnExec: fd %d is %s in the child", fd, got)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Errorf("fd %d closed in this process: %v", fd, err)
	}
}
