package shim_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apitypes "github.com/containerd/containerd/api/types"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"google.golang.org/protobuf/proto"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
)

// TestRuntimeInfo: `containerd-shim-lxc-v1 -info` answers containerd
// 2.x's RuntimeInfo query (a protobuf on stdout, runtime options on
// stdin), and containerd 2.4 logs no failed query when it runs a task.
func TestRuntimeInfo(t *testing.T) {
	bin := filepath.Join(binDir(t), shimBinary)
	cmd := exec.Command(bin, "-info")
	cmd.Stdin = strings.NewReader("\x0a\x00") // options bytes, as containerd writes them
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -info: %v", bin, err)
	}
	var info apitypes.RuntimeInfo
	if err := proto.Unmarshal(out, &info); err != nil {
		t.Fatalf("decode RuntimeInfo: %v (stdout %q)", err, out)
	}
	if info.Name != runtimeType || info.GetVersion().GetVersion() == "" {
		t.Fatalf("RuntimeInfo = %v", &info)
	}
	// containerd decodes Features by its type URL; the value is JSON.
	var f features.Features
	if info.Features == nil || !strings.HasSuffix(info.Features.TypeUrl, "/features/Features") {
		t.Fatalf("features = %v", info.Features)
	}
	if err := json.Unmarshal(info.Features.Value, &f); err != nil || f.OCIVersionMax == "" || len(f.Hooks) == 0 {
		t.Fatalf("features %s: %v %+v", info.Features.Value, err, f)
	}

	e := setup(t, containerdtest.V2(), sn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if stdout, stderr, code := e.run(t, ctx, runtimeType, "info"); code != 0 || !strings.Contains(stdout, "hello from the image") {
		t.Fatalf("ctr run: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	data, err := os.ReadFile(e.d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "runtime=") && strings.Contains(l, runtimeType) && strings.Contains(l, "level=error") && strings.Contains(l, "-info") {
			t.Fatalf("containerd failed to query the shim's runtime info: %s", l)
		}
	}
}
