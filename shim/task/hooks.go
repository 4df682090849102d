package task

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/internal/ocihook"
	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// ociHooks runs the OCI hooks that belong to the runtime namespace (the
// shim's), as runc runs them: prestart and createRuntime once the
// container's init exists (nerdctl sets up CNI networking in its
// createRuntime hook: `nerdctl internal oci-hook createRuntime`),
// poststart after start, poststop after delete (nerdctl's releases the
// network). Each gets the OCI state on stdin: id, bundle, annotations,
// pid, status. createContainer and startContainer hooks run in the
// container (zfslxc-init, lxc.hook.mount).
type ociHooks struct {
	hooks lxcconv.Hooks
	state specs.State // id, bundle, annotations
}

// newOCIHooks returns the runtime-namespace hooks of a container, or nil
// when it has none.
func newOCIHooks(id, bundle string, spec *specs.Spec, h lxcconv.Hooks) *ociHooks {
	if len(h.Prestart)+len(h.CreateRuntime)+len(h.Poststart)+len(h.Poststop) == 0 {
		return nil
	}
	version := spec.Version // as zfslxc-init gives startContainer hooks
	if version == "" {
		version = specs.Version
	}
	return &ociHooks{hooks: h, state: specs.State{
		Version: version, ID: id, Bundle: bundle, Annotations: spec.Annotations,
	}}
}

// created runs the prestart, then the createRuntime hooks, with init's
// pid; the first failure is returned (Create fails, as under runc).
func (h *ociHooks) created(ctx context.Context, pid int) error {
	if h == nil {
		return nil
	}
	if err := h.run(ctx, "prestart", h.hooks.Prestart, specs.StateCreating, pid); err != nil {
		return err
	}
	return h.run(ctx, "createRuntime", h.hooks.CreateRuntime, specs.StateCreating, pid)
}

// started runs the poststart hooks; failures are logged (the container
// runs already).
func (h *ociHooks) started(ctx context.Context, pid int) {
	if h == nil {
		return
	}
	// runc passes status "created" to poststart hooks (its state is not
	// updated yet when they run); hooks written against runc see that.
	if err := h.run(ctx, "poststart", h.hooks.Poststart, specs.StateCreated, pid); err != nil {
		log.G(ctx).WithError(err).WithField("id", h.state.ID).Warn("poststart hook failed")
	}
}

// stopped runs every poststop hook (after delete); failures are logged,
// the rest still run.
func (h *ociHooks) stopped(ctx context.Context) {
	if h == nil {
		return
	}
	for i, hk := range h.hooks.Poststop {
		if err := h.run(ctx, fmt.Sprintf("poststop[%d]", i), []specs.Hook{hk}, specs.StateStopped, 0); err != nil {
			log.G(ctx).WithError(err).WithField("id", h.state.ID).Warn("poststop hook failed")
		}
	}
}

func (h *ociHooks) run(ctx context.Context, kind string, hooks []specs.Hook, status specs.ContainerState, pid int) error {
	st := h.state
	st.Status = status
	st.Pid = pid
	if err := ocihook.RunAll(ctx, kind, hooks, st); err != nil {
		return err
	}
	if len(hooks) > 0 {
		log.G(ctx).WithFields(log.Fields{"id": h.state.ID, "hook": kind, "count": len(hooks)}).Debug("hooks ran")
	}
	return nil
}

// hookCommand is lxcconv.Options.HookCommand: this binary's hook action
// (shim/manager runs lxcrun.RunMountHook for it), which LXC runs as
// lxc.hook.mount for createContainer hooks and as lxc.hook.pre-mount for
// bind mounts with shared propagation. LXC splits
// the command on blanks: a path holding one gives no hook command, and
// lxcconv then refuses those two with its usual message.
func hookCommand() string {
	exe, err := os.Executable()
	if err != nil || strings.ContainsAny(exe, " \t\n\r") {
		return ""
	}
	return exe + " " + lxcrun.HookAction
}

// runBundlePoststop runs the poststop hooks of bundle's config.json (id:
// the bundle's name, as containerd names bundles), for a shim that died
// before it could: the `delete` action. runc's `delete --force` runs them
// too; nerdctl's releases the container's CNI network.
func runBundlePoststop(ctx context.Context, bundle string) error {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	if spec.Hooks == nil {
		return nil
	}
	h := newOCIHooks(filepath.Base(bundle), bundle, &spec, lxcconv.Hooks{Poststop: spec.Hooks.Poststop})
	h.stopped(ctx)
	return nil
}
