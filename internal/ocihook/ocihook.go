// Package ocihook runs OCI hooks the way runc does. It is the one runner
// for every hook zfslxc runs: the shim's runtime-namespace hooks (prestart,
// createRuntime, poststart, poststop), the createContainer hooks the shim
// runs from LXC's mount hook, and zfslxc-init's startContainer hooks in the
// container. It is small and has no dependency beyond the runtime spec, so
// the static zfslxc-init links it too.
package ocihook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// OutputMax bounds the hook output quoted in an error (its last bytes).
const OutputMax = 4096

// waitDelay is how long Run waits for the output of a hook that exited
// but left a child holding its stdout (a daemon it started): such a child
// must not hang the runtime, and the hook's own status counts.
const waitDelay = time.Second

// RunAll runs hooks in order, each with state (status and pid as the
// caller sets them) on stdin, and stops at the first failure, which it
// names by kind, index and path ("createRuntime hook 1 (/usr/bin/x): …").
func RunAll(ctx context.Context, kind string, hooks []specs.Hook, state specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: state: %w", kind, err)
	}
	for i, h := range hooks {
		if err := Run(ctx, h, data); err != nil {
			return fmt.Errorf("%s hook %d (%s): %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// Run runs one hook as runc does: Path with Args as argv (Args[0] is
// argv[0]; no Args: argv is Path), Env as the whole environment (none
// when empty), the OCI state on stdin. Only the hook's Timeout (seconds)
// kills it: ctx's values are kept, its cancellation is not (a request
// that gives up must not leave a half-run network hook). A failure quotes
// the last OutputMax bytes of the hook's stdout and stderr.
func Run(ctx context.Context, h specs.Hook, state []byte) error {
	ctx = context.WithoutCancel(ctx)
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d: want a positive number of seconds", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The hook exited 0; a child it left keeps its output open.
		err = nil
	}
	if err != nil {
		b := out.Bytes()
		if len(b) > OutputMax {
			b = b[len(b)-OutputMax:]
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %ds: %w (output: %q)", *h.Timeout, ctx.Err(), b)
		}
		return fmt.Errorf("%w (output: %q)", err, b)
	}
	return nil
}
