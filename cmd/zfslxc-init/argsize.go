package main

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// The kernel's limits on what execve copies (fs/exec.c): each string at
// most maxArgStrlen bytes with its NUL (MAX_ARG_STRLEN, 32 pages); all of
// them, with one pointer each, at most a quarter of the stack limit,
// capped at three quarters of the default 8 MiB stack limit (_STK_LIM)
// and never less than 32 pages (ARG_MAX).
const (
	maxArgStrlen  = 32 * 4096
	minArgSpace   = 32 * 4096
	maxArgSpace   = 8 << 20 / 4 * 3
	argPointerLen = 8
)

// argSpace is what execve takes for strings and pointers with the stack
// limit stack (RLIM_INFINITY: no limit below maxArgSpace).
func argSpace(stack uint64) uint64 {
	limit := uint64(maxArgSpace)
	if stack != unix.RLIM_INFINITY && stack/4 < limit {
		limit = stack / 4
	}
	return max(limit, minArgSpace)
}

// checkArgSize refuses, before the container starts, a process execve
// would refuse with E2BIG ("argument list too long"), naming the field
// and the sizes; space is argSpace's. The kernel also copies the file
// name: a process just under the limit may still fail at exec, with
// execError's message.
func checkArgSize(args, env []string, space uint64) error {
	for _, f := range []struct {
		field string
		list  []string
	}{{"process.args", args}, {"process.env", env}} {
		field := f.field
		for i, s := range f.list {
			if len(s)+1 > maxArgStrlen {
				name, _, _ := strings.Cut(s, "=")
				if field == "process.args" || len(name) > 64 {
					name = ""
				} else {
					name = " (" + name + ")"
				}
				return fail(exitCannotExecute, "%s[%d]%s is %d bytes, more than the %d bytes execve takes in one string: argument list too long",
					field, i, name, len(s), maxArgStrlen-1)
			}
		}
	}
	if need := argBytes(args, env); need > space {
		return fail(exitCannotExecute, "process.args and process.env take %d bytes (%d strings of %d and %d bytes, and their pointers), more than the %d bytes execve takes here (a quarter of the stack limit, at most %d): argument list too long",
			need, len(args)+len(env), stringBytes(args), stringBytes(env), space, maxArgSpace)
	}
	return nil
}

// argBytes is what args and env take on the new process's stack, as the
// kernel counts it against argSpace.
func argBytes(args, env []string) uint64 {
	return uint64(stringBytes(args) + stringBytes(env) + (max(len(args), 1)+len(env))*argPointerLen)
}

// stringBytes is the size of list's strings with their NULs.
func stringBytes(list []string) int {
	n := 0
	for _, s := range list {
		n += len(s) + 1
	}
	return n
}

// stackLimit is the process's soft RLIMIT_STACK.
func stackLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil {
		return unix.RLIM_INFINITY
	}
	return rl.Cur
}

// execError is the error of a failed execve of path, with the sizes when
// the kernel found the arguments too long.
func execError(path string, args, env []string, err error) error {
	if err == unix.E2BIG {
		return fmt.Errorf("exec %q: process.args and process.env take %d bytes (%d strings), the limit here is about %d: %w",
			path, argBytes(args, env), len(args)+len(env), argSpace(stackLimit()), err)
	}
	return fmt.Errorf("exec %q: %w", path, err)
}
