package snapshotter_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// envBig runs the tests too slow for make test (make hostile-big).
const envBig = "ZFSLXC_TEST_BIG"

// hugeEntries is the number of files in TestHugeLayer's layer.
const hugeEntries = 100_000

// TestHugeLayer imports through ctr a layer of 100k entries (1000
// directories of 100 empty files), runs a container that counts them, and
// removes the image: every entry arrives, and garbage collection leaves no
// dataset and no snapshot. The import and removal times are logged. Only
// with ZFSLXC_TEST_BIG=1 (make hostile-big): minutes on zfs-fuse.
func TestHugeLayer(t *testing.T) {
	if os.Getenv(envBig) == "" {
		t.Skipf("set %s=1 (make hostile-big) to import a %d-entry layer", envBig, hugeEntries)
	}
	if _, err := os.Stat(imagebuild.DefaultBusyboxPath); err != nil {
		containerdtest.SkipOrFail(t, "busybox-static missing: %v", err)
	}
	img := buildImage(t, "huge", func() (*imagebuild.Image, error) {
		base, err := imagebuild.BusyboxLayer(imagebuild.DefaultBusyboxPath)
		if err != nil {
			return nil, err
		}
		many := imagebuild.Layer{Gzip: true}
		for d := range hugeEntries / 100 {
			dir := fmt.Sprintf("/many/d%04d", d)
			many.Entries = append(many.Entries, imagebuild.Entry{Path: dir, Type: imagebuild.Dir})
			for f := range 100 {
				many.Entries = append(many.Entries, imagebuild.Entry{Path: fmt.Sprintf("%s/f%03d", dir, f), Content: []byte{}})
			}
		}
		img := &imagebuild.Image{Name: "docker.io/zfslxc/huge:latest", Layers: []imagebuild.Layer{base, many}}
		img.Config.Cmd = []string{"/bin/sh", "-c", "find /many -type f | wc -l"}
		return img, nil
	})
	forEachFlavor(t, func(t *testing.T, e *env) {
		start := time.Now()
		e.importImage(t, img)
		t.Logf("imported %d entries in %v", hugeEntries, time.Since(start).Round(time.Millisecond))
		if out := e.D.MustCtr(t, "run", "--rm", "--snapshotter", sn, img.Ref, "huge"); strings.TrimSpace(out) != fmt.Sprint(hugeEntries) {
			t.Errorf("the container counts %q files, want %d", out, hugeEntries)
		}
		e.assertAgree(t)
		start = time.Now()
		e.removeAllImages(t)
		e.waitEmpty(t)
		t.Logf("removed in %v", time.Since(start).Round(time.Millisecond))
	})
}
