// Package standalone makes standalone LXC containers from zfslxc
// templates: containers that LXC itself runs (`lxc-start -n NAME`,
// `lxc-attach`, `lxc-stop`, `lxc-destroy` work as for any container), with
// no containerd and no shim. The rootfs is a `zfs clone` of
// <template>@template named <parent>/ct-<name>; the configuration is made
// the way the shim makes its own: the image's process
// (lxcconv.ProcessFromImage) in containerd's default spec (made by
// containerd's pkg/oci, as for ctr run) with containerd's default seccomp profile, through
// lxcconv.Convert, and what the shim's runtime would do after LXC's setup
// folded into LXC keys (lxcconv.Result.Standalone).
//
// On the host, <lxcpath>/<name>/ holds:
//
//	config          the LXC configuration
//	seccomp.policy  the seccomp profile (lxc.seccomp.profile)
//	zfslxc.json     what zfslxc needs to remove the container (Record)
//	init/           bind-mounted read-only at /.zfslxc in the container:
//	  zfslxc-init     a copy of the static helper (the container keeps
//	                  working when the host's binary is upgraded)
//	  process.json    the process (lxcconv.Process): argv, env, cwd, user
//
// lxc.init.cmd is "/.zfslxc/zfslxc-init /.zfslxc/process.json": a fixed,
// blank-free line; argv and env never go through LXC config (LXC 5.0
// splits lxc.init.cmd on blanks). There is no start fifo: zfslxc-init
// execs the process at once.
package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zfslxc/zfslxc/lxcconv"
	"github.com/zfslxc/zfslxc/lxcrun"
	"github.com/zfslxc/zfslxc/template"
	"github.com/zfslxc/zfslxc/zfsdriver"
)

// DefaultLXCPath is LXC's default lxcpath.
const DefaultLXCPath = "/var/lib/lxc"

// Paths inside the container and under <lxcpath>/<name>.
const (
	InitDir       = "/.zfslxc"
	InitPath      = InitDir + "/zfslxc-init"
	ProcessPath   = InitDir + "/process.json"
	hostInitDir   = "init"
	recordFile    = "zfslxc.json"
	configFile    = "config"
	seccompFile   = "seccomp.policy"
	initBinary    = "zfslxc-init"
	processFile   = "process.json"
	PropContainer = "io.zfslxc:container"
)

// Record is <lxcpath>/<name>/zfslxc.json.
type Record struct {
	Name     string `json:"name"`
	Dataset  string `json:"dataset"`
	Template string `json:"template"`
	Origin   string `json:"origin"`
}

// Manager creates and removes containers of one template store in one
// lxcpath.
type Manager struct {
	zfs       *zfsdriver.Driver
	templates *template.Store
	lxcPath   string
	initBin   string
}

// NewManager returns a manager. initBinary is the host's static
// zfslxc-init, copied into each container's init directory.
func NewManager(templates *template.Store, lxcPath, initBinary string) (*Manager, error) {
	if lxcPath == "" {
		lxcPath = DefaultLXCPath
	}
	abs, err := filepath.Abs(lxcPath)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(abs, " \t\n\\") {
		return nil, fmt.Errorf("lxcpath %q: blanks and backslashes cannot pass through lxc.mount.entry: %w", abs, errdefs.ErrInvalidArgument)
	}
	return &Manager{zfs: templates.Driver(), templates: templates, lxcPath: abs, initBin: initBinary}, nil
}

// LXCPath returns the lxcpath.
func (m *Manager) LXCPath() string { return m.lxcPath }

// Dataset returns the clone of container name.
func (m *Manager) Dataset(name string) string {
	return m.templates.Parent() + "/" + template.ContainerPrefix + name
}

// Dir returns <lxcpath>/<name>.
func (m *Manager) Dir(name string) string { return filepath.Join(m.lxcPath, name) }

// CreateOptions are what `zfslxc lxc create` takes besides the name.
type CreateOptions struct {
	Template  string
	Overrides lxcconv.Overrides
	// Reaper keeps zfslxc-init as PID 1 (reaping, forwarding signals).
	Reaper bool
}

// Container is a created container.
type Container struct {
	Record
	Dir        string           `json:"dir"`
	Rootfs     string           `json:"rootfs"`
	Process    *lxcconv.Process `json:"process"`
	ConfigPath string           `json:"config"`
	// Warnings are what lxcconv applied only in part (as for the shim).
	Warnings []lxcconv.Warning `json:"warnings,omitempty"`
}

// Create makes container name. On failure nothing is left behind.
func (m *Manager) Create(ctx context.Context, name string, opts CreateOptions) (_ *Container, retErr error) {
	if err := template.ValidateName(name); err != nil {
		return nil, err
	}
	if len(name) > maxUTSName {
		return nil, fmt.Errorf("container name %q: %d bytes; it is the container's lxc.uts.name, which LXC takes up to %d: %w",
			name, len(name), maxUTSName, errdefs.ErrInvalidArgument)
	}
	dir := m.Dir(name)
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("container %s: %s exists: %w", name, dir, errdefs.ErrAlreadyExists)
	}
	t, err := m.templates.Get(ctx, opts.Template)
	if err != nil {
		return nil, err
	}
	ds := m.Dataset(name)
	props := map[string]string{PropContainer: name, "com.sun:auto-snapshot": "false"}
	if err := m.zfs.Clone(ctx, t.Snapshot, ds, zfsdriver.CloneOptions{Properties: props}); err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(dir)
			_ = m.zfs.Destroy(context.WithoutCancel(ctx), ds, zfsdriver.DestroyOptions{Recursive: true, Force: true})
		}
	}()
	rootfs, err := m.zfs.GetProperty(ctx, ds, "mountpoint")
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(rootfs, "\n\r") {
		return nil, fmt.Errorf("clone mountpoint %q: %w", rootfs, errdefs.ErrInvalidArgument)
	}
	if err := makeInitMountpoint(rootfs); err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	p, err := lxcconv.ProcessFromImage(t.Config, opts.Overrides, lxcconv.DirFS(rootfs))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	// The init directory exists before the conversion, which stats bind
	// sources.
	if err := os.MkdirAll(filepath.Join(dir, hostInitDir), 0o755); err != nil {
		return nil, err
	}
	cgv, err := lxcrun.CgroupVersion()
	if err != nil {
		return nil, err
	}
	res, err := m.convert(name, rootfs, p, opts.Reaper, cgv)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	// The mount points on the clone are made now, once, never through a
	// symlink; LXC mounts onto them at every start.
	if err := lxcrun.CreateMountTargets(res.MountTargets); err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	rec := Record{Name: name, Dataset: ds, Template: t.Name, Origin: t.Snapshot}
	if err := m.writeFiles(dir, res, rec); err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	return &Container{Record: rec, Dir: dir, Rootfs: rootfs, Process: res.Process, ConfigPath: filepath.Join(dir, configFile), Warnings: res.Warnings}, nil
}

// maxUTSName is the longest lxc.uts.name LXC accepts (HOST_NAME_MAX).
const maxUTSName = 64

// makeInitMountpoint makes InitDir in the clone, where the init directory
// is bind-mounted. What the image has there must be a directory: a
// symlink is refused, never followed.
func makeInitMountpoint(rootfs string) error {
	p := filepath.Join(rootfs, InitDir)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// mkdir(2) does not follow a symlink in the last component.
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("making %s in the rootfs: %w", InitDir, err)
		}
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("the image has %s (%v): the path is reserved for zfslxc-init: %w", InitDir, fi.Mode().Type(), errdefs.ErrInvalidArgument)
	}
	return nil
}

// convert makes the container's configuration through lxcconv, as the
// shim makes a task's: containerd's default spec with the image's process
// p, the init directory bound read-only at InitDir, containerd's default
// seccomp profile (as nerdctl and Docker add), the AppArmor profile the
// shim uses by default (unconfined: Debian's LXC has no default profile
// loaded), then folded for a container no runtime tends (Standalone).
func (m *Manager) convert(name, rootfs string, p *lxcconv.Process, reaper bool, cgroupVersion int) (*lxcconv.Result, error) {
	if strings.ContainsAny(rootfs, " \t") {
		return nil, fmt.Errorf("rootfs %q: blanks: %w", rootfs, errdefs.ErrInvalidArgument)
	}
	spec, err := imageSpec(name, p)
	if err != nil {
		return nil, err
	}
	spec.Root = &specs.Root{Path: rootfs}
	spec.Mounts = append(spec.Mounts, specs.Mount{
		Destination: InitDir, Type: "bind", Source: filepath.Join(m.Dir(name), hostInitDir),
		Options: []string{"rbind", "ro", "nosuid", "nodev"},
	})
	spec.Linux.Seccomp = seccomp.DefaultProfile(spec)
	args := []string{ProcessPath}
	if reaper {
		args = []string{"--reaper", ProcessPath}
	}
	res, err := lxcconv.Convert(spec, lxcconv.Options{
		ContainerName:          name,
		RootfsPath:             rootfs,
		RootFS:                 lxcconv.DirFS(rootfs),
		HostFS:                 os.DirFS("/"),
		InitPath:               InitPath,
		InitArgs:               args,
		CgroupVersion:          cgroupVersion,
		SeccompProfilePath:     filepath.Join(m.Dir(name), seccompFile),
		DefaultAppArmorProfile: "unconfined",
	})
	if err != nil {
		return nil, err
	}
	if err := res.Standalone(); err != nil {
		return nil, err
	}
	// lxcconv's lxc.rootfs.managed = 0 keeps lxc-destroy off the clone's
	// files; `zfslxc lxc rm` destroys the clone.
	return res, nil
}

func (m *Manager) writeFiles(dir string, res *lxcconv.Result, rec Record) error {
	cfg, p := res.Config, res.Process
	initDir := filepath.Join(dir, hostInitDir)
	if err := os.MkdirAll(initDir, 0o755); err != nil {
		return err
	}
	if err := copyFile(m.initBin, filepath.Join(initDir, initBinary), 0o755); err != nil {
		return fmt.Errorf("copying %s: %w", m.initBin, err)
	}
	pdata, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	// Readable by root only: env may hold secrets. zfslxc-init reads it
	// as root, before it changes user.
	if err := os.WriteFile(filepath.Join(initDir, processFile), pdata, 0o600); err != nil {
		return err
	}
	if res.SeccompProfile != "" {
		if err := os.WriteFile(filepath.Join(dir, seccompFile), []byte(res.SeccompProfile), 0o644); err != nil {
			return err
		}
	}
	rdata, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, recordFile), rdata, 0o644); err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by zfslxc lxc create: rootfs is a clone of %s.\n", rec.Origin)
	if _, err := cfg.WriteTo(&b); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, configFile), b.Bytes(), 0o644)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// record reads <lxcpath>/<name>/zfslxc.json; without it (a half-removed
// container) the dataset is derived from the name.
func (m *Manager) record(name string) (Record, bool, error) {
	data, err := os.ReadFile(filepath.Join(m.Dir(name), recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{Name: name, Dataset: m.Dataset(name)}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, false, fmt.Errorf("%s: %w", recordFile, err)
	}
	if r.Dataset == "" {
		r.Dataset = m.Dataset(name)
	}
	return r, true, nil
}

// State returns LXC's state of the container ("RUNNING", "STOPPED", …).
func (m *Manager) State(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "lxc-info", "-n", name, "-P", m.lxcPath, "-s", "-H").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("lxc-info %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// Remove stops the container if it runs (lxc-stop -k), destroys its clone
// (with its snapshots) and removes <lxcpath>/<name>. Parts already gone are
// fine. It returns what it removed.
func (m *Manager) Remove(ctx context.Context, name string) ([]string, error) {
	if err := template.ValidateName(name); err != nil {
		return nil, err
	}
	rec, found, err := m.record(name)
	if err != nil {
		return nil, err
	}
	dir := m.Dir(name)
	_, dirErr := os.Stat(filepath.Join(dir, configFile))
	var removed []string
	if dirErr == nil {
		if st, err := m.State(ctx, name); err == nil && st != "STOPPED" {
			if out, err := exec.CommandContext(ctx, "lxc-stop", "-k", "-n", name, "-P", m.lxcPath).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("lxc-stop %s: %v: %s", name, err, bytes.TrimSpace(out))
			}
			removed = append(removed, "stopped "+name)
		}
	}
	exists, err := m.zfs.Exists(ctx, rec.Dataset)
	if err != nil {
		return removed, err
	}
	if exists {
		props, err := m.zfs.Get(ctx, rec.Dataset, PropContainer)
		if err != nil {
			return removed, err
		}
		if props[PropContainer].Value != name {
			return removed, fmt.Errorf("dataset %s is not the clone of container %s (%s=%q): %w",
				rec.Dataset, name, PropContainer, props[PropContainer].Value, errdefs.ErrFailedPrecondition)
		}
		if err := m.zfs.Destroy(ctx, rec.Dataset, zfsdriver.DestroyOptions{Recursive: true, Force: true}); err != nil && !zfsdriver.IsNotFound(err) {
			return removed, err
		}
		removed = append(removed, rec.Dataset)
	}
	if _, err := os.Lstat(dir); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return removed, err
		}
		removed = append(removed, dir)
	}
	if !found && !exists && len(removed) == 0 {
		return nil, fmt.Errorf("container %s: %w", name, errdefs.ErrNotFound)
	}
	return removed, nil
}

// Snapshot takes snapshot snap of the container's clone.
func (m *Manager) Snapshot(ctx context.Context, name, snap string) (string, error) {
	rec, err := m.existing(name)
	if err != nil {
		return "", err
	}
	full := rec.Dataset + "@" + snap
	if err := zfsdriver.ValidateSnapshot(full); err != nil {
		return "", fmt.Errorf("snapshot name %q of container %s: %v: %w", snap, name, err, errdefs.ErrInvalidArgument)
	}
	return full, m.zfs.Snapshot(ctx, []string{full}, zfsdriver.SnapshotOptions{})
}

// Rollback rolls the container's clone back to snapshot snap; refused
// while the container runs. destroyNewer allows rolling back past later
// snapshots (zfs rollback -r), destroying them.
func (m *Manager) Rollback(ctx context.Context, name, snap string, destroyNewer bool) (string, error) {
	rec, err := m.existing(name)
	if err != nil {
		return "", err
	}
	if st, err := m.State(ctx, name); err == nil && st != "STOPPED" {
		return "", fmt.Errorf("container %s is %s: stop it first: %w", name, st, errdefs.ErrFailedPrecondition)
	}
	full := rec.Dataset + "@" + snap
	if err := zfsdriver.ValidateSnapshot(full); err != nil {
		return "", fmt.Errorf("snapshot name %q of container %s: %v: %w", snap, name, err, errdefs.ErrInvalidArgument)
	}
	return full, m.zfs.Rollback(ctx, full, zfsdriver.RollbackOptions{DestroyLater: destroyNewer})
}

func (m *Manager) existing(name string) (Record, error) {
	if err := template.ValidateName(name); err != nil {
		return Record{}, err
	}
	rec, found, err := m.record(name)
	if err != nil {
		return Record{}, err
	}
	if !found {
		return Record{}, fmt.Errorf("container %s: no %s in %s: %w", name, recordFile, m.Dir(name), errdefs.ErrNotFound)
	}
	return rec, nil
}

// Listed is a container found under the lxcpath.
type Listed struct {
	Record
	// State is LXC's state ("RUNNING", "STOPPED"), or the error lxc-info
	// gave.
	State string `json:"state"`
	// Used is what the container's clone takes beyond its template
	// (zfs used); 0 when the clone is gone.
	Used uint64 `json:"used"`
}

// List returns the containers zfslxc made under the lxcpath (those with a
// record file), by name.
func (m *Manager) List(ctx context.Context) ([]Listed, error) {
	ents, err := os.ReadDir(m.lxcPath)
	if errors.Is(err, fs.ErrNotExist) {
		return []Listed{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []Listed{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(m.lxcPath, e.Name(), recordFile)); err != nil {
			continue
		}
		rec, _, err := m.record(e.Name())
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", e.Name(), err)
		}
		l := Listed{Record: rec}
		if l.State, err = m.State(ctx, e.Name()); err != nil {
			l.State = err.Error()
		}
		if u, err := m.zfs.Usage(ctx, rec.Dataset); err == nil {
			l.Used = u.Used
		}
		out = append(out, l)
	}
	return out, nil
}
