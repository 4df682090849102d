// Package doctor checks that a host can run zfslxc: ZFS (kernel or
// zfs-fuse), the pool and parent dataset, LXC, cgroups, containerd and its
// configuration, the snapshotter daemon, the shim and its helpers. Each
// check is a small function over an Env (file reads, commands, dialing), so
// tests feed it broken and good hosts without touching this one; `zfslxc
// doctor` runs them against Host().
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
	"github.com/zfslxc/zfslxc/internal/dockerconfig"
	snapconfig "github.com/zfslxc/zfslxc/snapshotter/config"
)

// Defaults of Config (containerd's paths and the snapshotter's socket are
// containerdconfig's and the snapshotter config's defaults).
const (
	DefaultContainerd = "containerd"
	DefaultTimeout    = 3 * time.Second
)

// Status of a check.
type Status string

// Statuses, from good to bad.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is the outcome of one check.
type Result struct {
	// Check names what was checked (e.g. "pool").
	Check string `json:"check"`
	// Status is ok, warn or fail.
	Status Status `json:"status"`
	// Message says what was found.
	Message string `json:"message"`
	// Fix is the command (or edit) that repairs a warn or fail.
	Fix string `json:"fix,omitempty"`
}

// Config says what to check.
type Config struct {
	// Dataset is the snapshotter's parent dataset (pool/name).
	Dataset string
	// SnapshotterRoot is the snapshotter's state directory (the fixes
	// say to mount a parent dataset at <root>/datasets).
	SnapshotterRoot string
	// SnapshotterAddress is the snapshotter daemon's unix socket.
	SnapshotterAddress string
	// SnapshotterName is the proxy plugin's name in containerd.
	SnapshotterName string
	// ContainerdConfig is containerd's config.toml.
	ContainerdConfig string
	// ContainerdAddress is containerd's gRPC socket.
	ContainerdAddress string
	// Containerd is the containerd binary (a name looked up on PATH, or a
	// path).
	Containerd string
	// DockerConfig is Docker Engine's daemon.json, checked when Docker is
	// present (default /etc/docker/daemon.json).
	DockerConfig string
	// Timeout bounds each dial and API call (default 3 s).
	Timeout time.Duration
}

func (c *Config) setDefaults() {
	if c.SnapshotterAddress == "" {
		c.SnapshotterAddress = snapconfig.DefaultAddress
	}
	if c.SnapshotterRoot == "" {
		c.SnapshotterRoot = snapconfig.DefaultRoot
	}
	if c.SnapshotterName == "" {
		c.SnapshotterName = containerdconfig.DefaultSnapshotterName
	}
	if c.ContainerdConfig == "" {
		c.ContainerdConfig = containerdconfig.DefaultContainerdConfig
	}
	if c.ContainerdAddress == "" {
		c.ContainerdAddress = containerdconfig.DefaultContainerdAddress
	}
	if c.Containerd == "" {
		c.Containerd = DefaultContainerd
	}
	if c.DockerConfig == "" {
		c.DockerConfig = dockerconfig.DefaultPath
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// Process is a running process: its pid and argv.
type Process struct {
	Pid  int
	Args []string
}

// Env is what the checks may touch. Host() is the real one; tests build
// fakes.
type Env struct {
	// ReadFile reads a file.
	ReadFile func(name string) ([]byte, error)
	// Exists reports whether a path exists.
	Exists func(name string) bool
	// Glob lists the paths matching a pattern.
	Glob func(pattern string) ([]string, error)
	// LookPath finds a binary on PATH.
	LookPath func(name string) (string, error)
	// Run runs a command and returns its stdout and stderr; err is non-nil
	// when it could not start or exited non-zero.
	Run func(ctx context.Context, name string, args ...string) (stdout, stderr []byte, err error)
	// Processes lists the running processes.
	Processes func() ([]Process, error)
	// Dial connects to a unix socket.
	Dial func(ctx context.Context, address string) (net.Conn, error)
	// ProbeSnapshotter calls the snapshots API on a socket and returns how
	// many snapshots it lists.
	ProbeSnapshotter func(ctx context.Context, address, name string) (int, error)
	// ContainerdVersion asks a running containerd its version.
	ContainerdVersion func(ctx context.Context, address string) (string, error)
	// ImageUnpacked reports whether image ref of namespace is unpacked in
	// snapshotter (NotFound when containerd has no such image).
	ImageUnpacked func(ctx context.Context, address, namespace, ref, snapshotter string) (bool, error)
}

// Report is the result of Run.
type Report struct {
	Results []Result `json:"checks"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool { return r.Count(Fail) > 0 }

// Count returns how many checks have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// Get returns the results of a check by name.
func (r Report) Get(check string) []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Check == check {
			out = append(out, res)
		}
	}
	return out
}

// WriteText writes the report as a table, each problem followed by its fix.
func (r Report) WriteText(w io.Writer) error {
	width := 0
	for _, res := range r.Results {
		width = max(width, len(res.Check))
	}
	var b strings.Builder
	for _, res := range r.Results {
		st := string(res.Status)
		if res.Status == Fail {
			st = "FAIL"
		}
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", st, width, res.Check, res.Message)
		if res.Fix != "" && res.Status != OK {
			for i, line := range strings.Split(res.Fix, "\n") {
				label := "fix:"
				if i > 0 {
					label = ""
				}
				fmt.Fprintf(&b, "%-4s  %-*s  %4s %s\n", "", width, "", label, line)
			}
		}
	}
	fmt.Fprintf(&b, "\n%d ok, %d warn, %d fail\n", r.Count(OK), r.Count(Warn), r.Count(Fail))
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as JSON, with "ok": false when a check failed.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK      bool     `json:"ok"`
		Results []Result `json:"checks"`
	}{!r.Failed(), r.Results})
}

// state is one run: the environment, the config, and what earlier checks
// found that later ones need.
type state struct {
	ctx context.Context
	env *Env
	cfg Config

	zfsWorks        bool // zfs answers: pool and dataset checks are worth running
	containerdMajor int  // of the binary; 0 = unknown
	configVersion   int  // of containerd's config; 0 = not read
	containerdDoc   map[string]any
}

// check is one check: it returns its results (none when it does not apply).
type check func(s *state) []Result

// checks in the order they run and are printed.
var checks = []check{
	checkZFS,
	checkZFSFuseXattr,
	checkPool,
	checkDataset,
	checkAutoSnapshot,
	checkLXC,
	checkLiblxc,
	checkCgroups,
	checkContainerdBinary,
	checkContainerdDaemon,
	checkContainerdConfig,
	checkUnpackConfig,
	checkCRI,
	checkSnapshotterSocket,
	checkHelpers,
	checkDocker,
}

// Run runs every check.
func Run(ctx context.Context, env *Env, cfg Config) Report {
	cfg.setDefaults()
	s := &state{ctx: ctx, env: env, cfg: cfg}
	var rep Report
	for _, c := range checks {
		rep.Results = append(rep.Results, c(s)...)
	}
	return rep
}

// run runs a command with the state's timeout.
func (s *state) run(name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 4*s.cfg.Timeout)
	defer cancel()
	out, stderr, err := s.env.Run(ctx, name, args...)
	return string(out), strings.TrimSpace(string(stderr)), err
}

func ok(c, format string, args ...any) Result {
	return Result{Check: c, Status: OK, Message: fmt.Sprintf(format, args...)}
}

func warn(c, fix, format string, args ...any) Result {
	return Result{Check: c, Status: Warn, Message: fmt.Sprintf(format, args...), Fix: fix}
}

func fail(c, fix, format string, args ...any) Result {
	return Result{Check: c, Status: Fail, Message: fmt.Sprintf(format, args...), Fix: fix}
}

// errText is the stderr of a failed command, or its error.
func errText(stderr string, err error) string {
	if stderr != "" {
		return firstLine(stderr)
	}
	return err.Error()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
