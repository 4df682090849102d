package main

import (
	"context"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/internal/ocihook"
)

// runHooks runs the OCI startContainer hooks in the container, after start
// and before the payload, with the container's state on stdin. The state
// comes from the process file (id, bundle, annotations, ociVersion: filled
// by lxcconv); status is "created" and pid the helper's own pid in the
// container's pid namespace, as runc's init passes them (runc calls
// getpid() in the container too). A failing hook fails the start.
func runHooks(hooks []specs.Hook, base *specs.State) error {
	st := specs.State{Version: specs.Version}
	if base != nil {
		st = *base
	}
	st.Status = specs.StateCreated
	st.Pid = os.Getpid()
	return ocihook.RunAll(context.Background(), "startContainer", hooks, st)
}
