package containerdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// NerdctlEnv names the nerdctl binary (scripts/deps.sh --print-env).
const NerdctlEnv = "ZFSLXC_NERDCTL"

// NerdctlBinary returns $ZFSLXC_NERDCTL, or nerdctl where scripts/deps.sh
// builds it; it skips (fails under RequireEnv) when that is missing.
func NerdctlBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(NerdctlEnv)
	if bin == "" {
		bin = filepath.Join(V2Dir, "..", "..", "nerdctl-v1.7.7", "bin", "nerdctl")
	}
	if _, err := os.Stat(bin); err != nil {
		SkipOrFail(t, "nerdctl: %v (scripts/deps.sh builds it; %s names it)", err, NerdctlEnv)
	}
	return bin
}

// CLI is a client binary (nerdctl, docker) with the global flags and the
// environment every call of it gets.
type CLI struct {
	Bin  string
	Args []string // global flags, before each call's own arguments
	Env  []string // its whole environment (nil: the test's own)
}

// Run runs the CLI with args and stdin ("": none) and returns its stdout,
// stderr and exit code. err is set, with code -1, only when it could not
// run or ctx ended; it names the command and quotes stderr.
func (c CLI) Run(ctx context.Context, stdin string, args ...string) (stdout, stderr string, code int, err error) {
	cmd := exec.CommandContext(ctx, c.Bin, append(slices.Clone(c.Args), args...)...)
	cmd.Env = c.Env
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return o.String(), e.String(), ee.ExitCode(), nil
	}
	if err != nil {
		return o.String(), e.String(), -1, fmt.Errorf("%s %s: %w (stderr %q)", filepath.Base(c.Bin), strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String(), 0, nil
}
