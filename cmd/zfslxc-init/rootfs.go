package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// remountReadonly makes the container's root read-only, as runc does once
// the mounts are set up: LXC mounts the rootfs read-write (its dir backend
// would otherwise make it read-only before it creates mount targets, and
// fail on an image without, say, /run), the helper remounts it here. The
// mount's other flags (nosuid, nodev...) are kept.
func remountReadonly() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return fmt.Errorf("statfs /: %w", err)
	}
	// statfs's ST_* flags have the values of the MS_* mount flags.
	keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|keep, ""); err != nil {
		return fmt.Errorf("remounting / read-only: %w", err)
	}
	return nil
}

// withHome returns env with HOME set as runc sets it when the spec does
// not: the home of uid in the container's /etc/passwd, else "/".
func withHome(env []string, uid uint32) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "HOME=") {
			return env
		}
	}
	home := "/"
	if f, err := os.Open("/etc/passwd"); err == nil {
		if h, ok := passwdHome(f, uid); ok {
			home = h
		}
		f.Close()
	}
	return append(env, "HOME="+home)
}

// passwdHome finds the home directory of the first passwd entry with uid.
func passwdHome(r io.Reader, uid uint32) (string, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		f := strings.Split(sc.Text(), ":")
		if len(f) < 6 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if n, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(n) == uid {
			return f[5], true
		}
	}
	return "", false
}
