package pull_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// TestCtrPullTLSAuth pulls from a registry that serves HTTPS with a
// certificate of a throwaway CA and asks for basic auth: the CA comes
// from a containerd hosts directory (--hosts-dir), the credentials from
// --user. A wrong password fails with the registry's 401 in the error and
// leaves no image, no content and no dataset; the right one then pulls
// and runs.
func TestCtrPullTLSAuth(t *testing.T) {
	testImages(t)
	reg := registrytest.Start(t, registrytest.Options{TLS: true, Auth: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := reg.Push(ctx, "zfslxc/secret:v1", images.configs["cmd"]); err != nil {
		t.Fatal(err)
	}
	ref := reg.Ref("zfslxc/secret:v1")
	hosts := reg.HostsDir(t)

	for _, fl := range containerdtest.Flavors() {
		t.Run(fl.Name, func(t *testing.T) {
			e := setup(t, fl)
			content := e.mustCtr(t, "content", "ls", "--quiet")

			_, err := e.ctr(t, "images", "pull", "--hosts-dir", hosts, "--user", reg.User+":wrong", "--snapshotter", sn, ref)
			if err == nil {
				t.Fatal("pull with a wrong password succeeded")
			}
			msg := err.Error()
			t.Logf("wrong password: %s", msg)
			if !strings.Contains(msg, "401 Unauthorized") && !strings.Contains(strings.ToLower(msg), "unauthorized") {
				t.Errorf("error does not say unauthorized: %s", msg)
			}
			if imgs := e.images(t); slices.Contains(imgs, ref) {
				t.Errorf("image %s recorded after a refused pull: %v", ref, imgs)
			}
			if got := e.mustCtr(t, "content", "ls", "--quiet"); got != content {
				t.Errorf("content changed after a refused pull:\nbefore %q\nafter  %q", content, got)
			}
			if layers := e.settled(t); len(layers) != 0 {
				t.Errorf("layer datasets after a refused pull: %v", layers)
			}

			// Without the CA the TLS handshake fails.
			if _, err := e.ctr(t, "images", "pull", "--user", reg.UserPass(), "--snapshotter", sn, ref); err == nil ||
				!strings.Contains(err.Error(), "certificate") {
				t.Errorf("pull without the CA: want a certificate error, got %v", err)
			}

			e.mustCtr(t, "images", "pull", "--hosts-dir", hosts, "--user", reg.UserPass(), "--snapshotter", sn, ref)
			out := e.mustCtr(t, "run", "--rm", "--snapshotter", sn, "--runtime", runtimeType, ref, "tls-auth")
			if out != configOutput["cmd"] {
				t.Errorf("pulled image printed %q, want %q", out, configOutput["cmd"])
			}
			if layers := e.settled(t); len(layers) != 1 {
				t.Errorf("want 1 layer dataset (the image has one layer), have %v", layers)
			}
		})
	}
}
