package template

import "testing"

func TestKeyPattern(t *testing.T) {
	const chain = "sha256:52e7df1a55ddca033bd1e11b4ac7bef0decdb7595759e396dbfc6d99a020c227"
	cases := []struct {
		key, ns, name string
		match         bool
	}{
		// What containerd 1.6 and 2.4 hand the snapshotter for a layer
		// committed as its chain id (seen in TestTemplateFromContainerd).
		{"default/6/" + chain, "default", chain, true},
		{"k8s.io/123/" + chain, "k8s.io", chain, true},
		{"default/6/" + chain, "other", chain, false},
		{"default/x/" + chain, "default", chain, false},
		{chain, "default", chain, false},
		// An active snapshot's key (extract-…) is not the chain id.
		{"default/5/extract-123 " + chain, "default", chain, false},
	}
	for _, tc := range cases {
		k := keyPattern.FindStringSubmatch(tc.key)
		got := k != nil && k[1] == tc.ns && k[2] == tc.name
		if got != tc.match {
			t.Errorf("key %q in %s: match %v, want %v", tc.key, tc.ns, got, tc.match)
		}
	}
}
