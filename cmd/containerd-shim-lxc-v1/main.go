// Command containerd-shim-lxc-v1 is the containerd runtime v2 shim of
// runtime type io.containerd.lxc.v1: it runs OCI containers with LXC.
//
// Not implemented yet (tracked by the shim issue): this binary only answers
// --help and --version, and refuses every shim action with exit status 2.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zfslxc/zfslxc/internal/version"
)

func main() {
	fs := flag.NewFlagSet("containerd-shim-lxc-v1", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: containerd-shim-lxc-v1 [flags] start|delete

containerd starts this shim for containers of runtime type
io.containerd.lxc.v1; it is not meant to be run by hand.

NOT IMPLEMENTED YET: every action fails with exit status 2.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println("containerd-shim-lxc-v1", version.String())
		return
	}
	fmt.Fprintln(os.Stderr, "containerd-shim-lxc-v1: not implemented yet")
	os.Exit(2)
}
