package cri

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zfslxc/zfslxc/integration/containerdtest"
	"github.com/zfslxc/zfslxc/integration/imagebuild"
	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// CritestTestEnv set to 1 runs TestCritest (make critest): cri-tools'
// conformance suite, minutes per run, so `make test` leaves it out.
const CritestTestEnv = "ZFSLXC_TEST_CRITEST"

// CritestReportEnv names a file the per-version result tables are
// appended to (Markdown, for docs/cri.md).
const CritestReportEnv = "ZFSLXC_CRITEST_REPORT"

// knownLXCOnly are specs that pass under runc and fail under lxc, with the
// reason (docs/cri.md explains each). Any other such spec fails the test.
var knownLXCOnly = map[string]string{}

// TestCritest runs critest (every spec but the Image Manager ones, which
// need images with fixed digests on public registries) twice in the same
// containerd: with the default runc handler as the oracle and with
// -runtime-handler lxc. Its images are built here and served by a local
// registry (-registry-prefix).
func TestCritest(t *testing.T) {
	if os.Getenv(CritestTestEnv) != "1" {
		t.Skipf("%s is not 1 (make critest runs it)", CritestTestEnv)
	}
	critest := os.Getenv(containerdtest.CritestEnv)
	if _, err := os.Stat(critest); critest == "" || err != nil {
		t.Fatalf("%s=%q: %v (make deps-test builds it)", containerdtest.CritestEnv, critest, err)
	}
	reg := registrytest.Start(t, registrytest.Options{})
	pushCritestImages(t, reg)
	hosts := reg.HostsDir(t)
	for _, f := range containerdtest.Flavors() {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, containerdtest.CRIOptions{RegistryConfigPath: hosts})
			imagesFile := filepath.Join(t.TempDir(), "images.yaml")
			if err := os.WriteFile(imagesFile, []byte(fmt.Sprintf("defaultTestContainerImage: %s\nwebServerTestImage: %s\n",
				reg.Ref(critestBusybox), reg.Ref(critestWebServer))), 0o644); err != nil {
				t.Fatal(err)
			}
			results := map[string]map[string]string{} // runtime → spec → passed/failed/skipped
			for _, rt := range []string{"runc", handler} {
				results[rt] = runCritest(t, e, critest, rt, reg.Host, imagesFile)
			}
			report(t, f.Name, results)
			for spec, st := range results["runc"] {
				if st == "passed" && results[handler][spec] != "passed" {
					if why, ok := knownLXCOnly[spec]; ok {
						t.Logf("known difference: %s: %s", spec, why)
						continue
					}
					t.Errorf("passes under runc, %s under lxc: %s", results[handler][spec], spec)
				}
			}
		})
	}
}

// Images critest asks for, by path below the registry prefix.
const (
	critestBusybox   = "e2e-test-images/busybox:1.29-2"
	critestWebServer = "e2e-test-images/nginx:1.14-2"
)

func pushCritestImages(t *testing.T, reg *registrytest.Registry) {
	t.Helper()
	web := func(port int) *imagebuild.Image {
		img, err := imagebuild.BusyboxImage("web", []string{"sh", "-c",
			fmt.Sprintf("mkdir -p /www && echo '<html>zfslxc</html>' > /www/index.html && exec httpd -f -p %d -h /www", port)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	busybox, err := imagebuild.BusyboxImage("busybox", nil, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	group, err := imagebuild.BusyboxImage("group", nil, []string{"sh"})
	if err != nil {
		t.Fatal(err)
	}
	group.Layers = append(group.Layers, imagebuild.Layer{Entries: []imagebuild.Entry{
		{Path: "/etc/passwd", Mode: 0o644, Content: []byte(imagebuild.BusyboxPasswd + "default-user:x:1000:1000::/home/default-user:/bin/sh\n")},
		{Path: "/etc/group", Mode: 0o644, Content: []byte(imagebuild.BusyboxGroup + "group-defined-in-image:x:50000:default-user\n")},
	}})
	group.Config.User = "1000"
	for ref, img := range map[string]*imagebuild.Image{
		critestBusybox:   busybox,
		critestWebServer: web(80),
		"k8s-staging-cri-tools/hostnet-nginx-amd64:latest":         web(12003),
		"k8s-staging-cri-tools/test-image-predefined-group:latest": group,
	} {
		if _, err := reg.Push(t.Context(), ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
}

// runCritest runs critest with handler rt ("runc": the default) and
// returns each spec's state from its JUnit report.
func runCritest(t *testing.T, e *env, critest, rt, registry, imagesFile string) map[string]string {
	t.Helper()
	reportDir := t.TempDir()
	args := []string{
		"-runtime-endpoint", e.Endpoint, "-image-endpoint", e.Endpoint,
		"-registry-prefix", registry, "-test-images-file", imagesFile,
		"-report-dir", reportDir, "-ginkgo.skip", "Image Manager",
		"-ginkgo.timeout", "40m",
	}
	if rt != "runc" {
		args = append(args, "-runtime-handler", rt)
	}
	cmd := exec.Command(critest, args...)
	cmd.Dir = reportDir
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("critest-%s-%s-%d.log", e.Flavor.Name, rt, time.Now().Unix()))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	runErr := cmd.Run()
	logf.Close()
	t.Logf("critest %s on %s: %v in %v (log %s)", rt, e.Flavor.Name, runErr, time.Since(start).Round(time.Second), logPath)
	files, _ := filepath.Glob(filepath.Join(reportDir, "*.xml"))
	if len(files) == 0 {
		t.Fatalf("critest wrote no JUnit report: %v\n%s", runErr, tailFile(logPath, 40))
	}
	res, err := parseJUnit(files[0])
	if err != nil {
		t.Fatal(err)
	}
	// Clean what a failed spec left before the next run.
	e.Crictl(t, "rmp", "-fa")
	return res
}

type junitSuites struct {
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Cases []struct {
		Name    string    `xml:"name,attr"`
		Skipped *struct{} `xml:"skipped"`
		Failure *struct{} `xml:"failure"`
		Error   *struct{} `xml:"error"`
	} `xml:"testcase"`
}

// parseJUnit reads ginkgo's JUnit report: spec name → passed, failed or
// skipped (the suite's setup nodes left out).
func parseJUnit(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s junitSuites
	if err := xml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res := map[string]string{}
	for _, suite := range s.Suites {
		for _, c := range suite.Cases {
			if strings.HasPrefix(c.Name, "[BeforeSuite]") || strings.HasPrefix(c.Name, "[AfterSuite]") || strings.HasPrefix(c.Name, "[SynchronizedBeforeSuite]") {
				continue
			}
			switch {
			case c.Failure != nil || c.Error != nil:
				res[c.Name] = "failed"
			case c.Skipped != nil:
				res[c.Name] = "skipped"
			default:
				res[c.Name] = "passed"
			}
		}
	}
	return res, nil
}

// report logs (and appends to $ZFSLXC_CRITEST_REPORT) the counts per
// runtime and every spec whose state differs.
func report(t *testing.T, flavor string, results map[string]map[string]string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s\n\n| handler | passed | failed | skipped |\n|---|---|---|---|\n", flavor)
	for _, rt := range []string{"runc", handler} {
		n := map[string]int{}
		for _, st := range results[rt] {
			n[st]++
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", rt, n["passed"], n["failed"], n["skipped"])
	}
	var diffs []string
	for spec, st := range results["runc"] {
		if other := results[handler][spec]; other != st {
			diffs = append(diffs, fmt.Sprintf("| %s | %s | %s |", spec, st, other))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		b.WriteString("\n| spec | runc | lxc |\n|---|---|---|\n" + strings.Join(diffs, "\n") + "\n")
	}
	t.Log(b.String())
	if p := os.Getenv(CritestReportEnv); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			f.WriteString(b.String())
			f.Close()
		}
	}
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
