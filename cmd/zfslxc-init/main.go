// Command zfslxc-init is the static helper LXC starts as the container's
// init (lxc.init.cmd). It reads the process to run (an lxcconv.Process as
// JSON) from a file, sets it up, waits for the OCI start signal on a fifo and
// execs it, so the payload is PID 1 and gets its argv byte for byte: none of
// it goes through LXC config or a shell.
//
// Usage (written into lxc.init.cmd by package lxcrun; LXC splits that line on
// blanks, so every argument is blank-free):
//
//	zfslxc-init [--fifo PATH] [--sync-fd N] [--reaper] PROCESS-FILE
//
// Under lxcrun every path is an inherited descriptor, so nothing of the
// helper is visible in the container's filesystem (docs/adr/0002):
//
//	lxc.init.cmd = /proc/self/fd/3 --fifo=/proc/self/fd/5 --sync-fd=6 /proc/self/fd/4
//
// Steps, in the order runc's init takes them: mark every inherited
// descriptor close-on-exec; read the process file; set the umask; with
// process.terminal, set up the terminal on stdin (a pty slave: window size,
// owner, and in exec mode setsid + TIOCSCTTY); create and
// enter the working directory (as root); drop the capability bounding set
// to process.capabilities.bounding; set the additional groups, gid and uid
// (keeping capabilities across the change); set the effective, permitted,
// inheritable and ambient sets; resolve args[0] on the process's PATH (as
// the user); report "ready" on the sync socket; block opening the fifo for
// writing until the host opens it for reading (OCI start); run the
// startContainer hooks (the process file's OCI state on stdin); exec.
// A failure before "ready" is sent on the sync socket as "error TEXT", so
// the host's create fails with the reason; it is printed on stderr only
// when there is no sync socket (under runc too it is the create error,
// not the container's output).
//
// With --reaper (annotation io.zfslxc.init=reaper), the helper stays PID 1:
// it forks the payload, forwards every signal it receives to it, reaps all
// zombies, and when the payload ends exits with its code, or with 128+N if a
// signal N killed it (as docker --init/tini: PID 1 of a pid namespace cannot
// re-raise a signal on itself).
//
// Exit codes of the helper's own failures: 127 when args[0] is not found,
// 126 when it cannot be executed, 125 for any other setup failure.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/zfslxc/zfslxc/internal/version"
)

// Exit codes for the helper's own failures, as a shell and docker use them.
const (
	exitSetupFailed   = 125
	exitCannotExecute = 126
	exitNotFound      = 127
)

func init() {
	// Capabilities (capset) and PR_SET_KEEPCAPS are per thread, and the
	// exec or fork that starts the payload takes the calling thread's
	// credentials: keep main on the thread that sets them up.
	runtime.LockOSThread()
}

// options are the command-line flags.
type options struct {
	processFile string
	fifo        string
	syncFD      int
	reaper      bool
	join        bool // a process joining a running container (exec)
	// stdioFromSync: the first message on the sync socket carries
	// stdin, stdout and stderr (see receiveStdio).
	stdioFromSync bool
}

func parseArgs(args []string, out io.Writer) (*options, error) {
	fs := flag.NewFlagSet("zfslxc-init", flag.ContinueOnError)
	fs.SetOutput(out)
	o := &options{}
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.StringVar(&o.fifo, "fifo", "", "exec `fifo` to open for writing before exec (OCI create/start); none: start at once")
	fs.IntVar(&o.syncFD, "sync-fd", -1, "inherited unix socket `fd` on which to report \"ready\" or \"error TEXT\"")
	fs.BoolVar(&o.reaper, "reaper", false, "stay PID 1: fork the process, reap zombies, forward signals")
	fs.BoolVar(&o.stdioFromSync, "stdio-from-sync", false, "take stdin, stdout and stderr from the first message on the sync socket (\"stdio\" with three descriptors)")
	fs.BoolVar(&o.join, "join", false, "the process joins a running container (exec): its cwd must exist, as with runc exec")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: zfslxc-init [flags] PROCESS-FILE

Run inside an LXC container as its init (lxc.init.cmd) by
containerd-shim-lxc-v1 or "zfslxc lxc create"; not meant to be run by hand.
PROCESS-FILE holds the process to run as JSON (lxcconv.Process).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *showVersion {
		fmt.Println("zfslxc-init", version.String())
		return nil, errVersion
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, errors.New("want exactly one PROCESS-FILE argument")
	}
	o.processFile = fs.Arg(0)
	return o, nil
}

var errVersion = errors.New("version printed")

func main() {
	o, err := parseArgs(os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, errVersion), errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "zfslxc-init:", err)
		os.Exit(2)
	}
	code, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zfslxc-init:", err)
	}
	os.Exit(code)
}
