// Package registrytest runs the reference registry server (distribution
// v3, built by `scripts/deps.sh --test`) for end-to-end pull tests, and
// pushes images built by integration/imagebuild to it.
//
// Start runs one registry on 127.0.0.1 (TLS: this host's address) on a free port with its storage in
// a scratch directory, over plain HTTP or, with Options.TLS, over HTTPS
// with a certificate from a throwaway CA (CAFile) and, with Options.Auth,
// HTTP basic auth from an htpasswd file (bcrypt). The registry stops and
// its data goes when the test ends.
//
// Push and PushIndex speak the distribution API directly (monolithic blob
// upload, then the manifest by digest, then the tag), so a test sees
// every byte the registry holds and needs no Docker or containerd client
// to seed it. Blobs the repository already has are not sent again.
//
// HostsDir writes the containerd hosts directory (`ctr --hosts-dir`,
// config_path in containerd's CRI) that trusts the CA; DockerCertsDir the
// equivalent certs.d tree for dockerd and nerdctl.
package registrytest
