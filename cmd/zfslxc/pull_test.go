package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/integration/registrytest"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/template"
)

// TestTemplatePullsFromRegistry: `template create --from REF` of an image
// that is not in containerd's store pulls it from the registry through
// containerd into the zfslxc snapshotter (containerd 1.6 and 2.4) and
// makes the template as a clone of the pulled top layer; --no-pull
// refuses with NotFound instead; a second create is a cache hit.
func TestTemplatePullsFromRegistry(t *testing.T) {
	reg := registryWithImage(t, "zfslxc/tpl:v1")
	ref := reg.Ref("zfslxc/tpl:v1")
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			containerdtest.RequireHost(t, f)
			p := testpool.New(t)
			snParent := p.Name + "/zfslxc"
			ds := p.Name + "/" + template.DefaultParentName
			sn := containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: snParent, Driver: p.Driver})
			d := containerdtest.Start(t, f, containerdconfig.Snippet(containerdconfig.Options{
				ConfigVersion: f.ConfigVersion, SnapshotterName: containerdtest.SnapshotterName, SnapshotterAddress: sn.Address}))
			args := func(name string, more ...string) []string {
				return append([]string{"template", "create", name, "--from", ref, "--address", d.Address, "--dataset", ds}, more...)
			}

			_, err := runApp(t, args("nopull", "--no-pull")...)
			if !errors.Is(err, template.ErrImageNotInStore) {
				t.Fatalf("--no-pull of an image not in the store: %v, want ErrImageNotInStore", err)
			}

			// A reference the registry does not have: refused naming it,
			// nothing made (no template dataset, no image, no snapshot).
			absent := reg.Ref("zfslxc/absent:v1")
			_, err = runApp(t, "template", "create", "absent", "--from", absent, "--address", d.Address, "--dataset", ds, "--plain-http", "-q")
			if err == nil || !strings.Contains(err.Error(), absent) || !strings.Contains(err.Error(), "not found") {
				t.Errorf("template create --from %s (not in the registry): %v, want a not found naming it", absent, err)
			}
			if list := d.MustCtr(t, "images", "ls", "--quiet"); strings.TrimSpace(list) != "" {
				t.Errorf("images after the failed pull: %q", list)
			}
			for _, d := range containerdtest.ChildDatasets(t, p.Name) {
				if strings.HasPrefix(d, snParent+"/") || strings.HasPrefix(d, ds+"/") {
					t.Errorf("dataset %s made by the failed pull", d)
				}
			}

			out := mustRun(t, args("pulled", "--plain-http")...)
			t.Logf("template create --from %s:\n%s", ref, out)
			if !strings.Contains(out, "pulling "+ref) || !strings.Contains(out, "clone of the snapshotter's layer") {
				t.Errorf("create of an unpulled image did not pull it and clone its top layer:\n%s", out)
			}
			if list := d.MustCtr(t, "images", "ls", "--quiet"); !strings.Contains(list, ref) {
				t.Errorf("%s not in containerd's store after the pull: %q", ref, list)
			}
			if out := mustRun(t, args("pulled", "--plain-http")...); !strings.Contains(out, "cache hit") {
				t.Errorf("second create: %s", out)
			}
			mustRun(t, "template", "rm", "pulled", "--dataset", ds)
		})
	}
}

// registryWithImage starts a registry holding the multi-layer busybox test
// image as repoTag.
func registryWithImage(t *testing.T, repoTag string) *registrytest.Registry {
	t.Helper()
	requireBusybox(t)
	reg := registrytest.Start(t, registrytest.Options{})
	img, err := imagebuild.MultiLayerTestImage("", imagebuild.DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := reg.Push(ctx, repoTag, img); err != nil {
		t.Fatal(err)
	}
	return reg
}
