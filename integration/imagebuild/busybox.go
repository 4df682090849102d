package imagebuild

import (
	"fmt"
	"os"
)

// DefaultBusyboxPath is where Debian's busybox-static package
// (`apt-get install busybox-static`) puts its statically linked binary.
const DefaultBusyboxPath = "/bin/busybox"

// BusyboxApplets returns the applets BusyboxLayer links to /bin/busybox.
func BusyboxApplets() []string {
	return []string{
		"sh", "ash", "echo", "cat", "ls", "sleep", "true", "false", "id", "env",
		"pwd", "printf", "test", "[", "kill", "ps", "mkdir", "rmdir", "rm", "touch",
		"wc", "head", "tail", "grep", "sed", "awk", "stat", "readlink", "realpath",
		"whoami", "groups", "hostname", "mount", "umount", "cut", "tr", "sort",
		"uniq", "uname", "date", "seq", "yes", "dd", "od", "xargs", "find", "ln",
		"chmod", "chown", "mknod", "mkfifo", "cp", "mv", "du", "df", "basename",
		"dirname", "md5sum", "sha256sum", "sync", "tee", "timeout", "nproc",
		"hexdump", "base64", "which", "pidof", "cmp", "diff", "tar", "gzip",
		"truncate", "fallocate", "mktemp", "wget", "nc", "ip", "ifconfig",
	}
}

// BusyboxPasswd is the /etc/passwd of BusyboxLayer.
const BusyboxPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

// BusyboxGroup is the /etc/group of BusyboxLayer: "app" (1000) is also a
// member of the supplementary group "extra" (2000).
const BusyboxGroup = `root:x:0:
daemon:x:1:
app:x:1000:
extra:x:2000:app
nogroup:x:65534:
`

// BusyboxLayer returns a base layer made of the static busybox binary read
// from path (DefaultBusyboxPath if empty) at /bin/busybox, a symlink
// /bin/<applet> → busybox for each of BusyboxApplets(), /etc/passwd and
// /etc/group with users root, daemon (1), app (1000) and nobody (65534),
// /tmp (1777), /root, /home/app (owned by 1000:1000), and the empty
// /proc, /sys, /dev, /etc/hostname, /etc/hosts and /etc/resolv.conf that
// runtimes mount over. The binary is read into memory (about 2 MB).
func BusyboxLayer(path string) (Layer, error) {
	if path == "" {
		path = DefaultBusyboxPath
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return Layer{}, fmt.Errorf("busybox layer (apt-get install busybox-static): %w", err)
	}
	dir := func(p string, mode int64) Entry { return Entry{Path: p, Type: Dir, Mode: mode} }
	file := func(p string, mode int64, content string) Entry {
		return Entry{Path: p, Mode: mode, Content: []byte(content)}
	}
	entries := []Entry{
		dir("/bin", 0o755),
		{Path: "/bin/busybox", Mode: 0o755, Content: bin},
	}
	for _, applet := range BusyboxApplets() {
		entries = append(entries, Entry{Path: "/bin/" + applet, Type: Symlink, Linkname: "busybox"})
	}
	entries = append(entries,
		dir("/dev", 0o755),
		dir("/etc", 0o755),
		file("/etc/passwd", 0o644, BusyboxPasswd),
		file("/etc/group", 0o644, BusyboxGroup),
		file("/etc/hostname", 0o644, ""),
		file("/etc/hosts", 0o644, ""),
		file("/etc/resolv.conf", 0o644, ""),
		dir("/home", 0o755),
		Entry{Path: "/home/app", Type: Dir, Mode: 0o755, UID: 1000, GID: 1000},
		dir("/proc", 0o555),
		dir("/root", 0o700),
		dir("/sbin", 0o755),
		dir("/sys", 0o555),
		dir("/tmp", 0o1777),
		dir("/usr", 0o755),
		dir("/usr/bin", 0o755),
		dir("/usr/sbin", 0o755),
		dir("/var", 0o755),
	)
	return Layer{Entries: entries, Gzip: true}, nil
}
