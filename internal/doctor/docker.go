package doctor

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/zfslxc/zfslxc/internal/dockerconfig"
)

// dockerFix is how to write Docker's settings for zfslxc.
const dockerFix = "zfslxc config docker  (merge into %s, then restart docker)"

// checkDocker checks Docker Engine's daemon.json when Docker is present
// (dockerd on PATH or a daemon.json): storage-driver zfslxc on the
// containerd image store, and the LXC shim as a runtime. Without Docker it
// reports nothing.
func checkDocker(s *state) []Result {
	const name = "docker"
	path := s.cfg.DockerConfig
	fix := strings.Replace(dockerFix, "%s", path, 1)
	data, err := s.env.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lookErr := s.env.LookPath("dockerd"); lookErr != nil {
			return nil
		}
		return []Result{warn(name, fix, "dockerd is installed but %s does not exist: Docker uses its default storage and runtime, not zfslxc", path)}
	}
	if err != nil {
		return []Result{fail(name, "", "read %s: %v", path, err)}
	}
	problems, err := dockerconfig.Check(data, dockerconfig.Options{SnapshotterName: s.cfg.SnapshotterName})
	if err != nil {
		return []Result{fail(name, fix, "%s: %v", path, err)}
	}
	if len(problems) == 0 {
		return []Result{ok(name, "%s: storage-driver %s, runtime %s (io.containerd.lxc.v1)", path, s.cfg.SnapshotterName, dockerconfig.DefaultRuntimeName)}
	}
	var res []Result
	for _, p := range problems {
		res = append(res, warn(name, fix, "%s: %s", path, p))
	}
	return res
}
