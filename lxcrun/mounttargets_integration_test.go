package lxcrun_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
)

// TestMountTargetsStayInside: a volume (a bind mount) holding esc -> / and
// a second mount nested under /vol/esc/tmp/...: LXC's create=dir/file
// followed the symlink and made the target on the host (/tmp/...), also
// with the volume read-only (the runc CVE-2021-30465 class). Targets are
// now resolved in the container's view (esc -> / is the container's root,
// as under runc) and created by the runtime without following symlinks.
// Also: a host *file* bound to a path the image lacks (create=file).
func TestMountTargetsStayInside(t *testing.T) {
	requireLXC(t)
	bind := func(dst, src string, opts ...string) specs.Mount {
		return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...)}
	}
	tests := []struct {
		name string
		// mounts gets the volume dir (holding esc -> /, up -> ../../..)
		// and a unique name; it returns the mounts and the script.
		mounts  func(vol, src, file, name string) ([]specs.Mount, string)
		wantOut string
		wantErr string // Prepare or Start fails naming this
	}{
		{name: "dir through symlink in volume",
			mounts: func(vol, src, _, name string) ([]specs.Mount, string) {
				return []specs.Mount{bind("/vol", vol), bind("/vol/esc/tmp/"+name, src)}, "cat /tmp/" + name + "/marker"
			}, wantOut: "marker\n"},
		{name: "file through symlink in read-only volume",
			mounts: func(vol, _, file, name string) ([]specs.Mount, string) {
				return []specs.Mount{bind("/vol", vol, "ro"), bind("/vol/esc/tmp/"+name, file)}, "cat /tmp/" + name
			}, wantOut: "file\n"},
		{name: "tmpfs through relative symlink in volume",
			mounts: func(vol, _, _, name string) ([]specs.Mount, string) {
				return []specs.Mount{bind("/vol", vol), {Destination: "/vol/up/tmp/" + name, Type: "tmpfs", Source: "tmpfs"}},
					"grep -c ' /tmp/" + name + " tmpfs' /proc/self/mounts"
			}, wantOut: "1\n"},
		{name: "host file to a path the image lacks",
			mounts: func(_, _, file, name string) ([]specs.Mount, string) {
				return []specs.Mount{bind("/newdir/"+name+".cfg", file, "ro")}, "cat /newdir/" + name + ".cfg"
			}, wantOut: "file\n"},
		{name: "missing target in read-only volume refused",
			mounts: func(vol, src, _, name string) ([]specs.Mount, string) {
				return []specs.Mount{bind("/vol", vol, "ro"), bind("/vol/new-"+name, src)}, "true"
			}, wantErr: "mounts[5].destination"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			vol, src := filepath.Join(dir, "vol"), filepath.Join(dir, "src")
			file := filepath.Join(dir, "file")
			for _, d := range []string{vol, src} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("/", filepath.Join(vol, "esc")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../..", filepath.Join(vol, "up")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, "marker"), []byte("marker\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte("file\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("zfslxc-escape-%d-%d", os.Getpid(), i)
			hostPath := filepath.Join("/tmp", name)
			t.Cleanup(func() { os.RemoveAll(hostPath) })
			rootfs := filepath.Join(dir, "rootfs")
			makeRootfs(t, rootfs)
			mounts, script := tc.mounts(vol, src, file, name)
			spec := baseSpec(rootfs, "sh", "-c", script)
			spec.Mounts = append(spec.Mounts, mounts...)

			defer func() {
				if _, err := os.Lstat(hostPath); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was created on the host (%v)", hostPath, err)
				}
				if ents, _ := os.ReadDir(vol); len(ents) != 2 {
					t.Errorf("volume holds %d entries, want its 2 symlinks only", len(ents))
				}
			}()
			if tc.wantErr != "" {
				err := prepareErr(t, spec)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, new(*lxcconv.FieldError)) {
					t.Fatalf("Prepare: %v, want a FieldError naming %s", err, tc.wantErr)
				}
				return
			}
			b := create(t, spec, "", false)
			b.release(t)
			if st := b.wait(t); st != (lxcrun.Status{}) {
				t.Errorf("status %v; stderr %q", st, b.stderr.String())
			}
			if got := b.stdout.String(); got != tc.wantOut {
				t.Errorf("stdout %q, want %q (stderr %q)", got, tc.wantOut, b.stderr.String())
			}
		})
	}
}

// prepareErr runs Prepare and returns its error (removing what it made).
func prepareErr(t *testing.T, spec *specs.Spec) error {
	t.Helper()
	bin := requireLXC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := lxcrun.Prepare(ctx, filepath.Join(t.TempDir(), "state"), spec, lxcrun.Options{
		Name: fmt.Sprintf("lxcrun-err-%d", os.Getpid()), BinDir: bin,
		Convert: lxcconv.Options{RootFS: os.DirFS(spec.Root.Path), DefaultAppArmorProfile: "unconfined"},
	})
	if err == nil {
		_ = c.Delete(ctx)
	}
	return err
}
