package template

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// hostileTar is imagebuild.RawTar, failing t on an error.
func hostileTar(t *testing.T, entries []tar.Header, data map[string]string) []byte {
	t.Helper()
	b, err := imagebuild.RawTar(entries, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileLayers applies layers an attacker wrote with the template
// unpacker (containerd's archive.Apply): whatever the layer says, nothing
// is written outside the rootfs (a canary directory next to it and a host
// file stay unchanged); a corrupt stream is an error.
func TestHostileLayers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (device nodes, ownership)")
	}
	tests := []struct {
		name    string
		entries []tar.Header
		data    map[string]string
		gzip    func([]byte) []byte // nil: uncompressed
		wantErr bool                // false: applying may fail or not; the canaries decide
	}{
		{name: "dot-dot path", entries: []tar.Header{{Name: "../outside/x", Typeflag: tar.TypeReg}}, data: map[string]string{"../outside/x": "pwned"}},
		{name: "absolute path", entries: []tar.Header{{Name: "/OUTSIDE/x", Typeflag: tar.TypeReg}}, data: map[string]string{"/OUTSIDE/x": "pwned"}},
		{name: "symlink then write through it", entries: []tar.Header{
			{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/OUTSIDE"},
			{Name: "link/x", Typeflag: tar.TypeReg}}, data: map[string]string{"link/x": "pwned"}},
		{name: "relative symlink up then write", entries: []tar.Header{
			{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../../OUTSIDE"},
			{Name: "up/x", Typeflag: tar.TypeReg}}, data: map[string]string{"up/x": "pwned"}},
		{name: "hardlink to a host file", entries: []tar.Header{{Name: "hl", Typeflag: tar.TypeLink, Linkname: "HOSTFILE"}}},
		{name: "hardlink out then write", entries: []tar.Header{
			{Name: "hl", Typeflag: tar.TypeLink, Linkname: "../HOSTFILE-rel"},
			{Name: "hl", Typeflag: tar.TypeReg}}, data: map[string]string{"hl": "pwned"}},
		{name: "device nodes", entries: []tar.Header{
			{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0},
			{Name: "dev/mem", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1}}},
		{name: "setuid file", entries: []tar.Header{{Name: "suid", Typeflag: tar.TypeReg, Mode: 0o4755}}, data: map[string]string{"suid": "#!/bin/sh\n"}},
		{name: "whiteout of dot-dot and of root", entries: []tar.Header{
			{Name: ".wh..", Typeflag: tar.TypeReg}, {Name: "dir/.wh..", Typeflag: tar.TypeReg},
			{Name: ".wh.OUTSIDE", Typeflag: tar.TypeReg}, {Name: ".wh..wh..opq", Typeflag: tar.TypeReg}}},
		{name: "long path", entries: []tar.Header{{Name: strings.Repeat("d/", 2040) + "f", Typeflag: tar.TypeReg}}},
		{name: "truncated gzip", entries: []tar.Header{{Name: "a", Typeflag: tar.TypeReg}}, data: map[string]string{"a": strings.Repeat("x", 1<<16)},
			gzip: func(b []byte) []byte {
				var z bytes.Buffer
				w := gzip.NewWriter(&z)
				w.Write(b)
				w.Close()
				return z.Bytes()[:z.Len()/2]
			}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "rootfs", "a", "b")
			outside := filepath.Join(base, "outside")
			hostFile := filepath.Join(base, "hostfile")
			for _, d := range []string{root, outside} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(hostFile, []byte("host"), 0o600); err != nil {
				t.Fatal(err)
			}
			// Names that point at the canaries.
			var entries []tar.Header
			for _, h := range tc.entries {
				h.Name = strings.ReplaceAll(h.Name, "OUTSIDE", outside[1:])
				h.Linkname = strings.ReplaceAll(h.Linkname, "OUTSIDE", outside[1:])
				h.Linkname = strings.ReplaceAll(h.Linkname, "HOSTFILE-rel", "../../../hostfile")
				h.Linkname = strings.ReplaceAll(h.Linkname, "HOSTFILE", hostFile)
				entries = append(entries, h)
			}
			data := map[string]string{}
			for k, v := range tc.data {
				data[strings.ReplaceAll(k, "OUTSIDE", outside[1:])] = v
			}
			blob := hostileTar(t, entries, data)
			mt := ocispec.MediaTypeImageLayer
			if tc.gzip != nil {
				blob = tc.gzip(blob)
				mt = ocispec.MediaTypeImageLayerGzip
			}
			ld := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
			src := &source{open: func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(blob)), nil
			}}
			_, err := applyLayer(context.Background(), root, src, ld, "", io.Discard)
			if msg := fmt.Sprint(err); len(msg) > 300 {
				t.Logf("apply: %s...", msg[:300])
			} else {
				t.Logf("apply: %s", msg)
			}
			if tc.wantErr && err == nil {
				t.Error("applied without error")
			}
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Errorf("written outside the rootfs: %v", ents)
			}
			if got, err := os.ReadFile(hostFile); err != nil || string(got) != "host" {
				t.Errorf("host file now %q, %v", got, err)
			}
			if fi, err := os.Stat(hostFile); err == nil {
				if st, ok := fi.Sys().(interface{ Nlink() uint64 }); ok && st.Nlink() > 1 {
					t.Errorf("host file hardlinked into the rootfs")
				}
			}
			// Everything the layer made is under root.
			filepath.Walk(filepath.Join(base, "rootfs"), func(p string, fi os.FileInfo, err error) error {
				if err == nil && fi.Mode()&os.ModeSymlink == 0 && !strings.HasPrefix(p, filepath.Join(base, "rootfs")) {
					t.Errorf("%s outside", p)
				}
				return nil
			})
		})
	}
}
