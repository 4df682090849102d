package containerdtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envProbe makes a test binary run probeMain instead of its tests.
const envProbe = "ZFSLXC_TEST_PROBE"

// Nobody is the unprivileged user ProbeAs usually runs as.
const Nobody = 65534

// ProbeResult is what an unprivileged process could do with one path:
// "" when it could (connect to a socket, list a directory, read a file),
// else the error.
type ProbeResult map[string]string

// ProbeAs runs this test binary again as uid:gid (no supplementary
// groups) and tries each path: a socket is connected to, a directory
// listed, anything else opened and read. It returns the outcome per path.
// The binary is copied to a directory every user can execute from. The
// package's TestMain must call RunProbe first.
func ProbeAs(t testing.TB, uid, gid uint32, paths ...string) ProbeResult {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "zfslxc-probe-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "probe")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, paths...)
	cmd.Dir = "/"
	cmd.Env = []string{envProbe + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe as %d:%d: %v: %s", uid, gid, err, stderrOf(err))
	}
	res := ProbeResult{}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("probe output %q: %v", out, err)
	}
	return res
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// RunProbe is for TestMain: in a binary ProbeAs started, it probes the
// paths in os.Args, prints the ProbeResult as JSON and exits.
func RunProbe() {
	if os.Getenv(envProbe) == "" {
		return
	}
	res := ProbeResult{}
	for _, p := range os.Args[1:] {
		res[p] = ""
		if err := probe(p); err != nil {
			res[p] = err.Error()
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

func probe(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSocket != 0:
		c, err := net.DialTimeout("unix", p, 5*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	case fi.IsDir():
		_, err := os.ReadDir(p)
		return err
	default:
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Read(make([]byte, 1))
		if err == io.EOF {
			err = nil
		}
		return err
	}
}
