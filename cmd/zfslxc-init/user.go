package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// capSets are the five capability sets as bit masks.
type capSets struct {
	bounding, effective, permitted, inheritable, ambient uint64
}

// parseCaps turns the spec's names into masks. Unknown names (a newer
// runtime-spec, an older kernel) are left out and reported, as runc does:
// leaving one out is the safe side. No capabilities at all means empty sets.
func parseCaps(c *specs.LinuxCapabilities) (capSets, []string) {
	var s capSets
	if c == nil {
		return s, nil
	}
	var unknown []string
	mask := func(names []string) uint64 {
		var m uint64
		for _, n := range names {
			if _, v, ok := lxcconv.Capability(n); ok {
				m |= 1 << v
			} else {
				unknown = append(unknown, n)
			}
		}
		return m
	}
	s.bounding = mask(c.Bounding)
	s.effective = mask(c.Effective)
	s.permitted = mask(c.Permitted)
	s.inheritable = mask(c.Inheritable)
	s.ambient = mask(c.Ambient)
	return s, unknown
}

// lastCap is the highest capability the running kernel knows.
func lastCap() uint {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 8); err == nil {
			return uint(v)
		}
	}
	return unix.CAP_LAST_CAP
}

// setUser changes to the process's user and capabilities, in runc's order:
// bounding set first (needs CAP_SETPCAP, which the helper still has), then
// groups and ids with PR_SET_KEEPCAPS so the permitted set survives the uid
// change, then the effective, permitted and inheritable sets, then ambient.
// LXC's lxc.cap.keep has already limited the bounding set to the spec's
// set plus what this needs (setuid, setgid, setpcap); they are dropped here.
func setUser(p *lxcconv.Process) error {
	caps, unknown := parseCaps(p.Capabilities)
	for _, n := range unknown {
		fmt.Fprintf(os.Stderr, "zfslxc-init: warning: unknown capability %q left out\n", n)
	}
	last := lastCap()
	for c := uint(0); c <= last; c++ {
		if caps.bounding&(1<<c) != 0 {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil || in == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_KEEPCAPS: %w", err)
	}
	groups := supplementaryGroups(p.AdditionalGids)
	// The syscall package applies these to every thread of the process.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", p.AdditionalGids, err)
	}
	if err := syscall.Setresgid(int(p.GID), int(p.GID), int(p.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", p.GID, err)
	}
	if err := syscall.Setresuid(int(p.UID), int(p.UID), int(p.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", p.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_KEEPCAPS: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(caps.effective), Permitted: uint32(caps.permitted), Inheritable: uint32(caps.inheritable)},
		{Effective: uint32(caps.effective >> 32), Permitted: uint32(caps.permitted >> 32), Inheritable: uint32(caps.inheritable >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	for c := uint(0); c <= last; c++ {
		if caps.ambient&(1<<c) == 0 {
			continue
		}
		// Like runc: an ambient capability missing from the permitted
		// or inheritable set cannot be raised; that is the spec's choice.
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			fmt.Fprintf(os.Stderr, "zfslxc-init: warning: raising ambient capability %d: %v\n", c, err)
		}
	}
	return nil
}

// supplementaryGroups returns gids without repeats, in order. Docker puts
// a group twice in additionalGids when --group-add names a group the
// image's /etc/group already gives the user; runc sets it once (id prints
// it once), and so do we.
func supplementaryGroups(gids []uint32) []int {
	groups := make([]int, 0, len(gids))
	for _, g := range gids {
		if !slices.Contains(groups, int(g)) {
			groups = append(groups, int(g))
		}
	}
	return groups
}
