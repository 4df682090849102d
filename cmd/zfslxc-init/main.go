// Command zfslxc-init is the static helper LXC starts as the container's
// init (lxc.init.cmd): it reads the process to run from a file, waits for
// the start signal and execs it, so argv reaches the process byte for byte.
//
// Not implemented yet (tracked by the lxcconv/zfslxc-init issue): this
// binary only answers --help and --version and otherwise exits with 2.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/zfslxc/zfslxc/internal/version"
)

func main() {
	fs := flag.NewFlagSet("zfslxc-init", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: zfslxc-init PROCESS-SPEC-FILE

Run inside an LXC container as its init by containerd-shim-lxc-v1 or by a
container made with "zfslxc lxc create"; not meant to be run by hand.

NOT IMPLEMENTED YET: exits with status 2.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println("zfslxc-init", version.String())
		return
	}
	fmt.Fprintln(os.Stderr, "zfslxc-init: not implemented yet")
	os.Exit(2)
}
