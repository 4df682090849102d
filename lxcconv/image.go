package lxcconv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultPathEnv is the PATH given to a process whose environment has none
// (the value containerd and Docker use).
const DefaultPathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Overrides are what a user gives on top of an image config (the flags of
// `docker run`/`nerdctl run`). A nil slice means "not given".
type Overrides struct {
	// Entrypoint, when non-nil, replaces the image's entrypoint and drops
	// the image's Cmd (as Docker and containerd do); an empty non-nil
	// slice clears the entrypoint.
	Entrypoint []string
	// Args, when non-nil, replace the image's Cmd.
	Args []string
	// Env entries override image entries with the same name.
	Env []string
	// WorkingDir replaces the image's WorkingDir when non-empty.
	WorkingDir string
	// User replaces the image's User when non-empty: name, uid,
	// name:group, uid:gid or a mix.
	User string
	// Terminal asks for a pty.
	Terminal bool
}

// ProcessFromImage builds the init process from an image config and the
// user's overrides, resolving users and groups in rootfs (/etc/passwd,
// /etc/group, looked up inside the rootfs). An unknown user or group is an
// error naming it, never a silent root.
func ProcessFromImage(img ocispec.ImageConfig, ov Overrides, rootfs fs.FS) (*Process, error) {
	var args []string
	switch {
	case ov.Entrypoint != nil:
		args = append(slices.Clone(ov.Entrypoint), ov.Args...)
	case ov.Args != nil:
		args = append(slices.Clone(img.Entrypoint), ov.Args...)
	default:
		args = append(slices.Clone(img.Entrypoint), img.Cmd...)
	}
	if len(args) == 0 {
		return nil, errors.New("image config: no command: the image has no Entrypoint or Cmd and none was given")
	}
	cwd := img.WorkingDir
	if ov.WorkingDir != "" {
		cwd = ov.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("image config: WorkingDir %q is not absolute", cwd)
	}
	user := img.User
	if ov.User != "" {
		user = ov.User
	}
	u, err := ResolveUser(rootfs, user)
	if err != nil {
		return nil, err
	}
	env := MergeEnv(img.Env, ov.Env)
	if !hasEnv(env, "PATH") {
		env = append(env, DefaultPathEnv)
	}
	if !hasEnv(env, "HOME") {
		home := u.Home
		if home == "" {
			home = "/"
		}
		env = append(env, "HOME="+home)
	}
	p := &Process{
		Args:           args,
		Env:            env,
		Cwd:            path.Clean(cwd),
		UID:            u.UID,
		GID:            u.GID,
		AdditionalGids: u.AdditionalGids,
		Terminal:       ov.Terminal,
	}
	if img.StopSignal != "" {
		sig, err := ParseSignal(img.StopSignal)
		if err != nil {
			return nil, fmt.Errorf("image config: StopSignal: %w", err)
		}
		p.StopSignal = sig
	}
	return p, nil
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == name {
			return true
		}
	}
	return false
}

// MergeEnv returns base with each entry of over replacing the entry of the
// same name in place, or appended when new.
func MergeEnv(base, over []string) []string {
	out := slices.Clone(base)
	idx := map[string]int{}
	for i, e := range out {
		k, _, _ := strings.Cut(e, "=")
		idx[k] = i
	}
	for _, e := range over {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := idx[k]; ok {
			out[i] = e
			continue
		}
		idx[k] = len(out)
		out = append(out, e)
	}
	return out
}

// User is a resolved image user.
type User struct {
	Name           string
	UID, GID       uint32
	AdditionalGids []uint32
	Home           string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// maxRootFile caps what readRootFile reads (/etc/passwd, /etc/group).
const maxRootFile = 16 << 20

// readRootFile reads a file of the rootfs, following symlinks inside it.
// A missing file reads as empty. The image is not trusted: only a regular
// file of at most maxRootFile bytes is read (a FIFO there hung the reader,
// a character device such as /dev/zero ate all memory), opened without
// blocking when rootfs is a DirFS.
func readRootFile(rootfs fs.FS, name string) ([]byte, error) {
	if rootfs == nil {
		return nil, nil
	}
	rel, err := ResolveInRoot(rootfs, name)
	if err != nil {
		return nil, err
	}
	fi, err := fs.Lstat(rootfs, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := regularFile(fi); err != nil {
		return nil, err
	}
	f, err := rootfs.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := regularFile(fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRootFile+1))
	if err == nil && len(b) > maxRootFile {
		err = fmt.Errorf("larger than %d bytes", maxRootFile)
	}
	return b, err
}

func regularFile(fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	if fi.Size() > maxRootFile {
		return fmt.Errorf("%d bytes, larger than %d", fi.Size(), maxRootFile)
	}
	return nil
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

func readPasswd(rootfs fs.FS) ([]passwdEntry, error) {
	b, err := readRootFile(rootfs, "/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("reading /etc/passwd: %w", err)
	}
	var out []passwdEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, ok1 := parseID(f[2])
		gid, ok2 := parseID(f[3])
		if !ok1 || !ok2 || f[0] == "" {
			continue
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func readGroup(rootfs fs.FS) ([]groupEntry, error) {
	b, err := readRootFile(rootfs, "/etc/group")
	if err != nil {
		return nil, fmt.Errorf("reading /etc/group: %w", err)
	}
	var out []groupEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") || f[0] == "" {
			continue
		}
		gid, ok := parseID(f[2])
		if !ok {
			continue
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					g.members = append(g.members, m)
				}
			}
		}
		out = append(out, g)
	}
	return out, sc.Err()
}

// ResolveUser resolves an image user string (name, uid, name:group,
// uid:gid, …) against the rootfs' /etc/passwd and /etc/group. A numeric uid
// absent from /etc/passwd runs with gid 0, as in containerd; a name that is
// not there is an error. The empty string is root.
func ResolveUser(rootfs fs.FS, spec string) (*User, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if hasGroup && groupPart == "" {
		return nil, fmt.Errorf("image user %q: empty group", spec)
	}
	if userPart == "" {
		if hasGroup {
			return nil, fmt.Errorf("image user %q: empty user", spec)
		}
		userPart = "0"
	}
	users, err := readPasswd(rootfs)
	if err != nil {
		return nil, err
	}
	groups, err := readGroup(rootfs)
	if err != nil {
		return nil, err
	}
	u := &User{}
	if uid, ok := parseID(userPart); ok {
		u.UID = uid
		for _, e := range users {
			if e.uid == uid {
				u.Name, u.GID, u.Home = e.name, e.gid, e.home
				break
			}
		}
	} else {
		found := false
		for _, e := range users {
			if e.name == userPart {
				u.Name, u.UID, u.GID, u.Home = e.name, e.uid, e.gid, e.home
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("image user %q: no user %q in the image's /etc/passwd", spec, userPart)
		}
	}
	if hasGroup {
		if gid, ok := parseID(groupPart); ok {
			u.GID = gid
		} else {
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					u.GID = g.gid
					found = true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("image user %q: no group %q in the image's /etc/group", spec, groupPart)
			}
		}
	}
	if u.Name != "" && !hasGroup {
		// Supplementary groups, as Docker: the groups listing the user.
		// An explicit group replaces them.
		for _, g := range groups {
			if g.gid != u.GID && slices.Contains(g.members, u.Name) && !slices.Contains(u.AdditionalGids, g.gid) {
				u.AdditionalGids = append(u.AdditionalGids, g.gid)
			}
		}
	}
	return u, nil
}

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "BUS": syscall.SIGBUS,
	"CHLD": syscall.SIGCHLD, "CONT": syscall.SIGCONT, "FPE": syscall.SIGFPE,
	"HUP": syscall.SIGHUP, "ILL": syscall.SIGILL, "INT": syscall.SIGINT,
	"IO": syscall.SIGIO, "IOT": syscall.SIGIOT, "KILL": syscall.SIGKILL,
	"PIPE": syscall.SIGPIPE, "POLL": syscall.SIGIO, "PROF": syscall.SIGPROF,
	"PWR": syscall.Signal(30), "QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV,
	"STKFLT": syscall.Signal(16), "STOP": syscall.SIGSTOP, "SYS": syscall.SIGSYS,
	"TERM": syscall.SIGTERM, "TRAP": syscall.SIGTRAP, "TSTP": syscall.SIGTSTP,
	"TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU, "URG": syscall.SIGURG,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "VTALRM": syscall.SIGVTALRM,
	"WINCH": syscall.SIGWINCH, "XCPU": syscall.SIGXCPU, "XFSZ": syscall.SIGXFSZ,
}

const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal parses a Linux signal given by number, name ("SIGTERM",
// "TERM", case-insensitive) or real-time offset ("SIGRTMIN+3").
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > sigRTMax {
			return 0, fmt.Errorf("signal %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	for _, base := range []struct {
		name string
		n    int
		sign int
	}{{"RTMIN", sigRTMin, 1}, {"RTMAX", sigRTMax, -1}} {
		rest, ok := strings.CutPrefix(name, base.name)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			sep := "+"
			if base.sign < 0 {
				sep = "-"
			}
			num, ok := strings.CutPrefix(rest, sep)
			if !ok {
				break
			}
			v, err := strconv.Atoi(num)
			if err != nil || v < 0 {
				break
			}
			off = v
		}
		n := base.n + base.sign*off
		if n >= sigRTMin && n <= sigRTMax {
			return syscall.Signal(n), nil
		}
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}
