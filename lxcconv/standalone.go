package lxcconv

import (
	"fmt"
	"strings"
)

// Standalone makes r a configuration plain LXC applies on its own, for a
// container that lxc-start runs with no runtime: the steps r leaves to the
// runtime become LXC keys where LXC can take them, and are refused where
// it cannot. The read-only paths become read-only bind mount entries
// (refused with sysctls: LXC applies mount entries first, and a read-only
// /proc/sys fails every sysctl); the late cgroup keys become ordinary
// ones; LXC's own /dev and /sys keep LXC's mount flags (a warning); a
// read-only root, device nodes and createContainer hooks are refused.
func (r *Result) Standalone() error {
	switch {
	case r.ReadonlyRootfs:
		return fieldErr("root.readonly", "needs the runtime to remount the root read-only after setup")
	case r.MountHook != nil && len(r.MountHook.SharedMounts) > 0:
		return fieldErr(r.MountHook.SharedMounts[0].Field+".options", "shared propagation and recursive read-only (rro) need the runtime's pre-mount hook")
	case r.MountHook != nil:
		return fieldErr("hooks.createContainer", "device nodes and createContainer hooks need the runtime's mount hook")
	}
	if len(r.ReadonlyPaths) > 0 {
		for _, e := range r.Config.Entries {
			if strings.HasPrefix(e.Key, "lxc.sysctl.") {
				return fieldErr("linux.readonlyPaths", "with linux.sysctl (%s) needs the runtime: LXC mounts before it writes sysctls", e.Key)
			}
		}
		for _, p := range r.ReadonlyPaths {
			rel, err := escapeFstab(strings.TrimPrefix(p, "/"))
			if err != nil {
				return fieldErr("linux.readonlyPaths", "%s: %v", p, err)
			}
			// A bind of the path onto itself ("relative": the source is
			// taken inside the mounted rootfs), remounted read-only;
			// optional, as runc skips a path that does not exist.
			if err := r.Config.Add("lxc.mount.entry", rel+" "+rel+" none rbind,ro,relative,optional 0 0"); err != nil {
				return err
			}
		}
		r.ReadonlyPaths = nil
	}
	for _, e := range r.LateCgroup {
		if err := r.Config.Add(e.Key, e.Value); err != nil {
			return err
		}
	}
	r.LateCgroup = nil
	for _, m := range r.Remounts {
		r.Warnings = append(r.Warnings, Warning{Field: "mounts", Message: fmt.Sprintf("%s keeps LXC's mount flags, not %s: no runtime remounts it", m.Path, strings.Join(m.Options, ","))})
	}
	r.Remounts = nil
	return nil
}
