package lxcrun

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// subreaper counts the Starts in progress, which need this process to be
// the child subreaper (PR_SET_CHILD_SUBREAPER): when a Start ends LXC's
// monitor, the container's init must become this process's child, to be
// reaped here with its status. The flag is on only while a Start runs,
// so that what a container without a pid namespace of its own leaves
// when its processes' parents exit goes where it went before (the host's
// init), not to a shim that does not reap strangers.
var subreaper struct {
	sync.Mutex
	holders int
}

// holdSubreaper turns the flag on until the returned function is called.
func holdSubreaper() (func(), error) {
	subreaper.Lock()
	defer subreaper.Unlock()
	if subreaper.holders == 0 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("becoming the child subreaper: %w", err)
		}
	}
	subreaper.holders++
	return func() {
		subreaper.Lock()
		defer subreaper.Unlock()
		subreaper.holders--
		if subreaper.holders == 0 {
			_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		}
	}, nil
}
