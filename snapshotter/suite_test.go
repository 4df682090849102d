package snapshotter_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/testsuite"

	"github.com/zfslxc/zfslxc/internal/testpool"
	"github.com/zfslxc/zfslxc/snapshotter"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// TestConformance runs containerd's own snapshotter test suite against the
// snapshotter on a real pool. Each sub-test gets its own parent dataset.
func TestConformance(t *testing.T) {
	p := testpool.New(t, testpool.Options{Size: 4 << 30})
	var n atomic.Int64
	testsuite.SnapshotterSuite(t, "zfslxc", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		parent := fmt.Sprintf("%s/suite%d", p.Name, n.Add(1))
		sn, err := snapshotter.New(ctx, root, snapshotter.WithDataset(parent), snapshotter.WithDriver(p.Driver))
		if err != nil {
			return nil, nil, err
		}
		return sn, func() error {
			if err := sn.Close(); err != nil {
				return err
			}
			return p.Driver.Destroy(context.Background(), parent, zfsdriver.DestroyOptions{Recursive: true})
		}, nil
	})
}
