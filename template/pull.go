package template

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// PullOptions say how to reach the registry an image is pulled from.
type PullOptions struct {
	// HostsDir is a containerd hosts directory (<dir>/<host>/hosts.toml,
	// or certs.d files): mirrors, CAs, plain HTTP per registry.
	HostsDir string
	// User is "user:password" for the registry's basic or token auth.
	User string
	// PlainHTTP talks HTTP, not HTTPS, to every registry.
	PlainHTTP bool
}

// Pull pulls cs.Ref into containerd's image store (namespace
// cs.Namespace) and unpacks it into cs.Snapshotter, in this process as
// `ctr images pull --local` does, so it works with containerd 1.6 (no
// transfer service) and 2.x alike. Only cs.Platform (default: this
// machine's) is fetched. After it, CreateFromContainerd finds the image
// and clones the snapshotter's top layer.
func Pull(ctx context.Context, cs ContainerdSource, o PullOptions, progress io.Writer) error {
	cs.defaults()
	if cs.Ref == "" {
		return fmt.Errorf("image reference: empty: %w", errdefs.ErrInvalidArgument)
	}
	client, err := containerd.New(cs.Address, containerd.WithDefaultNamespace(cs.Namespace))
	if err != nil {
		return fmt.Errorf("pull %s: containerd at %s: %w", cs.Ref, cs.Address, err)
	}
	defer client.Close()
	ctx = namespaces.WithNamespace(ctx, cs.Namespace)
	hosts := config.HostOptions{}
	if o.HostsDir != "" {
		hosts.HostDir = config.HostDirFromRoot(o.HostsDir)
	}
	if o.PlainHTTP {
		hosts.DefaultScheme = "http"
	}
	if o.User != "" {
		user, pass, ok := strings.Cut(o.User, ":")
		if !ok {
			return fmt.Errorf("--user: want user:password: %w", errdefs.ErrInvalidArgument)
		}
		hosts.Credentials = func(string) (string, string, error) { return user, pass, nil }
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: config.ConfigureHosts(ctx, hosts)})
	opts := []containerd.RemoteOpt{
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(cs.Snapshotter),
	}
	if cs.Platform != "" {
		opts = append(opts, containerd.WithPlatform(cs.Platform))
	}
	if progress != nil {
		fmt.Fprintf(progress, "pulling %s into containerd (namespace %s, snapshotter %s)\n", cs.Ref, cs.Namespace, cs.Snapshotter)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchContainerd(ctx, client, cs.Address, cancel)
	img, err := client.Pull(ctx, cs.Ref, opts...)
	if cause := context.Cause(ctx); err != nil && cause != nil && ctx.Err() != nil {
		err = cause
	}
	if err != nil {
		return fmt.Errorf("pull %s: %w", cs.Ref, err)
	}
	if progress != nil {
		fmt.Fprintf(progress, "pulled %s (%s)\n", img.Name(), img.Target().Digest)
	}
	return nil
}

// pullContainerdGrace is how long a pull waits for a containerd that does
// not answer (systemd restarts a crashed one within seconds).
const pullContainerdGrace = 15 * time.Second

// watchContainerd cancels ctx, naming containerd, once it has not answered
// a health check for pullContainerdGrace. containerd's client retries
// opening a content writer for as long as containerd answers Unavailable
// (meant for a ref another pull holds), and a containerd that is gone
// answers just that: without the watch a pull whose containerd died never
// returned.
func watchContainerd(ctx context.Context, client *containerd.Client, address string, cancel context.CancelCauseFunc) {
	var downSince time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		check, stop := context.WithTimeout(ctx, 2*time.Second)
		ok, err := client.IsServing(check)
		stop()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && ok:
			downSince = time.Time{}
		case downSince.IsZero():
			downSince = time.Now()
		case time.Since(downSince) >= pullContainerdGrace:
			cancel(fmt.Errorf("containerd at %s has not answered for %v (%v): %w", address, pullContainerdGrace, err, errdefs.ErrUnavailable))
			return
		}
	}
}
