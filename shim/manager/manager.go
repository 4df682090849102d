// Package manager is the bootstrap of containerd-shim-lxc-v1: the actions
// containerd runs the binary with (start, delete) and the long-running
// ttrpc server (serve, started by start).
//
// containerd/v2's pkg/shim is not used: at `start` it answers with a
// protobuf or JSON BootstrapResult, and containerd 1.6 only takes a plain
// address. Both 1.6 and 2.x take a plain `unix://PATH` (2.x first tries to
// decode it as a protobuf BootstrapResult, which fails on "unix://", then
// falls back to the legacy plain address with protocol ttrpc, version 2:
// task API v2). That is all this shim prints.
//
// What containerd passes (1.6 and 2.4, core/runtime/v2 command.go):
//
//	SHIM -namespace NS -address GRPC -publish-binary CONTAINERD -id ID [-bundle DIR] [-debug] start|delete
//
// with the bundle as working directory (also for delete on Linux) and the
// environment TTRPC_ADDRESS, GRPC_ADDRESS, NAMESPACE, MAX_SHIM_VERSION.
// On `start`, 2.3+ writes protobuf BootstrapParams to stdin and 1.6 writes
// the runtime options (if any); both are read and ignored: everything the
// shim needs is in the flags and the environment.
package manager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	apitypes "github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zfslxc/zfslxc/internal/version"
	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/shim/config"
	"github.com/zfslxc/zfslxc/shim/task"
)

// RuntimeType is the runtime name containerd knows this shim by.
const RuntimeType = "io.containerd.lxc.v1"

// SocketDir holds the shims' ttrpc sockets (PATH = sha256 of the
// containerd address, namespace and id, as runc's shim does, so the path
// stays short whatever the bundle's).
const SocketDir = "/run/zfslxc/s"

// listen listens on sock, reachable by root only whatever the umask
// containerd gave the shim (with umask 0 the socket was 0777 under a 0711
// directory: any user could drive the task API): the directory is made
// 0700 (also when it exists), the socket 0600.
func listen(sock string) (net.Listener, error) {
	if err := os.MkdirAll(SocketDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(SocketDir, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// serveAction is the internal action start re-execs the binary with.
const serveAction = "serve"

// listenerFd is the descriptor of the listening socket in the server.
const listenerFd = 3

// Environment containerd sets for its shims.
const (
	envTTRPCAddress = "TTRPC_ADDRESS"
	envNamespace    = "NAMESPACE"
)

type flags struct {
	namespace, id, address, publishBinary, bundle string
	debug, showVersion, info                      bool
	action                                        string
}

func parse(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.namespace, "namespace", "", "containerd namespace")
	fs.StringVar(&f.id, "id", "", "id of the task")
	fs.StringVar(&f.address, "address", "", "containerd's gRPC address")
	fs.StringVar(&f.publishBinary, "publish-binary", "", "containerd binary (unused: events go over ttrpc)")
	fs.StringVar(&f.bundle, "bundle", "", "bundle directory (default: the working directory)")
	fs.BoolVar(&f.debug, "debug", false, "debug logging")
	fs.BoolVar(&f.showVersion, "version", false, "print the version and exit")
	fs.BoolVar(&f.info, "info", false, "write the runtime info (protobuf RuntimeInfo, as containerd 2.x asks) to stdout and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: %s [flags] start|delete

containerd runs this shim for containers of runtime type %s;
it is not meant to be run by hand.

Flags:
`, fs.Name(), RuntimeType)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	f.action = fs.Arg(0)
	if f.bundle == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		f.bundle = wd
	}
	if f.namespace == "" {
		f.namespace = os.Getenv(envNamespace)
	}
	return f, nil
}

// Main runs the shim with args (os.Args) and returns the exit status.
func Main(args []string) int {
	f, err := parse(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.showVersion {
		fmt.Println(filepath.Base(args[0]), version.String())
		return 0
	}
	if f.info {
		// containerd writes the runtime options on stdin; the shim has
		// none of its own, so they are read and ignored.
		_, _ = io.Copy(io.Discard, io.LimitReader(os.Stdin, 1<<20))
		data, err := proto.Marshal(RuntimeInfo())
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s -info: %v\n", filepath.Base(args[0]), err)
			return 1
		}
		if _, err := os.Stdout.Write(data); err != nil {
			return 1
		}
		return 0
	}
	switch f.action {
	case "start":
		addr, err := start(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s start: %v\n", filepath.Base(args[0]), err)
			return 1
		}
		// containerd reads stdout and stderr together: nothing else.
		fmt.Print(addr)
		return 0
	case "delete":
		resp, err := deleteAction(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s delete: %v\n", filepath.Base(args[0]), err)
			return 1
		}
		data, err := proto.Marshal(resp)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := os.Stdout.Write(data); err != nil {
			return 1
		}
		return 0
	case lxcrun.HookAction:
		// LXC runs this as lxc.hook.mount (createContainer hooks) and
		// lxc.hook.pre-mount (shared bind mounts), lxcconv.Options.HookCommand.
		// LXC logs only that the hook failed; RunMountHook puts the
		// reason in LXC's log too.
		if err := lxcrun.RunMountHook(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "%s hook: %v\n", filepath.Base(args[0]), err)
			return 1
		}
		return 0
	case serveAction:
		if err := serve(f); err != nil {
			log.L.WithError(err).Error("shim server")
			return 1
		}
		return 0
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown action %q (want start or delete)\n", filepath.Base(args[0]), f.action)
		return 2
	}
}

// RuntimeInfo is what `-info` reports: the runtime's name and version
// and the OCI features it takes (containerd 2.x queries it when it
// creates a task and logs an error for a shim that cannot answer; its CRI
// derives each handler's RecursiveReadOnlyMounts and UserNamespaces from
// it). The Linux features are lxcconv's: only what converts is listed.
func RuntimeInfo() *apitypes.RuntimeInfo {
	feat := lxcconv.Features()
	feat.Hooks = []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
	feat.Annotations = map[string]string{lxcrun.AnnotationInit: lxcrun.InitExec + "|" + lxcrun.InitReaper}
	info := &apitypes.RuntimeInfo{
		Name:    RuntimeType,
		Version: &apitypes.RuntimeVersion{Version: version.Version, Revision: version.Revision},
	}
	if a, err := typeurl.MarshalAnyToProto(feat); err == nil {
		info.Features = a
	}
	return info
}

// SocketPath is where the shim of (containerd address, namespace, group)
// listens; a container's group is its own id unless GroupAnnotations
// name one.
func SocketPath(address, namespace, id string) string {
	sum := sha256.Sum256([]byte(address + "\x00" + namespace + "\x00" + id))
	return filepath.Join(SocketDir, hex.EncodeToString(sum[:]))
}

// drainStdin reads what containerd may have written to stdin (runtime
// options, BootstrapParams) so its writer never sees EPIPE; only from a
// pipe or a regular file, never from a terminal.
func drainStdin() {
	var st unix.Stat_t
	if err := unix.Fstat(0, &st); err != nil {
		return
	}
	if m := st.Mode & unix.S_IFMT; m != unix.S_IFIFO && m != unix.S_IFREG {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(os.Stdin, 1<<20))
}

// GroupAnnotations name, in the container's spec, the group whose
// containers share one shim process, first found wins (runc's shim
// groups the same way): CRI sets io.kubernetes.cri.sandbox-id on a pod's
// sandbox and on each of its containers, so a pod costs one shim;
// io.containerd.lxc.v1.group groups other containers (ctr, nerdctl).
var GroupAnnotations = []string{"io.containerd.lxc.v1.group", "io.kubernetes.cri.sandbox-id"}

// shimGroup is the group the container of bundle belongs to: a group
// annotation of its config.json, else its own id. A bundle without a
// config.json has no group; one that does not parse is refused.
func shimGroup(bundle, id string) (string, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return id, nil
	}
	if err != nil {
		return "", err
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(bundle, "config.json"), err)
	}
	for _, a := range GroupAnnotations {
		if g := spec.Annotations[a]; g != "" {
			return g, nil
		}
	}
	return id, nil
}

// start starts the server, or finds the one already serving the
// container's group (or id), and returns its address.
func start(f *flags) (string, error) {
	drainStdin()
	if f.id == "" || f.namespace == "" {
		return "", errors.New("-id and -namespace are required")
	}
	group, err := shimGroup(f.bundle, f.id)
	if err != nil {
		return "", err
	}
	sock := SocketPath(f.address, f.namespace, group)
	addr := "unix://" + sock
	l, err := listen(sock)
	if err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return "", err
		}
		// A shim already serves this group (another container of the
		// pod) or id (containerd retried), or a dead one left its
		// socket.
		if c, derr := net.DialTimeout("unix", sock, time.Second); derr == nil {
			c.Close()
			return addr, writeAddress(f.bundle, addr)
		}
		if err := os.Remove(sock); err != nil {
			return "", err
		}
		if l, err = listen(sock); err != nil {
			return "", err
		}
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the server owns the path from now on
	lf, err := ul.File()
	ul.Close()
	if err != nil {
		os.Remove(sock)
		return "", err
	}
	defer lf.Close()

	self, err := os.Executable()
	if err != nil {
		os.Remove(sock)
		return "", err
	}
	args := []string{"-namespace", f.namespace, "-id", f.id, "-address", f.address,
		"-publish-binary", f.publishBinary, "-bundle", f.bundle}
	if f.debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, append(args, serveAction)...)
	cmd.Dir = f.bundle
	cmd.Env = serveEnv(os.Environ())
	cmd.ExtraFiles = []*os.File{lf} // fd 3
	// Own process group: signals to containerd's group do not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.Remove(sock)
		return "", err
	}
	// Not waited for: it outlives this process.
	_ = cmd.Process.Release()
	if err := writeAddress(f.bundle, addr); err != nil {
		return "", err
	}
	return addr, nil
}

// serveEnv is the serving shim's environment: env with heap profiling
// off from the first allocation (GODEBUG memprofilerate=0, read before
// any package's init): its bucket table is memory every shim of a node
// would hold for nothing. A memprofilerate the caller set is kept.
func serveEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	godebug := "memprofilerate=0"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if strings.Contains(v, "memprofilerate=") {
				godebug = v
			} else if v != "" {
				godebug = v + "," + godebug
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GODEBUG="+godebug)
}

// writeAddress writes <bundle>/address atomically.
func writeAddress(bundle, addr string) error {
	tmp := filepath.Join(bundle, ".address.tmp")
	if err := os.WriteFile(tmp, []byte(addr), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(bundle, "address"))
}

// openLog opens the bundle's log fifo, which containerd reads (and copies
// to its own log). Without a reader it falls back to stderr.
func openLog(bundle string) io.Writer {
	fd, err := unix.Open(filepath.Join(bundle, "log"), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.Stderr
	}
	// Blocking writes: a log line is never dropped half-way.
	_ = unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), "log")
}

// serve is the long-running shim: the ttrpc task service on the listener
// start passed as fd 3, until Shutdown or SIGTERM.
func serve(f *flags) error {
	out := openLog(f.bundle)
	logrus.SetOutput(out)
	logrus.SetFormatter(&logrus.TextFormatter{TimestampFormat: log.RFC3339NanoFixed, FullTimestamp: true})
	if f.debug {
		logrus.SetLevel(logrus.DebugLevel)
	}
	ctx := namespaces.WithNamespace(context.Background(), f.namespace)
	ctx = log.WithLogger(ctx, log.G(ctx).WithFields(log.Fields{"runtime": RuntimeType, "id": f.id, "namespace": f.namespace}))
	// log_level of the config file containerd's environment names (or the
	// default file); a task's runtime options may name another file,
	// read at Create.
	if cfg, err := config.Load(config.Path("")); err != nil {
		log.G(ctx).WithError(err).Warn("shim config")
	} else if cfg.LogLevel != "" {
		if err := log.SetLevel(cfg.LogLevel); err != nil {
			log.G(ctx).WithError(err).Warn("shim config log_level")
		}
	}

	lf := os.NewFile(listenerFd, "listener")
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	sock := strings.TrimPrefix(l.Addr().String(), "unix://")
	defer os.Remove(sock)

	pub := task.NewPublisher(ctx, os.Getenv(envTTRPCAddress), f.namespace)
	defer pub.Close()
	done := make(chan struct{})
	svc := task.New(ctx, task.Config{Namespace: f.namespace, Publisher: pub, Shutdown: func() { close(done) }})

	debug.SetGCPercent(gcPercent)
	trim := newMemTrimmer(trimDelay, debug.FreeOSMemory)
	defer trim.stop()
	srv, err := ttrpc.NewServer(ttrpc.WithServerHandshaker(ttrpc.UnixSocketRequireSameUser()),
		ttrpc.WithUnaryServerInterceptor(trim.interceptor))
	if err != nil {
		return err
	}
	taskapi.RegisterTTRPCTaskService(srv, svc)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ctx, l) }()
	log.G(ctx).Info("shim serving")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	select {
	case <-done:
	case s := <-sigs:
		log.G(ctx).WithField("signal", s).Info("shim: signal; cleaning up")
		svc.Cleanup(ctx)
	case err := <-serveErr:
		if err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			log.G(ctx).WithError(err).Error("ttrpc server")
		}
	}
	// Let the Shutdown reply (and the last events) go out.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	pub.Close()
	log.G(ctx).Info("shim exiting")
	return nil
}

// deleteAction is `delete`: containerd cleans up after a shim that is
// gone (or a failed start). Whatever the dead shim left in the bundle is
// removed: the rootfs mount and the LXC state directory; each step is
// logged and the rest still runs, as runc's shim does. The exit status is
// init's as recorded in the state directory (by the dead shim when it
// reaped init); 128+SIGKILL (runc's answer) when none was, or when the
// container was still running and had to be killed.
func deleteAction(f *flags) (*taskapi.DeleteResponse, error) {
	ctx := namespaces.WithNamespace(context.Background(), f.namespace)
	logrus.SetOutput(os.Stderr)
	resp := &taskapi.DeleteResponse{ExitedAt: timestamppb.Now(), ExitStatus: 128 + uint32(unix.SIGKILL)}
	if st := task.CleanupBundle(ctx, f.bundle); st != nil {
		resp.ExitStatus = uint32(st.ExitCode())
	}
	return resp, nil
}
