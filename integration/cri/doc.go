// Package cri holds end-to-end tests of the LXC shim under Kubernetes'
// Container Runtime Interface: a real containerd (Debian's 1.6.20 and
// v2.4.2) with its CRI plugin, the runtime handler "lxc" on the zfslxc
// snapshotter over a real zfs-fuse pool, Debian's CNI bridge, and crictl
// (cri-tools, built by `make deps-test`) as the client, as a node operator
// would check a RuntimeClass runtime.
//
// The images are built here (imagebuild): a static pause program as the
// sandbox image and busybox for the containers; no registry is reached.
package cri
