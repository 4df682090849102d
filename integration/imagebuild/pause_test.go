package imagebuild

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func requireCC(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skipf("no C compiler (apt-get install gcc libc6-dev): %v", err)
	}
}

// TestBuildPause: the binary is static (no ELF interpreter: an image holds
// nothing else), and exits 0 on SIGTERM as a sandbox must when the pod
// stops.
func TestBuildPause(t *testing.T) {
	requireCC(t)
	bin := filepath.Join(t.TempDir(), "pause")
	if err := BuildPause("", bin); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("pause is dynamically linked")
		}
	}
	f.Close()
	out, err := exec.Command(bin, "-v").Output()
	if err != nil || !strings.Contains(string(out), "pause") {
		t.Fatalf("pause -v = %q, %v", out, err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Until its handler is installed the signal would kill it.
		waitCaught(t, cmd.Process.Pid, sig)
		_ = cmd.Process.Signal(sig)
		werr := <-done
		var ee *exec.ExitError
		if werr != nil && !errors.As(werr, &ee) {
			t.Fatal(werr)
		}
		if werr != nil {
			t.Errorf("pause after %v: %v, want exit 0", sig, werr)
		}
	}
}

func TestPauseImage(t *testing.T) {
	requireCC(t)
	img, err := PauseImage("", "")
	if err != nil {
		t.Fatal(err)
	}
	if img.Ref() != PauseImageName || len(img.Config.Entrypoint) != 1 || img.Config.Entrypoint[0] != "/pause" {
		t.Fatalf("image %s entrypoint %v", img.Ref(), img.Config.Entrypoint)
	}
	_, rl := writeAndRead(t, img)
	hdrs, _ := tarHeaders(t, rl.layers[0])
	if h, ok := hdrs["pause"]; !ok || h.Mode&0o111 == 0 {
		t.Errorf("layer lacks an executable /pause: %v", hdrs)
	}
}

// waitCaught waits until process pid catches sig (SigCgt in its status).
func waitCaught(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	for i := 0; i < 500; i++ {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
				mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err == nil && mask&(1<<(uint(sig)-1)) != 0 {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never caught signal %v", pid, sig)
}
