package speccapture

import "testing"

func TestNormalize(t *testing.T) {
	in := `{"root":{"path":"/var/tmp/zfslxc-ctrd-123/state/x/abc/rootfs"},"hostname":"abc","linux":{"namespaces":[{"type":"network","path":"/var/run/netns/cni-1b2c3d4e-0000-4a4a-8b8b-0123456789ab"}]}}`
	rw := []Rewrite{
		{Old: "abc", New: "ID"},
		{Old: "/var/tmp/zfslxc-ctrd-123/state", New: "/run/containerd"},
	}
	got, err := Normalize([]byte(in), rw)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "root": {
    "path": "/run/containerd/x/ID/rootfs"
  },
  "hostname": "ID",
  "linux": {
    "namespaces": [
      {
        "type": "network",
        "path": "/var/run/netns/cni-00000000-0000-0000-0000-000000000000"
      }
    ]
  }
}
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := Normalize([]byte("{"), nil); err == nil {
		t.Error("invalid JSON: want an error")
	}
}
