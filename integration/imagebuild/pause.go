package imagebuild

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// PauseSource is the C source of the sandbox ("pause") program of
// PauseImage: it sleeps, reaps inherited children and exits 0 on SIGINT
// or SIGTERM, as Kubernetes' pause does.
//
//go:embed pause/pause.c
var PauseSource []byte

// PauseImageName is the name tests import the pause image under and set
// as the CRI's sandbox image (users keep registry.k8s.io/pause).
const PauseImageName = "docker.io/zfslxc/pause:test"

// BuildPause compiles PauseSource into a static binary at out with cc
// ("cc" if empty; Debian's gcc with libc6-dev).
func BuildPause(cc, out string) error {
	if cc == "" {
		cc = "cc"
	}
	dir, err := os.MkdirTemp("", "zfslxc-pause-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "pause.c")
	if err := os.WriteFile(src, PauseSource, 0o644); err != nil {
		return err
	}
	cmd := exec.Command(cc, "-static", "-O2", "-Wall", "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("compiling pause (apt-get install gcc libc6-dev): %w: %s", err, b)
	}
	return nil
}

// PauseImage is a one-layer image holding only the static pause program
// at /pause, its entrypoint, named name (PauseImageName if empty). The
// binary is compiled from PauseSource with cc ("cc" if empty).
func PauseImage(cc, name string) (*Image, error) {
	if name == "" {
		name = PauseImageName
	}
	dir, err := os.MkdirTemp("", "zfslxc-pause-bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "pause")
	if err := BuildPause(cc, bin); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	img := &Image{Name: name, Layers: []Layer{{Entries: []Entry{
		{Path: "/pause", Mode: 0o755, Content: data},
	}, Gzip: true}}}
	img.Config.Entrypoint = []string{"/pause"}
	return img, nil
}
