package main

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestArgSpace(t *testing.T) {
	for _, tc := range []struct {
		stack, want uint64
	}{
		{8 << 20, 2 << 20},            // the usual 8 MiB stack: a quarter
		{unix.RLIM_INFINITY, 6 << 20}, // unlimited: 3/4 of _STK_LIM
		{64 << 20, 6 << 20},           // large: capped the same
		{64 << 10, 128 << 10},         // tiny: never below ARG_MAX
		{1 << 20, 256 << 10},          // 1 MiB: a quarter
	} {
		if got := argSpace(tc.stack); got != tc.want {
			t.Errorf("argSpace(%d) = %d, want %d", tc.stack, got, tc.want)
		}
	}
}

func TestCheckArgSize(t *testing.T) {
	big := func(n, size int) []string {
		var l []string
		for range n {
			l = append(l, "E="+strings.Repeat("e", size-2))
		}
		return l
	}
	// The kernel's edges: one string of 131072 bytes with its NUL passes,
	// one more byte does not (measured here with /bin/true).
	edge := "BIG0=" + strings.Repeat("e", 131066)
	for _, tc := range []struct {
		name      string
		args, env []string
		want      string // "" when accepted
	}{
		{name: "small", args: []string{"/bin/sh", "-c", "true"}, env: []string{"PATH=/bin"}},
		{name: "1MiB argv in 1 KiB strings", args: big(1024, 1024)},
		{name: "10k env entries", args: []string{"sh"}, env: big(10000, 16)},
		{name: "one string over 128 KiB", args: []string{"sh"}, env: []string{"PATH=/bin", "HUGE=" + strings.Repeat("x", 128<<10)},
			want: "process.env[1] (HUGE) is 131077 bytes, more than the 131071 bytes execve takes in one string"},
		{name: "one string at the limit", args: []string{"sh"}, env: []string{edge}},
		{name: "one string a byte over", args: []string{"sh"}, env: []string{edge + "e"}, want: "process.env[0] (BIG0) is 131072 bytes"},
		{name: "argument over 128 KiB", args: []string{"sh", strings.Repeat("x", 128<<10)},
			want: "process.args[1] is 131072 bytes"},
		{name: "10 MiB of env", args: []string{"sh"}, env: big(80, 128<<10-16),
			want: "process.args and process.env take 10485211 bytes (81 strings of 3 and 10484560 bytes, and their pointers), more than the 2097152 bytes execve takes here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkArgSize(tc.args, tc.env, argSpace(8<<20))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			case err != nil:
				if exitCode(err) != exitCannotExecute || !strings.HasSuffix(err.Error(), "argument list too long") {
					t.Errorf("exit code %d, message %q: want %d and E2BIG's words", exitCode(err), err, exitCannotExecute)
				}
			}
		})
	}
}

// TestCheckArgSizeMatchesKernel execs /bin/true with environments 64 KiB
// under and over the limit checkArgSize computes for this process's stack
// limit: the kernel must agree on both.
func TestCheckArgSizeMatchesKernel(t *testing.T) {
	space := argSpace(stackLimit())
	for _, delta := range []int64{-64 << 10, 64 << 10} {
		args := []string{"/bin/true"}
		var env []string
		// Distinct names: os/exec keeps only the last of equal ones.
		for argBytes(args, env)+64<<10 < uint64(int64(space)+delta) {
			env = append(env, fmt.Sprintf("E%d=%s", len(env), strings.Repeat("e", 64<<10-16)))
		}
		for argBytes(args, env) < uint64(int64(space)+delta) {
			env = append(env, fmt.Sprintf("F%d=f", len(env)))
		}
		ours := checkArgSize(args, env, space)
		cmd := exec.Command(args[0])
		cmd.Env = env
		kernel := cmd.Run()
		if (ours == nil) != (kernel == nil) {
			t.Errorf("%d bytes (limit %d): checkArgSize says %v, execve %v", argBytes(args, env), space, ours, kernel)
		}
		if kernel != nil && !errors.Is(kernel, unix.E2BIG) {
			t.Errorf("execve: %v, want E2BIG", kernel)
		}
	}
}
