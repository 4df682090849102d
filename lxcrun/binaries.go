package lxcrun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/errdefs"
)

// Names of the helper binaries.
const (
	InitBinary    = "zfslxc-init"
	StarterBinary = "zfslxc-start"
)

// EnvBinDir names a directory that holds the helper binaries. It wins over
// every other place, so tests (and `make test`, which sets it to bin/) run
// the binaries just built rather than older ones on PATH.
const EnvBinDir = "ZFSLXC_BIN_DIR"

// FindBinary returns the path of a helper binary: in dir when dir is not
// empty; else in $ZFSLXC_BIN_DIR when set; else next to the running
// executable (the shim and the zfslxc CLI are installed beside them); else
// on PATH. A binary missing from an explicitly named directory is an error,
// not a reason to look elsewhere.
func FindBinary(dir, name string) (string, error) {
	if dir == "" {
		dir = os.Getenv(EnvBinDir)
	}
	if dir != "" {
		p := filepath.Join(dir, name)
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found next to the executable, on PATH or in $%s: %w", name, EnvBinDir, errdefs.ErrNotFound)
	}
	return filepath.Abs(p)
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
		}
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file: %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}
