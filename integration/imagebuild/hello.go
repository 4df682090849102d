package imagebuild

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// defaultPath is the PATH images built here set, as Docker's images do.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BusyboxImage is busybox-static (DefaultBusyboxPath) as one layer,
// imported as name, running entrypoint+cmd with Docker's default PATH.
func BusyboxImage(name string, entrypoint, cmd []string) (*Image, error) {
	if _, err := os.Stat(DefaultBusyboxPath); err != nil {
		return nil, fmt.Errorf("busybox-static missing (apt install busybox-static): %w", err)
	}
	base, err := BusyboxLayer(DefaultBusyboxPath)
	if err != nil {
		return nil, err
	}
	img := &Image{Name: name, Layers: []Layer{base}}
	img.Config.Entrypoint = entrypoint
	img.Config.Cmd = cmd
	img.Config.Env = []string{defaultPath}
	return img, nil
}

// LayoutOnce builds an image's OCI layout tarball once per process and
// hands the same reference and path to every caller (tests and
// benchmarks share one image).
type LayoutOnce struct {
	once      sync.Once
	ref, path string
	err       error
}

// Get builds the image with build and writes it to path the first time;
// later calls return what the first one gave.
func (l *LayoutOnce) Get(path string, build func() (*Image, error)) (ref, tar string, err error) {
	l.once.Do(func() {
		img, err := build()
		if err != nil {
			l.err = err
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			l.err = err
			return
		}
		if _, err := img.WriteLayoutFile(path); err != nil {
			l.err = err
			return
		}
		l.ref, l.path = img.Ref(), path
	})
	return l.ref, l.path, l.err
}
