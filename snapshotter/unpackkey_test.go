package snapshotter

import (
	"fmt"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
)

func TestIsUnpackKey(t *testing.T) {
	unpack := fmt.Sprintf(snapshots.UnpackKeyFormat, "1764590000123456789-aBcD", "sha256:0123abcd")
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{unpack, true},
		// As containerd's metadata store hands every key to a snapshotter
		// (core/metadata: NAMESPACE/TXID/KEY), 1.6 and 2.x alike.
		{"default/12/" + unpack, true},
		{"k8s.io/3/" + unpack, true},
		{"default/12/my-container", false},
		{"default/x12/" + unpack, false},
		{"default//" + unpack, false},
		{"extract-only", false},
		{"extract- sha256:x", false},
		{"extract-1 ", false},
		{"myextract-1 sha256:x", false},
		{"default/12/a/extract-1 sha256:x", false},
		{"", false},
	} {
		if got := isUnpackKey(tc.key); got != tc.want {
			t.Errorf("isUnpackKey(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}
