package doctor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/proxy"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/zfslxc/zfslxc/template"
)

// Host returns the Env of this machine.
func Host() *Env {
	return &Env{
		ReadFile: os.ReadFile,
		Exists: func(name string) bool {
			_, err := os.Stat(name)
			return err == nil
		},
		Glob:     filepath.Glob,
		LookPath: exec.LookPath,
		Run: func(ctx context.Context, name string, args ...string) ([]byte, []byte, error) {
			var out, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, name, args...)
			cmd.Stdout, cmd.Stderr = &out, &stderr
			err := cmd.Run()
			return out.Bytes(), stderr.Bytes(), err
		},
		Processes: func() ([]Process, error) { return Processes("/proc") },
		Dial: func(ctx context.Context, address string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", address)
		},
		ProbeSnapshotter:  ProbeSnapshotter,
		ContainerdVersion: containerdVersion,
		ImageUnpacked: func(ctx context.Context, address, namespace, ref, snapshotter string) (bool, error) {
			return template.UnpackedIn(ctx, template.ContainerdSource{Ref: ref, Address: address, Namespace: namespace, Snapshotter: snapshotter})
		},
	}
}

// Processes lists the processes of a procfs mounted at dir, with their
// argv from /proc/<pid>/cmdline (kernel threads, with an empty cmdline,
// and processes that exit meanwhile are left out).
func Processes(dir string) ([]Process, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var procs []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		var args []string
		for _, a := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
			args = append(args, string(a))
		}
		procs = append(procs, Process{Pid: pid, Args: args})
	}
	return procs, nil
}

// ProbeSnapshotter lists the snapshots of the daemon on address through
// containerd's proxy client (what containerd itself uses) and returns how
// many there are.
func ProbeSnapshotter(ctx context.Context, address, name string) (int, error) {
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), name)
	n := 0
	err = sn.Walk(ctx, func(context.Context, snapshots.Info) error {
		n++
		return nil
	})
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// containerdVersion asks containerd's version service.
func containerdVersion(ctx context.Context, address string) (string, error) {
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := versionapi.NewVersionClient(conn).Version(ctx, &emptypb.Empty{})
	if err != nil {
		return "", err
	}
	return resp.Version, nil
}
