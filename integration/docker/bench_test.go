package docker_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/dockertest"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

const (
	// dockerRunsEnv: docker run --rm per variant (default 10).
	dockerRunsEnv = "DOCKER_RUNS"
	// benchReportEnv names a file the benchmark appends its markdown
	// table to (docs/benchmarks.md's registry section).
	benchReportEnv = "ZFSLXC_REGISTRYBENCH_REPORT"
)

// BenchmarkDockerRun times `docker run --rm --network none` of the hello
// image (printf ENTRYPOINT) in three variants, interleaved (the order
// rotates every round): lxc on zfslxc and runc on zfslxc in the dockerd
// of the tests, and runc on overlayfs in a second dockerd on the same
// containerd (a dockerd has one storage driver; this one has no bridge
// and no iptables, so the two do not meet), both without time namespaces.
// Medians and ratios to runc+overlayfs, Docker's default.
func BenchmarkDockerRun(b *testing.B) {
	runs := 10
	if v := os.Getenv(dockerRunsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number", dockerRunsEnv, v)
		}
		runs = n
	}
	reg := registrytest.Start(b, registrytest.Options{})
	argv, _ := pushTestImages(b, reg)
	// No time namespaces in either daemon: Debian's runc 1.1.5 refuses
	// the one Docker 29 asks for (docs/docker.md), and all three variants
	// must run the same spec.
	features := map[string]any{"containerd-snapshotter": true, "time-namespaces": false}
	e := setupWith(b, map[string]any{"features": features}, reg.Host)
	ovl := dockertest.Start(b, dockertest.Options{Containerd: e.d.Address, PathPrefix: e.pathPrefix, Config: map[string]any{
		"storage-driver": "overlayfs", "features": features,
		"containerd-namespace": "moby-ovl", "containerd-plugins-namespace": "plugins.moby-ovl",
		"bridge": "none", "iptables": false, "ip6tables": false, "insecure-registries": []string{reg.Host},
	}})
	e.docker.Must(b, "pull", argv)
	ovl.Must(b, "pull", argv)
	type variant struct {
		name string
		d    *dockertest.Daemon
		rt   string
	}
	variants := []variant{{"lxc + zfslxc", e.docker, "lxc"}, {"runc + zfslxc", e.docker, "runc"}, {"runc + overlayfs", ovl, "runc"}}
	times := map[string][]float64{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for r := 0; r < runs; r++ {
		for i := range variants {
			v := variants[(i+r)%len(variants)]
			start := time.Now()
			out, stderr, code, err := v.d.DockerContext(ctx, "", "run", "--rm", "--network", "none", "--runtime", v.rt, argv)
			if err != nil || code != 0 || out != "[a  b]\n[c]\n" {
				b.Fatalf("%s: exit %d, %v, stdout %q, stderr %q", v.name, code, err, out, stderr)
			}
			times[v.name] = append(times[v.name], time.Since(start).Seconds())
		}
	}
	base := containerdtest.Median(times["runc + overlayfs"])
	report := fmt.Sprintf("\n#### `docker run --rm --network none` of the hello image, median of %d interleaved runs each\n\n| variant | median | ÷ runc + overlayfs |\n|---|---|---|\n", runs)
	for _, v := range variants {
		m := containerdtest.Median(times[v.name])
		report += fmt.Sprintf("| %s | %.3f s | %.2f× |\n", v.name, m, m/base)
	}
	b.Log(report)
	if out := os.Getenv(benchReportEnv); out != "" {
		f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		f.WriteString(report)
	}
}
