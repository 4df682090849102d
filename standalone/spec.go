package standalone

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/zfslxc/zfslxc/lxcconv"
)

// imageSpec is the runtime spec of a container run from an image without
// containerd: containerd's default Linux spec, made by its own pkg/oci as
// for `ctr run` (namespaces, mounts, masked and read-only paths,
// capabilities, device rules), with p (from lxcconv.ProcessFromImage) as
// its process and name as its hostname; as `docker run` does, no rlimits
// (the process inherits LXC's), no no_new_privs, and the effective and
// permitted capabilities only for root (a non-root user keeps the
// bounding set, so file capabilities and setuid binaries still work). No
// cgroupsPath: LXC names the cgroup. The caller sets root.path and adds
// its own mounts or seccomp profile; the result goes through
// lxcconv.Convert like any spec.
func imageSpec(name string, p *lxcconv.Process) (*oci.Spec, error) {
	ctx := namespaces.WithNamespace(context.Background(), namespaces.Default)
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: name}, oci.WithHostname(name), withImageProcess(p))
	if err != nil {
		return nil, fmt.Errorf("containerd's default spec: %w", err)
	}
	return s, nil
}

// withImageProcess makes p the spec's process, with docker run's
// rlimits, no_new_privs and capabilities (imageSpec).
func withImageProcess(p *lxcconv.Process) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Linux.CgroupsPath = ""
		s.Process.Args = p.Args
		s.Process.Env = p.Env
		s.Process.Cwd = p.Cwd
		s.Process.Terminal = p.Terminal
		s.Process.User.UID, s.Process.User.GID, s.Process.User.AdditionalGids = p.UID, p.GID, p.AdditionalGids
		s.Process.Rlimits = nil
		s.Process.NoNewPrivileges = false
		if p.UID != 0 {
			s.Process.Capabilities.Effective = nil
			s.Process.Capabilities.Permitted = nil
		}
		return nil
	}
}
