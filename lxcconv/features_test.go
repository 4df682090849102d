package lxcconv

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestFeaturesMatchConvert: what Features advertises, Convert takes, and
// what it leaves out, Convert refuses — the features document cannot drift
// from the converter.
func TestFeaturesMatchConvert(t *testing.T) {
	f := Features()
	withMount := func(o string) *specs.Spec {
		s := baseSpec()
		m := specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{o}}
		if o == "bind" || o == "rbind" || o == "rro" {
			m = specs.Mount{Destination: "/data", Type: "bind", Source: "/var/data", Options: []string{o}}
		}
		s.Mounts = append(s.Mounts, m)
		return s
	}
	// rro needs the runtime's pre-mount hook, which the shim always has.
	withHook := baseOptions()
	withHook.HookCommand, withHook.SharedMountDir = "/shim hook", "/run/s/ct"
	for _, o := range f.MountOptions {
		if _, err := Convert(withMount(o), withHook); err != nil {
			t.Errorf("advertised mount option %q refused: %v", o, err)
		}
	}
	for _, o := range []string{"rrw", "rnosuid", "idmap", "ridmap", "tmpcopyup"} {
		if slices.Contains(f.MountOptions, o) {
			t.Errorf("mount option %q advertised", o)
		}
		if _, err := Convert(withMount(o), withHook); err == nil {
			t.Errorf("unadvertised mount option %q converts", o)
		}
	}
	for _, ns := range f.Linux.Namespaces {
		s := baseSpec()
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(ns)})
		if ns == string(specs.UserNamespace) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		}
		if ns == string(specs.TimeNamespace) {
			continue // needs offsets to mean anything; converts without
		}
		if _, err := Convert(s, baseOptions()); err != nil && !strings.Contains(err.Error(), "listed twice") {
			t.Errorf("advertised namespace %q refused: %v", ns, err)
		}
	}
	if m := f.Linux.MountExtensions; m == nil || m.IDMap == nil || m.IDMap.Enabled == nil || *m.IDMap.Enabled {
		t.Error("idmapped mounts advertised (or not said): CRI would report user namespace support")
	}
	for _, a := range f.Linux.Seccomp.Actions {
		s := baseSpec()
		e := uint(1)
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: specs.LinuxSeccompAction(a), ErrnoRet: &e},
		}}
		if _, err := Convert(s, baseOptions()); err != nil {
			t.Errorf("advertised seccomp action %s refused: %v", a, err)
		}
	}
	for _, a := range []specs.LinuxSeccompAction{specs.ActTrace, specs.ActNotify} {
		if slices.Contains(f.Linux.Seccomp.Actions, string(a)) {
			t.Errorf("seccomp action %s advertised, Convert refuses it", a)
		}
	}
	if len(f.Linux.Capabilities) == 0 || len(f.Linux.Seccomp.Operators) != len(seccompOps) {
		t.Errorf("capabilities %v, operators %v", f.Linux.Capabilities, f.Linux.Seccomp.Operators)
	}
}
