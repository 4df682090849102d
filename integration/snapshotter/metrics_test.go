package snapshotter_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
)

// TestMetricsEndpoint starts the daemon with --metrics-address, runs
// operations through its socket (a good one and refused ones) and reads
// the Prometheus text from /metrics: operation counts by result class,
// latency histograms, snapshots by kind, zfs commands.
func TestMetricsEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := setup(t, nil, "--metrics-address", addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.client(t)
	if _, err := c.Prepare(ctx, "m-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, "m", "m-active"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Prepare(ctx, "m-child", "m"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "m"); err == nil {
		t.Fatal("remove of a parent with a child succeeded")
	}
	if _, err := c.Prepare(ctx, "m-bad", "", snapshots.WithLabels(map[string]string{"containerd.io/snapshot/zfslxc.quota": "lots"})); err == nil {
		t.Fatal("bad quota label accepted")
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/metrics", addr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{
		`zfslxc_snapshotter_operations_total{op="prepare",result="ok"} 2`,
		`zfslxc_snapshotter_operations_total{op="prepare",result="invalid_argument"} 1`,
		`zfslxc_snapshotter_operations_total{op="commit",result="ok"} 1`,
		`zfslxc_snapshotter_operations_total{op="remove",result="failed_precondition"} 1`,
		`zfslxc_snapshotter_operation_duration_seconds_count{op="prepare"} 3`,
		`zfslxc_snapshotter_snapshots{kind="Active"} 1`,
		`zfslxc_snapshotter_snapshots{kind="Committed"} 1`,
		`zfslxc_snapshotter_zfs_busy_retries_total`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(text, "zfslxc_snapshotter_zfs_commands_total") || strings.Contains(text, "zfslxc_snapshotter_zfs_commands_total 0\n") {
		t.Errorf("zfs commands not counted:\n%s", grepLines(text, "zfs_commands"))
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(text, "zfslxc_"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
