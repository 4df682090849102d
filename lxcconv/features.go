package lxcconv

import (
	"runtime"
	"slices"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// mountOptions are the OCI mount options Convert accepts (runc's list
// without what unsupportedMountOpts and isRecursiveAttr refuse).
var mountOptions = []string{
	"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
	"iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime",
	"noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
	"nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate",
	"rro", "rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave",
	"strictatime", "suid", "sync", "unbindable",
}

// Features describes what Convert maps, in the form of the OCI runtime
// features document (`runc features`), for a shim's RuntimeInfo: only
// what works is listed. rro is listed (containerd's CRI then reports
// RecursiveReadOnlyMounts): a runtime with a pre-mount hook stages it
// (SharedMount.ReadOnly); Convert refuses it without one. Left out on
// purpose: the other recursive mount attributes (rnosuid…: LXC mount
// entries cannot carry them) and idmapped mounts
// (so CRI reports no UserNamespaces support, which needs both a user
// namespace and idmapped mounts; a spec with uidMappings still converts).
func Features() *features.Features {
	t := true
	f := false
	var ns []string
	for _, n := range lxcNamespaces {
		ns = append(ns, string(n.oci))
	}
	sort.Strings(ns)
	var actions []string
	for _, a := range []specs.LinuxSeccompAction{
		specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
		specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify,
	} {
		if seccompActionMapped(a) {
			actions = append(actions, string(a))
		}
	}
	var ops []string
	for op := range seccompOps {
		ops = append(ops, string(op))
	}
	sort.Strings(ops)
	caps := make([]string, 0, len(capabilities))
	for c := range capabilities {
		caps = append(caps, c)
	}
	sort.Strings(caps)
	var archs []string
	for _, a := range compatArches[runtime.GOARCH] {
		archs = append(archs, string(a))
	}
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		MountOptions:  slices.Clone(mountOptions),
		Linux: &features.Linux{
			Namespaces:   ns,
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &t, V2: &t, Systemd: &f, SystemdUser: &f, Rdma: &f},
			Seccomp: &features.Seccomp{
				Enabled: &t, Actions: actions, Operators: ops, Archs: archs,
			},
			Apparmor:        &features.Apparmor{Enabled: &t},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &f}},
		},
	}
}

// seccompActionMapped reports whether seccompAction maps act (with a
// non-zero errno) rather than refusing it.
func seccompActionMapped(act specs.LinuxSeccompAction) bool {
	c := &converter{res: &Result{}}
	e := uint(1)
	_, err := c.seccompAction("", act, &e, nil)
	return err == nil
}
