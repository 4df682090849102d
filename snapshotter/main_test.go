package snapshotter_test

import (
	"os"
	"testing"

	"github.com/containerd/log"
)

// TestMain turns on debug logging of every zfs command with
// ZFSLXC_TEST_DEBUG=1.
func TestMain(m *testing.M) {
	if os.Getenv("ZFSLXC_TEST_DEBUG") == "1" {
		_ = log.SetLevel("debug")
	}
	os.Exit(m.Run())
}
