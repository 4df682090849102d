package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

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
