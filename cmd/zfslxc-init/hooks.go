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
// and before the payload, with the container's state on stdin. The state
// comes from the process file (id, bundle, annotations, ociVersion: filled
// by lxcconv); status is "created" and pid the helper's own pid in the
// container's pid namespace, as runc's init passes them (runc calls
// getpid() in the container too). A failing hook fails the start.
func runHooks(hooks []specs.Hook, base *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	st := specs.State{Version: specs.Version}
	if base != nil {
		st = *base
	}
	st.Status = specs.StateCreated
	st.Pid = os.Getpid()
	state, err := json.Marshal(st)
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
