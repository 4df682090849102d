package imagebuild

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestWriteLayout(t *testing.T) {
	multi, err := MultiLayerTestImage("", fakeBusybox(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		img       *Image
		wantRef   string
		wantTag   string
		wantTypes []string
	}{
		{
			name:      "multi-layer test image",
			img:       multi,
			wantRef:   "docker.io/zfslxc/test:latest",
			wantTag:   "latest",
			wantTypes: []string{ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayer},
		},
		{
			name: "untagged name with registry port",
			img: &Image{
				Name:   "localhost:5000/x/y",
				Layers: []Layer{{Entries: []Entry{{Path: "/a", Content: []byte("a")}}}},
			},
			wantRef:   "localhost:5000/x/y:latest",
			wantTag:   "latest",
			wantTypes: []string{ocispec.MediaTypeImageLayer},
		},
		{
			name: "custom tag and platform",
			img: &Image{
				Name:     "example.com/t:v1.2",
				Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
				Layers:   []Layer{{Gzip: true, Entries: []Entry{{Path: "/d", Type: Dir}}}},
			},
			wantRef:   "example.com/t:v1.2",
			wantTag:   "v1.2",
			wantTypes: []string{ocispec.MediaTypeImageLayerGzip},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc, rl := writeAndRead(t, tt.img)
			md := rl.index.Manifests[0]
			if md.Digest != desc.Digest || md.Size != desc.Size {
				t.Errorf("returned descriptor %s/%d, index has %s/%d", desc.Digest, desc.Size, md.Digest, md.Size)
			}
			if got := md.Annotations[ocispec.AnnotationRefName]; got != tt.wantTag {
				t.Errorf("ref.name annotation %q, want %q", got, tt.wantTag)
			}
			if got := md.Annotations[AnnotationImageName]; got != tt.wantRef {
				t.Errorf("image.name annotation %q, want %q", got, tt.wantRef)
			}
			var gotTypes []string
			for _, l := range rl.manifest.Layers {
				gotTypes = append(gotTypes, l.MediaType)
			}
			if !slices.Equal(gotTypes, tt.wantTypes) {
				t.Errorf("layer media types %v, want %v", gotTypes, tt.wantTypes)
			}
			wantPlatform := tt.img.platform()
			if md.Platform == nil || md.Platform.Architecture != wantPlatform.Architecture || md.Platform.OS != wantPlatform.OS {
				t.Errorf("index platform %+v, want %+v", md.Platform, wantPlatform)
			}
			if rl.config.Architecture != wantPlatform.Architecture || rl.config.OS != wantPlatform.OS || rl.config.Variant != wantPlatform.Variant {
				t.Errorf("config platform %+v, want %+v", rl.config.Platform, wantPlatform)
			}
			if rl.config.RootFS.Type != "layers" {
				t.Errorf("rootfs type %q", rl.config.RootFS.Type)
			}
			if len(rl.config.History) != len(tt.img.Layers) {
				t.Errorf("%d history entries for %d layers", len(rl.config.History), len(tt.img.Layers))
			}
			if !slices.Equal(rl.config.Config.Entrypoint, tt.img.Config.Entrypoint) || !slices.Equal(rl.config.Config.Cmd, tt.img.Config.Cmd) {
				t.Errorf("config entrypoint/cmd %q %q", rl.config.Config.Entrypoint, rl.config.Config.Cmd)
			}
		})
	}
}

func TestDefaultPlatform(t *testing.T) {
	img := &Image{}
	if p := img.platform(); p.OS != "linux" || p.Architecture != runtime.GOARCH {
		t.Errorf("default platform %+v", p)
	}
}

func TestMultiLayerEntries(t *testing.T) {
	img, err := MultiLayerTestImage("", fakeBusybox(t))
	if err != nil {
		t.Fatal(err)
	}
	_, rl := writeAndRead(t, img)
	if len(rl.layers) != 3 {
		t.Fatalf("%d layers, want 3", len(rl.layers))
	}
	base, _ := tarHeaders(t, rl.layers[0])
	data, dataContent := tarHeaders(t, rl.layers[1])
	change, changeContent := tarHeaders(t, rl.layers[2])

	tests := []struct {
		name     string
		hdrs     map[string]*tar.Header
		member   string
		typeflag byte
		mode     int64
		uid      int
		linkname string
	}{
		{"busybox binary", base, "bin/busybox", tar.TypeReg, 0o755, 0, ""},
		{"sh applet", base, "bin/sh", tar.TypeSymlink, 0o777, 0, "busybox"},
		{"sticky tmp", base, "tmp/", tar.TypeDir, 0o1777, 0, ""},
		{"app home", base, "home/app/", tar.TypeDir, 0o755, 1000, ""},
		{"hardlink", data, "data/hard", tar.TypeLink, 0o644, 0, "data/keep.txt"},
		{"symlink", data, "data/link", tar.TypeSymlink, 0o777, 0, "keep.txt"},
		{"private file", data, "data/private.txt", tar.TypeReg, 0o750, 1000, ""},
		{"whiteout", change, "data/.wh.gone.txt", tar.TypeReg, 0o644, 0, ""},
		{"opaque marker", change, "data/opaque/.wh..wh..opq", tar.TypeReg, 0o644, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr, ok := tt.hdrs[tt.member]
			if !ok {
				t.Fatalf("member %s missing", tt.member)
			}
			if hdr.Typeflag != tt.typeflag || hdr.Mode != tt.mode || hdr.Uid != tt.uid || hdr.Gid != tt.uid || hdr.Linkname != tt.linkname {
				t.Errorf("%s: type %c mode %o uid %d gid %d link %q; want type %c mode %o uid/gid %d link %q",
					tt.member, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Linkname, tt.typeflag, tt.mode, tt.uid, tt.linkname)
			}
			if !hdr.ModTime.Equal(epoch) {
				t.Errorf("%s: mtime %v, want %v", tt.member, hdr.ModTime, epoch)
			}
		})
	}
	if got := data["data/xattr.txt"].PAXRecords["SCHILY.xattr."+XattrName]; got != XattrValue {
		t.Errorf("xattr record %q, want %q", got, XattrValue)
	}
	if dataContent["data/keep.txt"] != "keep" || changeContent["data/keep.txt"] != "kept" {
		t.Errorf("keep.txt contents %q then %q", dataContent["data/keep.txt"], changeContent["data/keep.txt"])
	}
	if _, ok := change["data/gone.txt"]; ok {
		t.Error("whiteout layer also holds data/gone.txt")
	}
}

func TestDeterministic(t *testing.T) {
	bb := fakeBusybox(t)
	tests := []struct {
		name  string
		build func() (*Image, error)
	}{
		{"multi-layer", func() (*Image, error) { return MultiLayerTestImage("", bb) }},
		{"large file", func() (*Image, error) {
			return &Image{Name: "x:1", Layers: []Layer{LargeFileLayer("/big/file", 10<<20)}}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var digests []string
			for range 2 {
				img, err := tt.build()
				if err != nil {
					t.Fatal(err)
				}
				desc, err := img.WriteLayout(io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				digests = append(digests, desc.Digest.String())
			}
			if digests[0] != digests[1] {
				t.Errorf("two builds gave manifests %s and %s", digests[0], digests[1])
			}
		})
	}
}

// TestRegeneratedBlob checks that a blob generated a second time (too big
// to keep) is the one measured.
func TestRegeneratedBlob(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			l := LargeFileLayer("/big/file", 256<<10)
			l.Entries = append(l.Entries, Entry{Path: "/small", Content: []byte("small")})
			l.Gzip = gz
			kept, err := measure(&l, 1<<30)
			if err != nil || kept.data == nil {
				t.Fatalf("measure with a large limit: data kept %v, err %v", kept != nil && kept.data != nil, err)
			}
			dropped, err := measure(&l, 1024)
			if err != nil || dropped.data != nil {
				t.Fatalf("measure with a small limit: data kept %v, err %v", dropped != nil && dropped.data != nil, err)
			}
			if kept.digest != dropped.digest || kept.diffID != dropped.diffID || kept.size != dropped.size {
				t.Fatalf("measures differ: %+v vs %+v", kept, dropped)
			}
			var buf bytes.Buffer
			if err := dropped.writeTo(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), kept.data) {
				t.Error("regenerated blob differs from the kept one")
			}
			// A layer that changes between the passes is caught.
			l.Entries[len(l.Entries)-1].Content = []byte("SMALL")
			if err := dropped.writeTo(io.Discard); err == nil || !strings.Contains(err.Error(), "changed between passes") {
				t.Errorf("writeTo of a changed layer: %v", err)
			}
		})
	}
}

func TestWriteLayoutErrors(t *testing.T) {
	one := func(e Entry) *Image { return &Image{Name: "x:1", Layers: []Layer{{Entries: []Entry{e}}}} }
	tests := []struct {
		name    string
		img     *Image
		wantErr string
	}{
		{"no name", &Image{Layers: []Layer{{}}}, "no name"},
		{"digest name", &Image{Name: "x@sha256:00", Layers: []Layer{{}}}, "digest"},
		{"no layers", &Image{Name: "x"}, "no layers"},
		{"relative path", one(Entry{Path: "a"}), "not absolute"},
		{"unclean path", one(Entry{Path: "/a/../b"}), "not clean"},
		{"root entry", one(Entry{Path: "/", Type: Dir}), "cannot be an entry"},
		{"symlink without target", one(Entry{Path: "/l", Type: Symlink}), "empty Linkname"},
		{"hardlink relative target", one(Entry{Path: "/h", Type: Hardlink, Linkname: "a"}), "not absolute"},
		{"dir with content", one(Entry{Path: "/d", Type: Dir, Content: []byte("x")}), "only files have content"},
		{"file with linkname", one(Entry{Path: "/f", Linkname: "/x"}), "only links"},
		{"size mismatch", one(Entry{Path: "/f", Content: []byte("abc"), Size: 4}), "disagrees"},
		{"negative size", one(Entry{Path: "/f", Size: -1}), "negative size"},
		{"unknown type", one(Entry{Path: "/f", Type: EntryType(99)}), "unknown type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.img.WriteLayout(io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSplitTag(t *testing.T) {
	tests := []struct{ in, name, tag string }{
		{"docker.io/zfslxc/test:latest", "docker.io/zfslxc/test", "latest"},
		{"docker.io/zfslxc/test", "docker.io/zfslxc/test", "latest"},
		{"localhost:5000/a", "localhost:5000/a", "latest"},
		{"localhost:5000/a:v1", "localhost:5000/a", "v1"},
		{"busybox", "busybox", "latest"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if name, tag := splitTag(tt.in); name != tt.name || tag != tt.tag {
				t.Errorf("splitTag(%q) = %q, %q; want %q, %q", tt.in, name, tag, tt.name, tt.tag)
			}
		})
	}
}
