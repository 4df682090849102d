package snapshotter_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// rawLayout is an OCI image layout written byte by byte, as an attacker
// can: blob file names need not be the digests of their contents, index
// entries may point anywhere.
type rawLayout struct {
	names []digest.Digest // blob file names, in write order
	blobs map[digest.Digest][]byte
	index ocispec.Index // index.json
}

func newRawLayout() *rawLayout {
	return &rawLayout{
		blobs: map[digest.Digest][]byte{},
		index: ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex},
	}
}

// add stores data under its own digest and returns its descriptor.
func (l *rawLayout) add(mediaType string, data []byte) ocispec.Descriptor {
	d := digest.FromBytes(data)
	l.addAs(d, data)
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// addAs stores data under the file name of digest name, whatever it holds.
func (l *rawLayout) addAs(name digest.Digest, data []byte) {
	if _, ok := l.blobs[name]; !ok {
		l.names = append(l.names, name)
	}
	l.blobs[name] = data
}

// addJSON stores v marshalled.
func (l *rawLayout) addJSON(t *testing.T, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return l.add(mediaType, data)
}

// tag lists desc in index.json under the image name ref.
func (l *rawLayout) tag(desc ocispec.Descriptor, ref string) {
	desc.Annotations = map[string]string{
		ocispec.AnnotationRefName:      ref[strings.LastIndex(ref, ":")+1:],
		imagebuild.AnnotationImageName: ref,
	}
	l.index.Manifests = append(l.index.Manifests, desc)
}

// image stores a config and a manifest for layers (blob, diff ID pairs
// already stored) with cfg as the runtime config, and returns the
// manifest's descriptor.
func (l *rawLayout) image(t *testing.T, layers []ocispec.Descriptor, diffIDs []digest.Digest, cfg ocispec.ImageConfig) ocispec.Descriptor {
	t.Helper()
	config := l.addJSON(t, ocispec.MediaTypeImageConfig, ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	return l.addJSON(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    layers,
	})
}

// write writes the layout tar to dir/name.tar and returns its path.
func (l *rawLayout) write(t *testing.T, dir, name string) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	file := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	file(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`))
	for _, n := range l.names {
		file("blobs/"+n.Algorithm().String()+"/"+n.Encoded(), l.blobs[n])
	}
	index, err := json.Marshal(l.index)
	if err != nil {
		t.Fatal(err)
	}
	file(ocispec.ImageIndexFile, index)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".tar")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rawTar is imagebuild.RawTar, failing t on an error.
func rawTar(t *testing.T, hdrs []tar.Header, data map[string]string) []byte {
	t.Helper()
	b, err := imagebuild.RawTar(hdrs, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// canaries are host files a hostile image aims at: a directory that must
// keep exactly its one file "keep" (nothing added, nothing whited out)
// and a file that must keep its content and link count.
type canaries struct {
	dir, file string
}

func newCanaries(t *testing.T) canaries {
	t.Helper()
	base, err := os.MkdirTemp("/var/tmp", "zfslxc-canary-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	c := canaries{dir: filepath.Join(base, "outside"), file: filepath.Join(base, "hostfile")}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "keep"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.file, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// check fails t if anything was written to the canaries.
func (c canaries) check(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(c.dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "keep" {
		t.Errorf("written outside the dataset: %s holds %v (%v), want only keep", c.dir, ents, err)
	}
	if got, err := os.ReadFile(filepath.Join(c.dir, "keep")); err != nil || string(got) != "keep" {
		t.Errorf("%s/keep now %q (%v)", c.dir, got, err)
	}
	if got, err := os.ReadFile(c.file); err != nil || string(got) != "host" {
		t.Errorf("host file %s now %q (%v)", c.file, got, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(c.file, &st); err != nil || st.Nlink != 1 {
		t.Errorf("host file %s: %d links (%v): hardlinked into a layer", c.file, st.Nlink, err)
	}
}

// hostileLayers are layer tars an attacker wrote; OUTSIDE stands for the
// canary directory (an absolute path without its leading slash), HOSTFILE
// for the canary file. Each is imported alone; refused says what the
// import's error must contain ("" when containerd applies it, keeping every
// entry inside the dataset), inside the path (relative to the layer's
// root) where an entry must have landed instead. refused is a regular
// expression.
var hostileLayers = []struct {
	name    string
	hdrs    []tar.Header
	data    map[string]string
	gzip    func(t *testing.T, b []byte) []byte // nil: uncompressed
	refused string
	inside  string
}{
	{name: "dot-dot", hdrs: []tar.Header{{Name: strings.Repeat("../", 24) + "OUTSIDE/x", Typeflag: tar.TypeReg}},
		data: map[string]string{strings.Repeat("../", 24) + "OUTSIDE/x": "pwned"}, inside: "OUTSIDE/x"},
	{name: "absolute", hdrs: []tar.Header{{Name: "/OUTSIDE/x", Typeflag: tar.TypeReg}},
		data: map[string]string{"/OUTSIDE/x": "pwned"}, inside: "OUTSIDE/x"},
	{name: "symlink-then-write", hdrs: []tar.Header{
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/OUTSIDE"},
		{Name: "link/x", Typeflag: tar.TypeReg}}, data: map[string]string{"link/x": "pwned"}, inside: "OUTSIDE/x"},
	{name: "relative-symlink-up-then-write", hdrs: []tar.Header{
		{Name: "up", Typeflag: tar.TypeSymlink, Linkname: strings.Repeat("../", 24) + "OUTSIDE"},
		{Name: "up/x", Typeflag: tar.TypeReg}}, data: map[string]string{"up/x": "pwned"}, inside: "OUTSIDE/x"},
	{name: "hardlink-to-host-file", hdrs: []tar.Header{{Name: "hl", Typeflag: tar.TypeLink, Linkname: "/HOSTFILE"}},
		refused: "no such file"},
	{name: "hardlink-up-then-write", hdrs: []tar.Header{
		{Name: "hl", Typeflag: tar.TypeLink, Linkname: strings.Repeat("../", 24) + "HOSTFILE"},
		{Name: "hl", Typeflag: tar.TypeReg}}, data: map[string]string{"hl": "pwned"}, refused: "no such file"},
	{name: "device-nodes", hdrs: []tar.Header{
		{Name: "sda", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0},
		{Name: "mem", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1}}, inside: "mem"},
	{name: "setuid-file", hdrs: []tar.Header{{Name: "suid", Typeflag: tar.TypeReg, Mode: 0o4755}},
		data: map[string]string{"suid": "#!/bin/sh\n"}, inside: "suid"},
	{name: "whiteout-of-dot-dot", hdrs: []tar.Header{{Name: ".wh..", Typeflag: tar.TypeReg}}, refused: "invalid whiteout name"},
	{name: "whiteout-of-root-and-outside", hdrs: []tar.Header{
		{Name: ".wh..wh..opq", Typeflag: tar.TypeReg}, {Name: strings.Repeat("../", 24) + "OUTSIDE/.wh.keep", Typeflag: tar.TypeReg}}},
	{name: "path-of-4096-bytes", hdrs: []tar.Header{{Name: strings.Repeat("d/", 2047) + "ff", Typeflag: tar.TypeReg}},
		refused: "file name too long"},
	{name: "truncated-gzip", hdrs: []tar.Header{{Name: "a", Typeflag: tar.TypeReg}}, data: map[string]string{"a": strings.Repeat("x", 1<<16)},
		gzip: func(t *testing.T, b []byte) []byte {
			z := gzipBytes(t, b)
			return z[:len(z)/2]
		}, refused: "unexpected EOF"},
	{name: "corrupt-gzip", hdrs: []tar.Header{{Name: "a", Typeflag: tar.TypeReg}}, data: map[string]string{"a": strings.Repeat("x", 1<<16)},
		gzip: func(t *testing.T, b []byte) []byte {
			z := gzipBytes(t, b)
			z[len(z)/2] ^= 0xff
			return z
		}, refused: "gzip|flate|invalid tar header"},
}

// TestHostileImport imports images an attacker wrote through `ctr images
// import` into the snapshotter (containerd's applier unpacks them into the
// snapshotter's datasets): escaping layer entries land inside the dataset
// or are refused naming what is wrong; nothing is written to a host
// canary; blobs whose digests lie (an index that loops through itself, a
// manifest naming a layer it does not hold, diff IDs that lie) are
// refused; and after each nothing is left: no dataset, no active
// snapshot, no temporary mount.
func TestHostileImport(t *testing.T) {
	forEachFlavor(t, func(t *testing.T, e *env) {
		c := newCanaries(t)
		dir := t.TempDir()
		for _, tc := range hostileLayers {
			t.Run(tc.name, func(t *testing.T) {
				l := newRawLayout()
				subst := strings.NewReplacer("OUTSIDE", c.dir[1:], "HOSTFILE", c.file[1:])
				var hdrs []tar.Header
				for _, h := range tc.hdrs {
					h.Name, h.Linkname = subst.Replace(h.Name), subst.Replace(h.Linkname)
					hdrs = append(hdrs, h)
				}
				data := map[string]string{}
				for k, v := range tc.data {
					data[subst.Replace(k)] = v
				}
				blob := rawTar(t, hdrs, data)
				diffID, mt := digest.FromBytes(blob), ocispec.MediaTypeImageLayer
				if tc.gzip != nil {
					blob, mt = tc.gzip(t, blob), ocispec.MediaTypeImageLayerGzip
				}
				ref := "docker.io/zfslxc/hostile-" + tc.name + ":latest"
				l.tag(l.image(t, []ocispec.Descriptor{l.add(mt, blob)}, []digest.Digest{diffID}, ocispec.ImageConfig{}), ref)
				err := e.importRaw(t, l.write(t, dir, tc.name), tc.refused)
				if err == nil && tc.inside != "" {
					e.checkInside(t, subst.Replace(tc.inside))
				}
				c.check(t)
				e.removeAllImages(t)
				e.checkNothingLeft(t)
			})
		}

		t.Run("index-loops-through-itself", func(t *testing.T) {
			// No blob can hold its own digest: a loop needs a blob filed
			// under a digest it does not have.
			l := newRawLayout()
			self := digest.FromString("the index that names itself")
			idx, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
				Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: self, Size: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			l.addAs(self, idx)
			l.tag(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: self, Size: int64(len(idx))}, "docker.io/zfslxc/loop:latest")
			e.importRaw(t, l.write(t, dir, "loop"), self.Encoded())
			e.checkNothingLeft(t)
		})

		t.Run("index-cycle-of-two", func(t *testing.T) {
			l := newRawLayout()
			a, b := digest.FromString("index a"), digest.FromString("index b")
			point := func(to digest.Digest) []byte {
				data, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
					Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: to, Size: 200}}})
				if err != nil {
					t.Fatal(err)
				}
				return data
			}
			l.addAs(a, point(b))
			l.addAs(b, point(a))
			l.tag(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: a, Size: int64(len(point(b)))}, "docker.io/zfslxc/cycle:latest")
			e.importRaw(t, l.write(t, dir, "cycle"), a.Encoded()+"|"+b.Encoded())
			e.checkNothingLeft(t)
		})

		t.Run("manifest-digest-lies", func(t *testing.T) {
			l := newRawLayout()
			blob := rawTar(t, []tar.Header{{Name: "a", Typeflag: tar.TypeReg}}, map[string]string{"a": "real"})
			claimed := digest.FromString("some other layer")
			l.addAs(claimed, blob)
			desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: claimed, Size: int64(len(blob))}
			l.tag(l.image(t, []ocispec.Descriptor{desc}, []digest.Digest{claimed}, ocispec.ImageConfig{}), "docker.io/zfslxc/lies:latest")
			e.importRaw(t, l.write(t, dir, "lies"), claimed.Encoded())
			e.checkNothingLeft(t)
		})

		t.Run("diff-id-lies", func(t *testing.T) {
			l := newRawLayout()
			blob := rawTar(t, []tar.Header{{Name: "a", Typeflag: tar.TypeReg}}, map[string]string{"a": "real"})
			lie := digest.FromString("another diff")
			l.tag(l.image(t, []ocispec.Descriptor{l.add(ocispec.MediaTypeImageLayer, blob)}, []digest.Digest{lie}, ocispec.ImageConfig{}),
				"docker.io/zfslxc/difflies:latest")
			e.importRaw(t, l.write(t, dir, "difflies"), "")
			c.check(t)
			e.removeAllImages(t)
			e.checkNothingLeft(t)
		})

		t.Run("index-nested-64-deep", func(t *testing.T) {
			l := newRawLayout()
			blob := rawTar(t, []tar.Header{{Name: "deep", Typeflag: tar.TypeReg}}, map[string]string{"deep": "bottom"})
			top := l.image(t, []ocispec.Descriptor{l.add(ocispec.MediaTypeImageLayer, blob)}, []digest.Digest{digest.FromBytes(blob)}, ocispec.ImageConfig{})
			top.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
			for range 64 {
				top = l.addJSON(t, ocispec.MediaTypeImageIndex, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2},
					MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{top}})
			}
			l.tag(top, "docker.io/zfslxc/deep:latest")
			e.importRaw(t, l.write(t, dir, "deep"), "")
			e.removeAllImages(t)
			e.checkNothingLeft(t)
		})
	})
}

// importRaw imports the layout tar; with refused != "" the import must
// fail with an error matching it, else its outcome is logged. It returns
// the import's error. Whatever containerd kept of a refused import (1.6
// keeps the image record of a manifest whose layer it could not store) is
// logged and removed, as its user would.
func (e *env) importRaw(t *testing.T, tarPath, refused string) error {
	t.Helper()
	_, stderr, err := e.D.Ctr(t, "images", "import", "--snapshotter", sn, tarPath)
	msg := ctrError(stderr)
	switch {
	case refused != "" && err == nil:
		t.Errorf("import succeeded; want an error matching %q", refused)
	case refused != "" && !regexp.MustCompile(refused).MatchString(stderr):
		t.Errorf("import failed with %q; want an error matching %q", msg, refused)
	case err != nil:
		t.Logf("refused: %s", msg)
	default:
		t.Logf("imported")
	}
	if err == nil {
		return nil
	}
	if out := e.D.MustCtr(t, "images", "ls", "--quiet"); strings.TrimSpace(out) != "" {
		t.Logf("containerd kept the image record of the refused import: %s", strings.TrimSpace(out))
	}
	e.removeAllImages(t)
	return fmt.Errorf("%v: %s", err, msg)
}

// ctrError is ctr's error message from its stderr, without log lines
// (2.x's cgroup v1 deprecation warning, 1.6's "apply failure") and cut to
// 400 bytes.
func ctrError(stderr string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.HasPrefix(l, "time=") {
			lines = append(lines, l)
		}
	}
	msg := strings.Join(lines, " ")
	if len(msg) > 400 {
		msg = msg[:400] + "..."
	}
	return msg
}

// checkInside fails t unless rel exists in one of the layer datasets.
func (e *env) checkInside(t *testing.T, rel string) {
	t.Helper()
	for _, d := range e.datasets(t) {
		if _, err := os.Lstat(filepath.Join(e.Sn.Root, "datasets", d.ID, rel)); err == nil {
			return
		}
	}
	t.Errorf("%s is in no layer dataset", rel)
}

// checkNothingLeft fails t if, after a garbage collection, the pool holds
// a dataset, the daemon a snapshot, containerd an image, or the host a
// mount of containerd's applier.
func (e *env) checkNothingLeft(t *testing.T) {
	t.Helper()
	e.waitEmpty(t)
	if out := e.D.MustCtr(t, "images", "ls", "--quiet"); strings.TrimSpace(out) != "" {
		t.Errorf("images left: %q", out)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, "containerd-mount") || strings.Contains(line, "tmpmounts") {
			t.Errorf("mount left: %s", line)
		}
	}
	for key, info := range e.backend(t) {
		if info.Kind != snapshots.KindCommitted {
			t.Errorf("%v snapshot %q left", info.Kind, key)
		}
	}
}
