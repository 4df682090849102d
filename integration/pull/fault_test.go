package pull_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// cutProxy forwards TCP connections to a registry and calls cut once,
// when more than limit bytes have come back from it: the test kills the
// registry there, in the middle of a layer.
type cutProxy struct {
	l     net.Listener
	to    string
	limit int64
	sent  atomic.Int64
	once  sync.Once
	cut   func()
}

func startCutProxy(t *testing.T, to string, limit int64, cut func()) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, to: to, limit: limit, cut: cut}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer up.Close()
	go io.Copy(up, c)
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if p.sent.Add(int64(n)) > p.limit {
				p.once.Do(p.cut)
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestPullRegistryDies kills the registry in the middle of a 64 MiB layer
// while `ctr images pull` fetches it: the pull fails with an error naming
// what it was fetching, no image is recorded and no uncommitted dataset
// or active snapshot is left; once the registry is back the same pull
// succeeds and the image runs under the LXC shim (containerd 1.6 and 2.4).
func TestPullRegistryDies(t *testing.T) {
	testImages(t)
	reg := registrytest.Start(t, registrytest.Options{})
	base, err := imagebuild.BusyboxLayer("")
	if err != nil {
		t.Fatal(err)
	}
	img := &imagebuild.Image{Layers: []imagebuild.Layer{base, imagebuild.LargeFileLayer("/big/blob.bin", 64<<20)}}
	img.Config.Cmd = []string{"/bin/sh", "-c", "wc -c < /big/blob.bin"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	built, err := reg.Push(ctx, "zfslxc/big:v1", img)
	if err != nil {
		t.Fatal(err)
	}
	big := built.Layers[1].Digest

	for _, fl := range containerdtest.Flavors() {
		t.Run(fl.Name, func(t *testing.T) {
			e := setup(t, fl)
			var killed atomic.Bool
			proxy := startCutProxy(t, reg.Host, 16<<20, func() {
				killed.Store(true)
				reg.Kill(t)
			})
			ref := proxy.l.Addr().String() + "/zfslxc/big:v1"
			_, err := e.ctr(t, "images", "pull", "--plain-http", "--snapshotter", sn, ref)
			if !killed.Load() {
				t.Fatalf("the registry was not killed during the pull (%d bytes through the proxy); pull: %v", proxy.sent.Load(), err)
			}
			if err == nil {
				t.Fatal("pull succeeded though the registry died in the middle of a layer")
			}
			t.Logf("pull while the registry died: %v", err)
			msg := err.Error()
			if !strings.Contains(msg, big.Encoded()[:12]) && !strings.Contains(msg, "EOF") && !strings.Contains(msg, "connection refused") && !strings.Contains(msg, "reset") {
				t.Errorf("error names neither the layer %s nor the broken connection: %s", big, msg)
			}
			if imgs := e.images(t); len(imgs) != 0 {
				t.Errorf("images recorded after a failed pull: %v", imgs)
			}
			if out := e.mustCtr(t, "snapshots", "--snapshotter", sn, "ls"); strings.Contains(out, "Active") {
				t.Errorf("active snapshots left after a failed pull:\n%s", out)
			}
			// Only whole layers stay (the base layer may have completed):
			// settled fails on an uncommitted dataset.
			if layers := e.settled(t); len(layers[built.ChainID()]) != 0 {
				t.Errorf("the interrupted top layer has a committed dataset: %v", layers)
			}

			reg.Start(t)
			e.mustCtr(t, "images", "pull", "--plain-http", "--snapshotter", sn, ref)
			out := e.mustCtr(t, "run", "--rm", "--snapshotter", sn, "--runtime", runtimeType, ref, "big")
			if strings.TrimSpace(out) != "67108864" {
				t.Errorf("pulled image's 64 MiB file has %q bytes", out)
			}
			if layers := e.settled(t); len(layers) != 2 {
				t.Errorf("want 2 layer datasets after the retry, have %v", layers)
			}
		})
	}
}
