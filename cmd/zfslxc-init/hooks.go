package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs the OCI startContainer hooks in the container, after start
// and before the payload, with the state on stdin as runc passes it. The
// process file has no container id, bundle or annotations, so the state
// carries only the version, status and pid. A failing hook fails the start.
func runHooks(hooks []specs.Hook) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(specs.State{
		Version: specs.Version,
		Status:  specs.StateCreated,
		Pid:     os.Getpid(),
	})
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			return fmt.Errorf("startContainer hook %d (%s): %w", i, h.Path, err)
		}
	}
	return nil
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
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
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("timed out: %w (output: %q)", ctx.Err(), out.Bytes())
		}
		return fmt.Errorf("%w (output: %q)", err, out.Bytes())
	}
	return nil
}
