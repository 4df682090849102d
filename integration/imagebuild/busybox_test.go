package imagebuild

import (
	"os"
	"testing"
)

func TestBusyboxLayer(t *testing.T) {
	if _, err := os.Stat(DefaultBusyboxPath); err != nil {
		t.Skipf("%s missing (apt-get install busybox-static): %v", DefaultBusyboxPath, err)
	}
	l, err := BusyboxLayer("")
	if err != nil {
		t.Fatal(err)
	}
	img := &Image{Name: "docker.io/zfslxc/busybox:latest", Layers: []Layer{l}}
	_, rl := writeAndRead(t, img)
	hdrs, contents := tarHeaders(t, rl.layers[0])
	bin, err := os.ReadFile(DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if contents["bin/busybox"] != string(bin) {
		t.Error("bin/busybox differs from the host binary")
	}
	for _, name := range []string{"bin/sh", "bin/cat", "bin/sha256sum", "etc/passwd", "etc/group", "tmp/", "proc/", "sys/", "dev/", "etc/resolv.conf"} {
		if _, ok := hdrs[name]; !ok {
			t.Errorf("busybox layer lacks %s", name)
		}
	}
	if contents["etc/group"] != BusyboxGroup {
		t.Errorf("etc/group = %q", contents["etc/group"])
	}
}

func TestBusyboxLayerMissing(t *testing.T) {
	if _, err := BusyboxLayer("/nonexistent/busybox"); err == nil {
		t.Error("BusyboxLayer of a missing binary succeeded")
	}
}
