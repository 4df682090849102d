package registrytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// HostsDir writes a containerd hosts directory for the registry into a
// fresh directory and returns it: <dir>/<host:port>/hosts.toml naming the
// server, its CA (TLS) or plain HTTP. Pass it as `ctr images pull
// --hosts-dir` (2.x; 1.6's ctr takes --hosts-dir too) or as
// config_path of containerd's CRI registry config.
func (r *Registry) HostsDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	hostDir := filepath.Join(dir, r.Host)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n", r.URL(), r.URL())
	if r.CAFile != "" {
		toml += fmt.Sprintf("  ca = %q\n", r.CAFile)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "hosts.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CertsDir writes the Docker-style certs.d tree that dockerd and nerdctl
// read (<dir>/<host:port>/ca.crt) into a fresh directory and returns it;
// it is empty for a plain-HTTP registry.
func (r *Registry) CertsDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if r.CAFile == "" {
		return dir
	}
	data, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(dir, r.Host)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "ca.crt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// UserPass returns "user:password" for ctr's --user ("" without auth).
func (r *Registry) UserPass() string {
	if r.User == "" {
		return ""
	}
	return strings.Join([]string{r.User, r.Password}, ":")
}
