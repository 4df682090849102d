// Package dockerconfig writes the Docker Engine daemon.json settings that
// put Docker's images on the zfslxc snapshotter and register the LXC shim
// as a Docker runtime. `zfslxc config docker` prints them, `zfslxc doctor`
// checks an existing daemon.json against them, and the Docker integration
// tests run dockerd with them, so what users are told is what is tested.
//
// Docker Engine 29 keeps images in containerd's image store (the default
// for a data root without a graph driver's data): its storage driver is
// then the name of a containerd snapshotter, and any name dockerd does
// not know as a graph driver is taken as one ("zfs" is a graph driver's
// name, hence zfslxc). The containerd dockerd talks to must have the
// proxy snapshotter (zfslxc config containerd); containerd finds the shim
// binary for runtimeType io.containerd.lxc.v1 on its PATH.
package dockerconfig

import (
	"encoding/json"
	"fmt"

	"github.com/zfslxc/zfslxc/internal/containerdconfig"
)

// DefaultRuntimeName is the name `docker run --runtime` takes for the
// LXC shim.
const DefaultRuntimeName = "lxc"

// DefaultPath is where dockerd reads daemon.json.
const DefaultPath = "/etc/docker/daemon.json"

// Options of Settings.
type Options struct {
	// SnapshotterName is the proxy snapshotter's name in containerd
	// (default "zfslxc").
	SnapshotterName string
	// RuntimeName is the runtime's name in Docker (default "lxc").
	RuntimeName string
	// Containerd is the containerd socket, when not the default
	// (/run/containerd/containerd.sock).
	Containerd string
	// DefaultRuntime makes the LXC shim Docker's default runtime.
	DefaultRuntime bool
}

func (o *Options) defaults() {
	if o.SnapshotterName == "" {
		o.SnapshotterName = containerdconfig.DefaultSnapshotterName
	}
	if o.RuntimeName == "" {
		o.RuntimeName = DefaultRuntimeName
	}
}

// Settings returns the daemon.json keys: storage-driver (the snapshotter),
// features.containerd-snapshotter (the containerd image store, also for a
// data root that has graph-driver data), runtimes.<name>.runtimeType, and
// containerd / default-runtime when asked.
func Settings(o Options) map[string]any {
	o.defaults()
	s := map[string]any{
		"storage-driver": o.SnapshotterName,
		"features":       map[string]any{"containerd-snapshotter": true},
		"runtimes": map[string]any{
			o.RuntimeName: map[string]any{"runtimeType": containerdconfig.RuntimeType},
		},
	}
	if o.Containerd != "" {
		s["containerd"] = o.Containerd
	}
	if o.DefaultRuntime {
		s["default-runtime"] = o.RuntimeName
	}
	return s
}

// JSON returns Settings as indented JSON with a final newline.
func JSON(o Options) []byte {
	data, _ := json.MarshalIndent(Settings(o), "", "  ")
	return append(data, '\n')
}

// Check reads an existing daemon.json and returns what differs from
// Settings(o) (nil when Docker is set up for zfslxc). A file that is not
// JSON is an error.
func Check(daemonJSON []byte, o Options) ([]string, error) {
	o.defaults()
	var cfg struct {
		StorageDriver string                    `json:"storage-driver"`
		Features      map[string]bool           `json:"features"`
		Runtimes      map[string]map[string]any `json:"runtimes"`
	}
	if err := json.Unmarshal(daemonJSON, &cfg); err != nil {
		return nil, fmt.Errorf("daemon.json: %w", err)
	}
	var problems []string
	if cfg.StorageDriver != o.SnapshotterName {
		problems = append(problems, fmt.Sprintf("storage-driver is %q, want %q (images on the zfslxc snapshotter)", cfg.StorageDriver, o.SnapshotterName))
	}
	if enabled, ok := cfg.Features["containerd-snapshotter"]; ok && !enabled {
		problems = append(problems, `features.containerd-snapshotter is false: Docker uses a graph driver, not containerd's image store`)
	}
	rt, ok := cfg.Runtimes[o.RuntimeName]
	if !ok {
		problems = append(problems, fmt.Sprintf("runtimes.%s missing: docker run --runtime %s will not find the LXC shim", o.RuntimeName, o.RuntimeName))
	} else if rt["runtimeType"] != containerdconfig.RuntimeType {
		problems = append(problems, fmt.Sprintf("runtimes.%s.runtimeType is %v, want %q", o.RuntimeName, rt["runtimeType"], containerdconfig.RuntimeType))
	}
	return problems, nil
}
