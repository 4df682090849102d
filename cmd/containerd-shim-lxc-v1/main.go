// Command containerd-shim-lxc-v1 is the containerd runtime v2 shim of
// runtime type io.containerd.lxc.v1: it runs OCI containers with LXC
// (through lxcrun: zfslxc-start and zfslxc-init). shim/manager has the
// bootstrap (start, delete, serve), shim/task the ttrpc task service.
package main

import (
	"os"

	"github.com/zfslxc/zfslxc/shim/manager"
)

func main() {
	os.Exit(manager.Main(os.Args))
}
