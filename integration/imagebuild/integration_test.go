package imagebuild

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
)

// TestCtrImportAndRun imports MultiLayerTestImage into a private
// containerd (Debian's 1.6, and 2.4 when built), runs it with runc on the
// native snapshotter and checks what the container sees.
func TestCtrImportAndRun(t *testing.T) {
	if _, err := os.Stat(DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	img, err := MultiLayerTestImage(DefaultTestImageName, DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	desc, err := img.WriteLayoutFile(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s manifest %s", img.Ref(), desc.Digest)
	// The same layers, run as "app" through the image config.
	userImg := *img
	userImg.Name = "docker.io/zfslxc/test-user:latest"
	userImg.Config.User = "app"
	userImg.Config.Entrypoint = nil
	userImg.Config.Cmd = []string{"/bin/id"}
	userTar := filepath.Join(t.TempDir(), "user.tar")
	if _, err := userImg.WriteLayoutFile(userTar); err != nil {
		t.Fatal(err)
	}

	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			start := time.Now()
			// 2.x's transfer service unpacks at import only into the
			// snapshotters its unpack_config lists.
			d := containerdtest.Start(t, f, containerdconfig.UnpackConfig(f.ConfigVersion, "", "overlayfs", "native"))
			t.Logf("%s ready in %v", f.Name, time.Since(start).Round(time.Millisecond))
			checkImportAndRun(t, d, img.Ref(), tarPath)
			checkImageUser(t, d, userImg.Ref(), userTar)
			t.Logf("%s: whole sub-test %v", f.Name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func checkImportAndRun(t *testing.T, d *containerdtest.Daemon, ref, tarPath string) {
	step := func(what string, args ...string) string {
		t.Helper()
		start := time.Now()
		out, _, err := d.Ctr(t, args...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
		return out
	}

	step("import", "images", "import", "--snapshotter", "native", tarPath)
	if out := step("list images", "images", "list", "--quiet"); !strings.Contains("\n"+out, "\n"+ref+"\n") {
		t.Fatalf("image %s not listed after import:\n%s", ref, out)
	}
	if out := step("check unpack", "images", "check"); !strings.Contains(out, "complete") {
		t.Errorf("image content not complete:\n%s", out)
	}
	// Three layers unpacked at import: three committed native snapshots.
	if out := step("list snapshots", "snapshots", "--snapshotter", "native", "list"); strings.Count(out, "Committed") != 3 {
		t.Errorf("want 3 committed native snapshots after import, got:\n%s", out)
	}

	// The image's own ENTRYPOINT + CMD.
	if out := step("run default command", "run", "--rm", "--snapshotter", "native", ref, "imagebuild-default"); out != "kept" {
		t.Errorf("default command printed %q, want %q", out, "kept")
	}
	want := MultiLayerExpected()
	out := step("run checks", "run", "--rm", "--snapshotter", "native", ref, "imagebuild-checks", "/bin/sh", "-c", want.Script())
	if err := want.Verify(out); err != nil {
		t.Error(err)
	}
	checkXattrs(t, d, want)
}

// checkImageUser runs an image whose config says User "app": containerd
// resolves it through the image's /etc/passwd and /etc/group.
func checkImageUser(t *testing.T, d *containerdtest.Daemon, ref, tarPath string) {
	if _, _, err := d.Ctr(t, "images", "import", "--snapshotter", "native", tarPath); err != nil {
		t.Fatalf("import: %v", err)
	}
	out, _, err := d.Ctr(t, "run", "--rm", "--snapshotter", "native", ref, "imagebuild-user")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("id as image user app: %s", strings.TrimSpace(out))
	if !strings.HasPrefix(out, "uid=1000(app) gid=1000(app)") {
		t.Errorf("id printed %q, want uid=1000(app) gid=1000(app)…", out)
	}
}

// checkXattrs looks for the expected xattrs in the native snapshotter's
// directories on the host (busybox has no getfattr).
func checkXattrs(t *testing.T, d *containerdtest.Daemon, want Expectation) {
	t.Helper()
	for p, attrs := range want.Xattrs {
		matches, _ := filepath.Glob(filepath.Join(d.Root, "io.containerd.snapshotter.v1.native", "snapshots", "*", p))
		if len(matches) == 0 {
			t.Errorf("%s not found in any native snapshot", p)
			continue
		}
		for name, value := range attrs {
			buf := make([]byte, 256)
			n, err := syscall.Getxattr(matches[len(matches)-1], name, buf)
			if err != nil {
				t.Errorf("getxattr %s %s: %v", matches[len(matches)-1], name, err)
				continue
			}
			if got := string(buf[:n]); got != value {
				t.Errorf("%s: xattr %s = %q, want %q", p, name, got, value)
			}
		}
	}
}
