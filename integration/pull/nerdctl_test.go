package pull_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// nerd runs nerdctl against a test daemon with its own data root and
// HOME (for the credentials `nerdctl login` stores).
type nerd struct {
	e      *env
	bin    string
	global []string
	env    []string
}

func newNerd(t *testing.T, e *env, namespace, hostsDir string, insecure bool) *nerd {
	t.Helper()
	bin := containerdtest.NerdctlBinary(t)
	scratch := containerdtest.ScratchDir(t, "zfslxc-pull-nerdctl-")
	n := &nerd{
		e:   e,
		bin: bin,
		global: []string{
			"--address", e.d.Address, "--namespace", namespace, "--snapshotter", sn,
			"--data-root", filepath.Join(scratch, "data"), "--cgroup-manager", "cgroupfs",
			"--hosts-dir", hostsDir,
		},
		env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + scratch, "NERDCTL_TOML=" + filepath.Join(scratch, "nerdctl.toml")},
	}
	if insecure {
		n.global = append(n.global, "--insecure-registry")
	}
	return n
}

// run returns stdout, stderr and the exit code (-1 with err when nerdctl
// could not run or timed out).
func (n *nerd) run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stdout, stderr, code, err := containerdtest.CLI{Bin: n.bin, Args: n.global, Env: n.env}.Run(ctx, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr, code
}

func (n *nerd) must(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := n.run(t, "", args...)
	if code != 0 {
		t.Fatalf("nerdctl %s: exit %d: %s\n%s", strings.Join(args, " "), code, stderr, n.e.d.LogTail(30))
	}
	return out
}

// TestNerdctlPull runs images that are not pulled yet with `nerdctl run
// --runtime io.containerd.lxc.v1` from a plain-HTTP registry (nerdctl
// pulls them into zfslxc first), for every image config (USER, WORKDIR,
// ENTRYPOINT only, CMD only), with the same output as runc; then pulls
// from a TLS + basic-auth registry after `nerdctl login`, where a wrong
// password is refused with a clear error and leaves nothing.
func TestNerdctlPull(t *testing.T) {
	testImages(t)
	reg := registrytest.Start(t, registrytest.Options{})
	secure := registrytest.Start(t, registrytest.Options{TLS: true, Auth: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for name, img := range images.configs {
		if _, err := reg.Push(ctx, "zfslxc/config-"+name+":v1", img); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := secure.Push(ctx, "zfslxc/secret:v1", images.byFormat["oci-gzip"]); err != nil {
		t.Fatal(err)
	}

	for _, fl := range containerdtest.Flavors() {
		t.Run(fl.Name, func(t *testing.T) {
			e := setup(t, fl)
			t.Run("RunUnpulled", func(t *testing.T) {
				n := newNerd(t, e, "pull-http", reg.HostsDir(t), true)
				for _, name := range slices.Sorted(mapsKeys(configOutput)) {
					ref := reg.Ref("zfslxc/config-" + name + ":v1")
					out, stderr, code := n.run(t, "", "run", "--rm", "--net", "none", "--runtime", runtimeType, ref)
					if code != 0 {
						t.Errorf("%s: nerdctl run (lxc) of an unpulled image: exit %d: %s", name, code, stderr)
						continue
					}
					runc, _, _ := n.run(t, "", "run", "--rm", "--net", "none", "--runtime", "io.containerd.runc.v2", ref)
					want := configOutput[name]
					if name == "user" {
						// Supplementary groups as runc resolves them.
						want = runc
						if !strings.HasPrefix(runc, "uid=1000(app) gid=1000(app)") {
							t.Errorf("runc ran image user as %q", runc)
						}
					}
					if out != want {
						t.Errorf("%s: lxc printed %q, want %q (runc %q)", name, out, want, runc)
					}
				}
				if ds := e.allDatasets(t); len(ds) < 1 {
					t.Errorf("no dataset after nerdctl run pulled the images")
				}
			})

			t.Run("TLSAuth", func(t *testing.T) {
				n := newNerd(t, e, "pull-tls", secure.HostsDir(t), false)
				before := len(e.settled(t))
				ref := secure.Ref("zfslxc/secret:v1")
				_, stderr, code := n.run(t, "", "pull", ref)
				if code == 0 {
					t.Fatal("pull without login succeeded")
				}
				t.Logf("pull without login: %s", strings.TrimSpace(stderr))
				if !strings.Contains(strings.ToLower(stderr), "unauthorized") {
					t.Errorf("pull without login: error does not say unauthorized: %s", stderr)
				}
				_, stderr, code = n.run(t, "wrong\n", "login", "--username", secure.User, "--password-stdin", secure.Host)
				if code == 0 {
					t.Fatal("login with a wrong password succeeded")
				}
				t.Logf("login with a wrong password: %s", strings.TrimSpace(stderr))
				// nerdctl 1.7.7 says "too many 401 (probably)".
				if l := strings.ToLower(stderr); !strings.Contains(l, "unauthorized") && !strings.Contains(l, "401") {
					t.Errorf("login with a wrong password: error does not say unauthorized or 401: %s", stderr)
				}
				if got := len(e.settled(t)); got != before {
					t.Errorf("refused pulls changed the layer datasets: %d → %d", before, got)
				}
				if out := n.must(t, "images", "--quiet"); strings.TrimSpace(out) != "" {
					t.Errorf("images after refused pulls: %q", out)
				}
				n.run(t, secure.Password+"\n", "login", "--username", secure.User, "--password-stdin", secure.Host)
				n.must(t, "pull", ref)
				out := n.must(t, "run", "--rm", "--net", "none", "--runtime", runtimeType, ref)
				if out != "kept" {
					t.Errorf("pulled image printed %q, want %q", out, "kept")
				}
			})
		})
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
