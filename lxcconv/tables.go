package lxcconv

import (
	"strings"

	"golang.org/x/sys/unix"
)

// The name tables of the process spec, one home each: lxcconv maps them to
// LXC keys and zfslxc-init (which links lxcconv) applies them with the
// same tables, so a name one side knows the other knows too.

// capabilities are the capabilities LXC 5.0 and zfslxc-init know, by OCI
// name, with their numbers; the LXC name is the OCI name lowercased
// without CAP_ (lxc.cap.keep).
var capabilities = map[string]uint{
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

// Capability returns the canonical OCI name ("CAP_NET_RAW") and number of
// a capability named in a spec ("CAP_NET_RAW", "net_raw", "NET_RAW"), and
// whether it is known. An unknown one (a newer runtime-spec, an older
// kernel) is left out by both sides, as runc does.
func Capability(name string) (canonical string, number uint, ok bool) {
	up := strings.ToUpper(name)
	if !strings.HasPrefix(up, "CAP_") {
		up = "CAP_" + up
	}
	n, ok := capabilities[up]
	return up, n, ok
}

// rlimit is one OCI rlimit type: its setrlimit(2) resource and LXC's name
// (lxc.prlimit.<name>).
type rlimit struct {
	resource int
	lxc      string
}

// rlimits maps the OCI rlimit types.
var rlimits = map[string]rlimit{
	"RLIMIT_AS": {unix.RLIMIT_AS, "as"}, "RLIMIT_CORE": {unix.RLIMIT_CORE, "core"},
	"RLIMIT_CPU": {unix.RLIMIT_CPU, "cpu"}, "RLIMIT_DATA": {unix.RLIMIT_DATA, "data"},
	"RLIMIT_FSIZE": {unix.RLIMIT_FSIZE, "fsize"}, "RLIMIT_LOCKS": {unix.RLIMIT_LOCKS, "locks"},
	"RLIMIT_MEMLOCK": {unix.RLIMIT_MEMLOCK, "memlock"}, "RLIMIT_MSGQUEUE": {unix.RLIMIT_MSGQUEUE, "msgqueue"},
	"RLIMIT_NICE": {unix.RLIMIT_NICE, "nice"}, "RLIMIT_NOFILE": {unix.RLIMIT_NOFILE, "nofile"},
	"RLIMIT_NPROC": {unix.RLIMIT_NPROC, "nproc"}, "RLIMIT_RSS": {unix.RLIMIT_RSS, "rss"},
	"RLIMIT_RTPRIO": {unix.RLIMIT_RTPRIO, "rtprio"}, "RLIMIT_RTTIME": {unix.RLIMIT_RTTIME, "rttime"},
	"RLIMIT_SIGPENDING": {unix.RLIMIT_SIGPENDING, "sigpending"}, "RLIMIT_STACK": {unix.RLIMIT_STACK, "stack"},
}

// RlimitResource returns the setrlimit(2) resource of an OCI rlimit type
// ("RLIMIT_NOFILE"), and whether it is known. It is what zfslxc-init uses
// for Process.Rlimits.
func RlimitResource(typ string) (int, bool) {
	r, ok := rlimits[typ]
	return r.resource, ok
}
