package lxcrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zfslxc/zfslxc/internal/ocihook"
	"github.com/zfslxc/zfslxc/lxcconv"
)

// mountHookFile holds lxcconv.Result.MountHook in the state directory, for
// the runtime's hook action that LXC runs as lxc.hook.mount.
const mountHookFile = "mounthook.json"

// hookLogPrefix starts the mount hook's lines in LXC's log (logTail puts
// them first).
const hookLogPrefix = "zfslxc-hook"

// HookAction is the word after the runtime binary in
// lxcconv.Options.HookCommand: containerd-shim-lxc-v1 hook (LXC adds
// "mount").
const HookAction = "hook"

// RunMountHook is the work of lxc.hook.mount (lxcconv.Options.HookCommand):
// LXC runs it in the container's mount namespace once the container's
// mounts are made and before pivot_root, with LXC_HOOK_TYPE=mount,
// LXC_CONFIG_FILE (<state dir>/lxc/<name>/config) and LXC_ROOTFS_MOUNT in
// the environment. It creates the spec's device nodes under the rootfs and
// then runs the createContainer hooks, as runc's init does at that point.
// A failure is also appended to LXC's log as an ERROR line, which is what
// the runtime quotes when the start fails (LXC itself logs only that the
// hook failed).
func RunMountHook(ctx context.Context) error {
	dir, err := mountHookDir()
	if err == nil {
		err = runMountHook(ctx, dir, os.Getenv("LXC_ROOTFS_MOUNT"))
	}
	if err != nil && dir != "" {
		logHookError(dir, err)
	}
	return err
}

// mountHookDir checks the environment LXC gives a mount hook and returns
// the state directory.
func mountHookDir() (string, error) {
	if t := os.Getenv("LXC_HOOK_TYPE"); t != "mount" {
		return "", fmt.Errorf("hook: LXC_HOOK_TYPE=%q: want \"mount\" (this action is run by LXC as lxc.hook.mount)", t)
	}
	cfg := os.Getenv("LXC_CONFIG_FILE")
	if !filepath.IsAbs(cfg) || filepath.Base(filepath.Dir(filepath.Dir(cfg))) != lxcDir {
		return "", fmt.Errorf("hook: LXC_CONFIG_FILE=%q: want <state dir>/%s/<name>/%s", cfg, lxcDir, configFile)
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(cfg))), nil
}

func runMountHook(ctx context.Context, dir, rootfs string) error {
	data, err := os.ReadFile(filepath.Join(dir, mountHookFile))
	if err != nil {
		return fmt.Errorf("mount hook: %w", err)
	}
	var mh lxcconv.MountHook
	if err := json.Unmarshal(data, &mh); err != nil {
		return fmt.Errorf("mount hook: %s: %w", mountHookFile, err)
	}
	if len(mh.Devices) > 0 {
		if !filepath.IsAbs(rootfs) {
			return fmt.Errorf("mount hook: LXC_ROOTFS_MOUNT=%q is not an absolute path", rootfs)
		}
		for _, d := range mh.Devices {
			if err := makeDevice(rootfs, d); err != nil {
				return fmt.Errorf("device %s: %w", d.Path, err)
			}
		}
	}
	if len(mh.CreateContainer) == 0 {
		return nil
	}
	st := mh.State
	st.Status = "creating"
	if st.Pid, err = hookInitPid(); err != nil {
		return fmt.Errorf("createContainer hooks: %w", err)
	}
	return ocihook.RunAll(ctx, "createContainer", mh.CreateContainer, st)
}

// hookInitPid is the pid of the container's init-to-be in the container's
// pid namespace, which runc gives createContainer hooks (its init's
// getpid()). LXC runs the hook from that process through /bin/sh -c, so it
// is the hook's parent or, past a shell, its grandparent. /proc is still
// the host's before pivot_root; NSpid's last field is the pid in the
// innermost namespace.
func hookInitPid() (int, error) {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(self)
	if err != nil {
		return 0, fmt.Errorf("/proc/self -> %q", self)
	}
	for range 2 {
		if pid, err = procStatusField(pid, "PPid"); err != nil {
			return 0, err
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		switch path.Base(exe) {
		case "sh", "dash", "bash", "busybox":
			continue
		}
		break
	}
	return procStatusField(pid, "NSpid")
}

// procStatusField reads a numeric field of /proc/<pid>/status; of a list
// (NSpid) the last number.
func procStatusField(pid int, key string) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[len(f)-1])
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, key)
}

// makeDevice creates one device node under rootfs: its parents as
// directories (0755), never through a symlink (openat2 RESOLVE_IN_ROOT |
// RESOLVE_NO_SYMLINKS), then mknod with the spec's mode, uid and gid, as
// runc does. An existing node of the same type and numbers is kept.
func makeDevice(rootfs string, d lxcconv.Device) error {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfs, err)
	}
	defer unix.Close(root)
	parent, err := mkdirInRoot(root, path.Dir(d.Path))
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return fmt.Errorf("type %q: want c, u, b or p", d.Type)
	}
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	name := path.Base(d.Path)
	dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	if err := unix.Mknodat(parent, name, typ|perm, dev); err != nil {
		if !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mknod: %w", err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != typ || (typ != unix.S_IFIFO && st.Rdev != uint64(dev)) {
			return fmt.Errorf("exists and is not that device")
		}
	}
	// mknod applied the umask; the spec's mode is the mode.
	if err := unix.Fchmodat(parent, name, perm, 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	uid, gid := -1, -1
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if uid != -1 || gid != -1 {
		if err := unix.Fchownat(parent, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	return nil
}

// mkdirInRoot opens dir (absolute, in the container's view) under root,
// creating missing components as 0755 directories, refusing symlinks.
func mkdirInRoot(root int, dir string) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Dup(root)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(strings.Trim(path.Clean(dir), "/"), "/") {
		if c == "" {
			continue
		}
		if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return -1, fmt.Errorf("mkdir %s: %w", c, err)
		}
		next, err := unix.Openat2(fd, c, &how)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("%s: %s: %w", dir, c, err)
		}
		fd = next
	}
	return fd, nil
}

// logHookError appends err to LXC's log in its line format, so the
// runtime's start error quotes it.
func logHookError(dir string, err error) {
	f, ferr := os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if ferr != nil {
		return
	}
	defer f.Close()
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(f, "%s %s ERROR mounthook - %s\n", hookLogPrefix, time.Now().UTC().Format("20060102150405.000"), msg)
}

// writeJSON writes v as JSON to a new file (0600).
func writeJSON(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(name, data, 0o600)
}
