package registrytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zfslxc/zfslxc/integration/imagebuild"
)

// Push builds img and pushes it to the registry as repoTag
// ("zfslxc/hello:v1"), and returns what Build returned.
func (r *Registry) Push(ctx context.Context, repoTag string, img *imagebuild.Image) (*imagebuild.Built, error) {
	repo, tag, err := splitRepoTag(repoTag)
	if err != nil {
		return nil, err
	}
	p := &pusher{ctx: ctx, r: r, repo: repo}
	built, err := img.Build(p)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", repoTag, err)
	}
	if err := p.putManifest(tag, built.Manifest.MediaType, p.last); err != nil {
		return nil, fmt.Errorf("push %s: tag: %w", repoTag, err)
	}
	return built, nil
}

// PushIndex builds the multi-platform idx and pushes it as repoTag, and
// returns the index's descriptor and each image's Built.
func (r *Registry) PushIndex(ctx context.Context, repoTag string, idx *imagebuild.Index) (ocispec.Descriptor, []*imagebuild.Built, error) {
	repo, tag, err := splitRepoTag(repoTag)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	p := &pusher{ctx: ctx, r: r, repo: repo}
	desc, built, err := idx.Build(p)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("push %s: %w", repoTag, err)
	}
	if err := p.putManifest(tag, desc.MediaType, p.last); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("push %s: tag: %w", repoTag, err)
	}
	return desc, built, nil
}

// splitRepoTag splits "repo/name:tag" (no registry host).
func splitRepoTag(s string) (repo, tag string, err error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 || strings.Contains(s[i:], "/") {
		return "", "", fmt.Errorf("%q: want repository:tag", s)
	}
	return s[:i], s[i+1:], nil
}

// pusher is an imagebuild.Sink that uploads to one repository.
type pusher struct {
	ctx  context.Context
	r    *Registry
	repo string
	last []byte // the last manifest stored, tagged at the end
}

// Blob uploads a blob unless the repository has it: HEAD, then POST to
// open an upload and one PUT with the whole blob and its digest.
func (p *pusher) Blob(desc ocispec.Descriptor, write func(io.Writer) error) error {
	blobURL := fmt.Sprintf("%s/v2/%s/blobs/%s", p.r.URL(), p.repo, desc.Digest)
	resp, err := p.do(http.MethodHead, blobURL, "", nil, 0)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	resp, err = p.do(http.MethodPost, fmt.Sprintf("%s/v2/%s/blobs/uploads/", p.r.URL(), p.repo), "", nil, 0)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload of %s: %s", desc.Digest, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("start upload of %s: %w", desc.Digest, err)
	}
	q := loc.Query()
	q.Set("digest", desc.Digest.String())
	loc.RawQuery = q.Encode()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	resp, err = p.do(http.MethodPut, loc.String(), "application/octet-stream", pr, desc.Size)
	pr.Close()
	if err != nil {
		return fmt.Errorf("upload %s: %w", desc.Digest, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("upload %s: %s: %s", desc.Digest, resp.Status, body)
	}
	return nil
}

// Manifest stores a manifest or index by its digest.
func (p *pusher) Manifest(desc ocispec.Descriptor, data []byte) error {
	p.last = data
	return p.putManifest(desc.Digest.String(), desc.MediaType, data)
}

func (p *pusher) putManifest(reference, mediaType string, data []byte) error {
	u := fmt.Sprintf("%s/v2/%s/manifests/%s", p.r.URL(), p.repo, url.PathEscape(reference))
	resp, err := p.do(http.MethodPut, u, mediaType, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("put manifest %s: %s: %s", reference, resp.Status, body)
	}
	return nil
}

func (p *pusher) do(method, u, contentType string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(p.ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if p.r.User != "" {
		req.SetBasicAuth(p.r.User, p.r.Password)
	}
	resp, err := p.r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	return resp, nil
}
