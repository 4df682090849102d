package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// capByName maps OCI capability names to their numbers.
var capByName = map[string]uint{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
	"CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE,
	"CAP_SYS_PACCT": unix.CAP_SYS_PACCT, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN,
	"CAP_SYS_BOOT": unix.CAP_SYS_BOOT, "CAP_SYS_NICE": unix.CAP_SYS_NICE,
	"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "CAP_SYS_TIME": unix.CAP_SYS_TIME,
	"CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG, "CAP_MKNOD": unix.CAP_MKNOD,
	"CAP_LEASE": unix.CAP_LEASE, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "CAP_SETFCAP": unix.CAP_SETFCAP,
	"CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE, "CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN,
	"CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ,
	"CAP_PERFMON": unix.CAP_PERFMON, "CAP_BPF": unix.CAP_BPF,
	"CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

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
			up := strings.ToUpper(n)
			if !strings.HasPrefix(up, "CAP_") {
				up = "CAP_" + up
			}
			if v, ok := capByName[up]; ok {
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
	groups := make([]int, len(p.AdditionalGids))
	for i, g := range p.AdditionalGids {
		groups[i] = int(g)
	}
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
