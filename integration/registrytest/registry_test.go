package registrytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// TestPushAndFetch pushes images of every format and compression to a
// real registry (plain HTTP, then TLS with basic auth) and reads the tag,
// the manifests and the blobs back as a client would.
func TestPushAndFetch(t *testing.T) {
	for _, opts := range []Options{{}, {TLS: true, Auth: true}} {
		name := "http"
		if opts.TLS {
			name = "tls+auth"
		}
		t.Run(name, func(t *testing.T) {
			r := Start(t, opts)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for _, docker := range []bool{false, true} {
				img := &imagebuild.Image{Docker: docker, Layers: []imagebuild.Layer{
					{Gzip: true, Entries: []imagebuild.Entry{{Path: "/g", Content: []byte("gzip")}}},
					{Zstd: true, Entries: []imagebuild.Entry{{Path: "/z", Content: []byte("zstd")}}},
					{Entries: []imagebuild.Entry{{Path: "/u", Content: []byte("plain")}}},
				}}
				built, err := r.Push(ctx, "zfslxc/formats:v1", img)
				if err != nil {
					t.Fatal(err)
				}
				var m ocispec.Manifest
				mt := fetchJSON(t, r, "/v2/zfslxc/formats/manifests/v1", &m)
				if mt != built.Manifest.MediaType || m.MediaType != mt {
					t.Errorf("docker=%v: tag serves %q (manifest says %q), pushed %q", docker, mt, m.MediaType, built.Manifest.MediaType)
				}
				if len(m.Layers) != 3 {
					t.Fatalf("manifest has %d layers, want 3", len(m.Layers))
				}
				for i, l := range m.Layers {
					if l.Digest != built.Layers[i].Digest || l.MediaType != built.Layers[i].MediaType {
						t.Errorf("layer %d: registry has %s %s, pushed %s %s", i, l.MediaType, l.Digest, built.Layers[i].MediaType, built.Layers[i].Digest)
					}
					checkBlob(t, r, "zfslxc/formats", l)
				}
				checkBlob(t, r, "zfslxc/formats", m.Config)
			}

			// An index of two platforms: the tag serves the index.
			idx := &imagebuild.Index{Images: []*imagebuild.Image{
				{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Layers: []imagebuild.Layer{{Entries: []imagebuild.Entry{{Path: "/arch", Content: []byte("amd64")}}}}},
				{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, Layers: []imagebuild.Layer{{Entries: []imagebuild.Entry{{Path: "/arch", Content: []byte("arm64")}}}}},
			}}
			desc, _, err := r.PushIndex(ctx, "zfslxc/multi:v1", idx)
			if err != nil {
				t.Fatal(err)
			}
			var index ocispec.Index
			if mt := fetchJSON(t, r, "/v2/zfslxc/multi/manifests/v1", &index); mt != ocispec.MediaTypeImageIndex {
				t.Errorf("index tag serves %q", mt)
			}
			if len(index.Manifests) != 2 || index.Manifests[1].Platform.Architecture != "arm64" {
				t.Errorf("index %s: %+v", desc.Digest, index.Manifests)
			}
		})
	}
}

// TestAuthRefused checks that the auth variant refuses a wrong password:
// the fixture must not accept anything, or the pull tests of a wrong
// password prove nothing.
func TestAuthRefused(t *testing.T) {
	r := Start(t, Options{TLS: true, Auth: true})
	for _, tc := range []struct {
		name       string
		user, pass string
		want       int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", r.User, "wrong", http.StatusUnauthorized},
		{"right password", r.User, r.Password, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, r.URL()+"/v2/", nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := r.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET /v2/: %s, want %d", resp.Status, tc.want)
			}
		})
	}
}

func fetchJSON(t *testing.T, r *Registry, path string, v any) (mediaType string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL()+path, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", "+ocispec.MediaTypeImageIndex+", "+
		imagebuild.MediaTypeDockerManifest+", "+imagebuild.MediaTypeDockerManifestList)
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.Header.Get("Content-Type")
}

func checkBlob(t *testing.T, r *Registry, repo string, desc ocispec.Descriptor) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL()+"/v2/"+repo+"/blobs/"+desc.Digest.String(), nil)
	if r.User != "" {
		req.SetBasicAuth(r.User, r.Password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("blob %s: %s", desc.Digest, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !verify(desc, data) {
		t.Errorf("blob %s: %d bytes, content does not match its digest", desc.Digest, len(data))
	}
}

func verify(desc ocispec.Descriptor, data []byte) bool {
	v := desc.Digest.Verifier()
	v.Write(data)
	return v.Verified() && int64(len(data)) == desc.Size
}
