package lxcrun

import (
	"context"
	"encoding/json"
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

// RunMountHook is the work of the hooks LXC runs as HookCommand
// (lxcconv.Options.HookCommand), in the container's mount namespace, with
// LXC_HOOK_TYPE and LXC_CONFIG_FILE (<state dir>/lxc/<name>/config) in the
// environment:
//   - lxc.hook.pre-mount, before the rootfs and the mount entries: it
//     attaches the clones of the shared bind mounts' sources (inherited
//     from fdFirstShared on) at their staging points (stageSharedMounts);
//   - lxc.hook.mount, once the container's mounts are made and before
//     pivot_root: it runs the createContainer hooks, as runc's init does at
//     that point. (The spec's device nodes are made by the runtime once
//     init is ready: devices.go.)
//
// A failure is also appended to LXC's log as an ERROR line, which is what
// the runtime quotes when the start fails (LXC itself logs only that the
// hook failed).
func RunMountHook(ctx context.Context) error {
	dir, typ, err := mountHookDir()
	if err == nil {
		if typ == "pre-mount" {
			err = runPreMountHook(dir)
		} else {
			err = runMountHook(ctx, dir)
		}
	}
	if err != nil && dir != "" {
		logHookError(dir, err)
	}
	return err
}

// mountHookDir checks the environment LXC gives a hook and returns the
// state directory and the hook type.
func mountHookDir() (dir, typ string, err error) {
	typ = os.Getenv("LXC_HOOK_TYPE")
	if typ != "mount" && typ != "pre-mount" {
		return "", "", fmt.Errorf("hook: LXC_HOOK_TYPE=%q: want \"mount\" or \"pre-mount\" (this action is run by LXC as lxc.hook.mount and lxc.hook.pre-mount)", typ)
	}
	cfg := os.Getenv("LXC_CONFIG_FILE")
	if !filepath.IsAbs(cfg) || filepath.Base(filepath.Dir(filepath.Dir(cfg))) != lxcDir {
		return "", "", fmt.Errorf("hook: LXC_CONFIG_FILE=%q: want <state dir>/%s/<name>/%s", cfg, lxcDir, configFile)
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(cfg))), typ, nil
}

func readMountHook(dir string) (lxcconv.MountHook, error) {
	var mh lxcconv.MountHook
	data, err := os.ReadFile(filepath.Join(dir, mountHookFile))
	if err != nil {
		return mh, fmt.Errorf("mount hook: %w", err)
	}
	if err := json.Unmarshal(data, &mh); err != nil {
		return mh, fmt.Errorf("mount hook: %s: %w", mountHookFile, err)
	}
	return mh, nil
}

// runMountHook runs the createContainer hooks.
func runMountHook(ctx context.Context, dir string) error {
	mh, err := readMountHook(dir)
	if err != nil || len(mh.CreateContainer) == 0 {
		return err
	}
	st := mh.State
	st.Status = "creating"
	if st.Pid, err = hookInitPid(); err != nil {
		return fmt.Errorf("createContainer hooks: %w", err)
	}
	return ocihook.RunAll(ctx, "createContainer", mh.CreateContainer, st)
}

// runPreMountHook stages the shared bind mounts.
func runPreMountHook(dir string) error {
	mh, err := readMountHook(dir)
	if err != nil {
		return err
	}
	return stageSharedMounts(mh.SharedMounts)
}

// stageSharedMounts attaches each inherited clone (fdFirstShared + i, a
// detached mount tree made by cloneSharedMounts in the host's mount
// namespace, still a peer of the host's mount) at its staging point. LXC
// has demoted the namespace's own copies of shared mounts to slaves by now
// and binds the mount entries from the staging points next. The clone
// must be of the source: a descriptor that is anything else fails the
// start.
func stageSharedMounts(shared []lxcconv.SharedMount) error {
	for i, sm := range shared {
		fd := fdFirstShared + i
		var got, want unix.Stat_t
		if err := unix.Fstat(fd, &got); err != nil {
			return fmt.Errorf("%s: the clone of %s (descriptor %d): %w", sm.Field, sm.Source, fd, err)
		}
		if err := unix.Stat(sm.Source, &want); err != nil {
			return fmt.Errorf("%s: %w", sm.Field, err)
		}
		if got.Dev != want.Dev || got.Ino != want.Ino {
			return fmt.Errorf("%s: descriptor %d is not the clone of %s", sm.Field, fd, sm.Source)
		}
		if err := unix.MoveMount(fd, "", unix.AT_FDCWD, sm.Staging, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("%s: attaching the clone of %s at %s: %w", sm.Field, sm.Source, sm.Staging, err)
		}
	}
	return nil
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
