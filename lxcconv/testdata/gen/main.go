// Command gen writes the golden-test inputs of lxcconv (../specs/*.json):
// OCI runtime specs generated the way containerd 2.x's ctr and nerdctl
// generate them, with containerd's own pkg/oci spec options. It is a
// separate module (under testdata, so the main module ignores it) because
// pkg/oci needs modules the main go.mod does not carry.
//
//	cd lxcconv/testdata/gen && GOFLAGS=-mod=mod go run . ../specs
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type input struct {
	name string
	ns   string
	opts []oci.SpecOpts
}

func timeout(n int) *int { return &n }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen OUTDIR")
		os.Exit(2)
	}
	out := os.Args[1]
	inputs := []input{
		// ctr run docker.io/library/busybox:latest ctr-default sh -c 'echo hi'
		{"ctr-default", "default", []oci.SpecOpts{
			oci.WithDefaultPathEnv,
			oci.WithProcessArgs("sh", "-c", "echo hi"),
		}},
		// ctr run -t --user 1000:1000 --env A=b … ctr-tty-user sh
		{"ctr-tty-user", "default", []oci.SpecOpts{
			oci.WithDefaultPathEnv,
			oci.WithProcessArgs("sh"),
			oci.WithTTY,
			oci.WithTTYSize(120, 40),
			oci.WithUser("1000:1000"),
			oci.WithEnv([]string{"A=b", "LANG=C.UTF-8"}),
			oci.WithProcessCwd("/home/app"),
		}},
		// ctr run --memory-limit --cpus … --rootfs-readonly ctr-limits
		{"ctr-limits", "default", []oci.SpecOpts{
			oci.WithDefaultPathEnv,
			oci.WithProcessArgs("/bin/server", "--port", "8080"),
			oci.WithMemoryLimit(256 << 20),
			oci.WithMemorySwap(512 << 20),
			oci.WithCPUs("0-1"),
			oci.WithCPUShares(512),
			oci.WithCPUCFS(50000, 100000),
			oci.WithPidsLimit(100),
			oci.WithRootFSReadonly(),
			oci.WithRlimit(&specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}),
		}},
		// ctr run --cap-add … --mount … --net-host ctr-host-net
		{"ctr-host-net-mounts", "default", []oci.SpecOpts{
			oci.WithDefaultPathEnv,
			oci.WithProcessArgs("sleep", "inf"),
			oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithAddedCapabilities([]string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}),
			oci.WithMounts([]specs.Mount{
				{Destination: "/data", Type: "bind", Source: "/srv/my data", Options: []string{"rbind", "ro"}},
				{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=64m"}},
				{Destination: "/etc/resolv.conf", Type: "bind", Source: "/etc/resolv.conf", Options: []string{"bind", "ro"}},
			}),
		}},
		// nerdctl run --name web -h web --cap-drop … nginx: seccomp default
		// profile, OCI hooks for CNI networking, hosts/resolv.conf binds.
		{"nerdctl-default", "default", []oci.SpecOpts{
			oci.WithDefaultPathEnv,
			oci.WithDefaultUnixDevices,
			oci.WithProcessArgs("/docker-entrypoint.sh", "nginx", "-g", "daemon off;"),
			oci.WithHostname("web"),
			seccomp.WithDefaultProfile(),
			oci.WithAnnotations(map[string]string{"nerdctl/name": "web", "nerdctl/namespace": "default"}),
			oci.WithMounts([]specs.Mount{
				{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/nerdctl/1935db59/etchosts/default/0123abcd/hosts", Options: []string{"bind", "rprivate"}},
				{Destination: "/etc/resolv.conf", Type: "bind", Source: "/var/lib/nerdctl/1935db59/containers/default/0123abcd/resolv.conf", Options: []string{"bind", "rprivate"}},
				{Destination: "/etc/hostname", Type: "bind", Source: "/var/lib/nerdctl/1935db59/containers/default/0123abcd/hostname", Options: []string{"bind", "rprivate"}},
			}),
			func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
				hook := specs.Hook{
					Path: "/usr/local/bin/nerdctl",
					Args: []string{"/usr/local/bin/nerdctl", "--data-root=/var/lib/nerdctl", "internal", "oci-hook", "createRuntime"},
					Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				}
				stop := hook
				stop.Args = []string{"/usr/local/bin/nerdctl", "--data-root=/var/lib/nerdctl", "internal", "oci-hook", "postStop"}
				stop.Timeout = timeout(30)
				s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{hook}, Poststop: []specs.Hook{stop}}
				return nil
			},
		}},
	}
	for _, in := range inputs {
		ctx := namespaces.WithNamespace(context.Background(), in.ns)
		s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: in.name}, in.opts...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", in.name, err)
			os.Exit(1)
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(out, in.name+".json"), append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
