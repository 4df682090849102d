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
// mounts are made and before pivot_root, with LXC_HOOK_TYPE=mount and
// LXC_CONFIG_FILE (<state dir>/lxc/<name>/config) in the environment. It
// runs the createContainer hooks, as runc's init does at that point. (The
// spec's device nodes are made by the runtime once init is ready:
// devices.go.)
// A failure is also appended to LXC's log as an ERROR line, which is what
// the runtime quotes when the start fails (LXC itself logs only that the
// hook failed).
func RunMountHook(ctx context.Context) error {
	dir, err := mountHookDir()
	if err == nil {
		err = runMountHook(ctx, dir)
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

func runMountHook(ctx context.Context, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, mountHookFile))
	if err != nil {
		return fmt.Errorf("mount hook: %w", err)
	}
	var mh lxcconv.MountHook
	if err := json.Unmarshal(data, &mh); err != nil {
		return fmt.Errorf("mount hook: %s: %w", mountHookFile, err)
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
