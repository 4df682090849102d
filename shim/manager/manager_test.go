package manager

import (
	"os"
	"path/filepath"
	"testing"
)

func TestShimGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config string // config.json; "" for none
		want   string
		bad    bool
	}{
		{name: "no config.json", want: "ctr1"},
		{name: "no annotations", config: `{"ociVersion":"1.0.2"}`, want: "ctr1"},
		{name: "other annotations", config: `{"annotations":{"io.kubernetes.cri.container-type":"container"}}`, want: "ctr1"},
		{name: "CRI pod", config: `{"annotations":{"io.kubernetes.cri.sandbox-id":"pod9"}}`, want: "pod9"},
		{name: "empty group", config: `{"annotations":{"io.kubernetes.cri.sandbox-id":""}}`, want: "ctr1"},
		{name: "own group first", config: `{"annotations":{"io.kubernetes.cri.sandbox-id":"pod9","io.containerd.lxc.v1.group":"g"}}`, want: "g"},
		{name: "not JSON", config: `{"annotations":`, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := shimGroup(dir, "ctr1")
			if tc.bad {
				if err == nil {
					t.Fatalf("no error, group %q", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestSocketPathPerGroup: containers of one group share a socket, other
// groups, namespaces and containerds do not.
func TestSocketPathPerGroup(t *testing.T) {
	a := SocketPath("/run/containerd/containerd.sock", "k8s.io", "pod1")
	for _, other := range []string{
		SocketPath("/run/containerd/containerd.sock", "k8s.io", "pod2"),
		SocketPath("/run/containerd/containerd.sock", "default", "pod1"),
		SocketPath("/run/other.sock", "k8s.io", "pod1"),
	} {
		if other == a {
			t.Errorf("%s shared", a)
		}
	}
	if b := SocketPath("/run/containerd/containerd.sock", "k8s.io", "pod1"); b != a {
		t.Errorf("same group, two sockets: %s %s", a, b)
	}
}
