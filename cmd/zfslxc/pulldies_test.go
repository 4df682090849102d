package main

import (
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/template"
)

// TestTemplatePullContainerdDies: containerd killed while `template
// create` pulls (here: when the registry gets the pull's first request)
// makes the create fail, naming containerd, and leaves no template
// dataset. Was: it never returned — containerd's client retries opening a
// content writer for as long as containerd answers Unavailable, which a
// dead containerd always does (found by the template fault sweep, 1 run
// in 4).
func TestTemplatePullContainerdDies(t *testing.T) {
	reg := registryWithImage(t, "zfslxc/dies:v1")
	f := containerdtest.V2()
	containerdtest.RequireHost(t, f)
	p := testpool.New(t)
	sn := containerdtest.StartSnapshotter(t, containerdtest.SnapshotterOptions{Dataset: p.Name + "/zfslxc", Driver: p.Driver})
	d := containerdtest.Start(t, f, containerdconfig.Snippet(containerdconfig.Options{
		ConfigVersion: f.ConfigVersion, SnapshotterName: containerdtest.SnapshotterName, SnapshotterAddress: sn.Address}))
	proxy := startKillProxy(t, reg.Host, func() { d.Kill9(t) })
	ds := p.Name + "/" + template.DefaultParentName
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := runApp(t, "template", "create", "dies", "--from", proxy+"/zfslxc/dies:v1", "--plain-http",
			"--address", d.Address, "--dataset", ds)
		done <- result{out, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("template create still runs 2 min after containerd died during its pull")
	}
	if r.err == nil {
		t.Fatalf("template create succeeded though containerd died during its pull:\n%s", r.out)
	}
	t.Logf("template create when containerd dies: %v", r.err)
	if !strings.Contains(r.err.Error(), "containerd") {
		t.Errorf("error does not name containerd: %v", r.err)
	}
	// The parent is made with the first template: it may not exist.
	if out, err := exec.Command("zfs", "list", "-H", "-r", "-o", "name", ds).CombinedOutput(); err == nil {
		if left := strings.Fields(string(out)); len(left) > 1 {
			t.Errorf("datasets left under %s: %v", ds, left[1:])
		}
	} else if !strings.Contains(string(out), "does not exist") {
		t.Errorf("zfs list %s: %v: %s", ds, err, out)
	}
}

// startKillProxy forwards TCP connections to addr and calls kill once,
// before forwarding the first one; it returns its own address.
func startKillProxy(t *testing.T, addr string, kill func()) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var once sync.Once
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			once.Do(kill)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().String()
}
