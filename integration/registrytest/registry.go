package registrytest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// BinaryEnv names the registry binary (scripts/deps.sh --print-env).
const BinaryEnv = "ZFSLXC_REGISTRY"

// DefaultBinary is where `scripts/deps.sh --test` builds it.
const DefaultBinary = "/var/cache/zfslxc/tools/registry-v3.1.2/bin/registry"

// startTimeout bounds how long the registry may take to answer.
const startTimeout = 30 * time.Second

// Options of Start.
type Options struct {
	// TLS serves HTTPS with a certificate signed by a throwaway CA, on
	// this host's own address (the source address of its default route),
	// not on 127.0.0.1: containerd, nerdctl and Docker treat loopback
	// registries as insecure (plain-HTTP fallback; containerd 2.x even
	// pulls without checking the certificate), so a TLS test on loopback
	// would prove nothing.
	TLS bool
	// Auth requires HTTP basic auth (user "zfslxc", a random password).
	Auth bool
}

// Registry is a running registry server.
type Registry struct {
	// Host is "127.0.0.1:<port>", the registry part of image references.
	Host string
	// Scheme is "http" or "https".
	Scheme string
	// CAFile is the PEM CA certificate that signed the server's
	// certificate (TLS only).
	CAFile string
	// User and Password are the basic-auth credentials (Auth only).
	User, Password string
	// DataDir holds the registry's storage.
	DataDir string
	// LogPath is the server's output, across restarts.
	LogPath string

	config string
	cmd    *exec.Cmd
	exited chan struct{}
	client *http.Client
}

// Binary returns the registry binary, skipping (or failing under
// ZFSLXC_REQUIRE_INTEGRATION=1) when it is not built.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(BinaryEnv)
	if bin == "" {
		bin = DefaultBinary
	}
	if _, err := os.Stat(bin); err != nil {
		containerdtest.SkipOrFail(t, "registry: %v (scripts/deps.sh --test builds it; %s names it)", err, BinaryEnv)
	}
	return bin
}

// Start runs a registry for t and stops it at cleanup.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	Binary(t) // skip before making anything
	base := containerdtest.ScratchDir(t, "zfslxc-registry-")
	ip := "127.0.0.1"
	if opts.TLS {
		hostIP, err := hostAddress()
		if err != nil {
			containerdtest.SkipOrFail(t, "TLS registry: %v", err)
		}
		ip = hostIP
	}
	port, err := freePort(ip)
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{
		Host:    net.JoinHostPort(ip, strconv.Itoa(port)),
		Scheme:  "http",
		DataDir: filepath.Join(base, "data"),
		LogPath: filepath.Join(base, "registry.log"),
		config:  filepath.Join(base, "config.yml"),
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
`, r.DataDir, r.Host)
	if opts.TLS {
		ca, err := writeCerts(base, ip)
		if err != nil {
			t.Fatalf("registry certificates: %v", err)
		}
		r.Scheme = "https"
		r.CAFile = ca.caFile
		config += fmt.Sprintf("  tls:\n    certificate: %q\n    key: %q\n", ca.certFile, ca.keyFile)
		pool := x509.NewCertPool()
		pool.AddCert(ca.ca)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if opts.Auth {
		r.User, r.Password = "zfslxc", randomHex(12)
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(base, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: zfslxc-test\n    path: %q\n", htpasswd)
	}
	if err := os.WriteFile(r.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r.client = &http.Client{Transport: transport, Timeout: 5 * time.Minute}
	t.Cleanup(func() {
		r.Stop(t)
		if t.Failed() {
			t.Log(r.LogTail(30))
		}
	})
	r.Start(t)
	return r
}

// URL returns the base URL, "<scheme>://<host>".
func (r *Registry) URL() string { return r.Scheme + "://" + r.Host }

// Ref returns the full reference of repo:tag on this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Start starts the server again after Stop (same port, config and data)
// and waits until it answers.
func (r *Registry) Start(t testing.TB) {
	t.Helper()
	if r.Running() {
		t.Fatal("registry already runs")
	}
	logFile, err := os.OpenFile(r.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary(t), "serve", r.config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// OpenTelemetry exporters stay off: nothing listens for them here.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start registry: %v", err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}(r.exited)
	if err := r.waitReady(); err != nil {
		t.Fatalf("registry did not start: %v\n%s", err, r.LogTail(30))
	}
}

// waitReady polls GET /v2/ until the server answers (200, or 401 with
// auth).
func (r *Registry) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		if !r.Running() {
			return fmt.Errorf("registry exited")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL()+"/v2/", nil)
		resp, err := r.client.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %v: %w", startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Running reports whether the server runs.
func (r *Registry) Running() bool {
	if r.exited == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// Stop stops the server (SIGTERM, SIGKILL after 10 s); Start starts it
// again on the same port and data.
func (r *Registry) Stop(t testing.TB) {
	t.Helper()
	if !r.Running() {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
	}
}

// Kill stops the server at once with SIGKILL, as a crash would.
func (r *Registry) Kill(t testing.TB) {
	t.Helper()
	if r.Running() {
		r.cmd.Process.Kill()
		<-r.exited
	}
}

// LogTail returns the last n lines of the server's log.
func (r *Registry) LogTail(n int) string {
	data, err := os.ReadFile(r.LogPath)
	if err != nil {
		return fmt.Sprintf("(no registry log: %v)", err)
	}
	return "--- registry log (tail) ---\n" + tailLines(string(data), n)
}

// freePort asks the kernel for a free TCP port on ip.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hostAddress returns the address this host sends from on its default
// route (a UDP "connection" sends nothing).
func hostAddress() (string, error) {
	c, err := net.Dial("udp4", "192.0.2.255:9")
	if err != nil {
		return "", fmt.Errorf("no default route to find this host's address: %w", err)
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	if ip.IsLoopback() || ip.IsUnspecified() {
		return "", fmt.Errorf("this host's address on its default route is %s", ip)
	}
	return ip.String(), nil
}
