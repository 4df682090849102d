package cri

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// None since the shim stages rro mounts (the 4 recursive read-only specs,
// skipped under lxc before because -info listed no rro, pass on 2.4).
var knownLXCOnly = map[string]string{}

// TestCritest runs critest (every spec but the Image Manager ones, which
// need images with fixed digests on public registries) twice in the same
// containerd: with the default runc handler as the oracle and with
// -runtime-handler lxc. Its images are built here and served by a local
// registry, the mirror of the registries critest names.
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
	hosts := mirrorHostsDir(t, reg, critestRegistries...)
	// Newest containerd first: a run stopped half-way has its table.
	flavors := containerdtest.Flavors()
	slices.Reverse(flavors)
	for _, f := range flavors {
		t.Run(f.Name, func(t *testing.T) {
			e := setup(t, f, containerdtest.CRIOptions{RegistryConfigPath: hosts})
			results := map[string]map[string]specResult{} // runtime → spec → result
			for _, rt := range []string{"runc", handler} {
				results[rt] = runCritest(t, e, critest, rt)
			}
			report(t, f.Name, results)
			for spec, r := range results["runc"] {
				if r.State == "failed" && strings.Contains(r.Message, "failed to pull image") {
					t.Errorf("harness: an image critest needs is missing: %s: %s", spec, r.Message)
				}
			}
			for spec, r := range results["runc"] {
				if r.State == "passed" && results[handler][spec].State != "passed" {
					if why, ok := knownLXCOnly[spec]; ok {
						t.Logf("known difference: %s: %s", spec, why)
						continue
					}
					t.Errorf("passes under runc, %s under lxc: %s: %s", results[handler][spec].State, spec, results[handler][spec].Message)
				}
			}
		})
	}
}

// critestRegistries are the registries critest's images come from; the
// local registry serves as their mirror (containerd's hosts directory),
// so critest runs with its default image names. (-registry-prefix does
// not work for this: critest v1.34.0 pulls an image under the prefix by
// its path alone, dropping the tag, then creates containers under the
// tagged name, which is not there.)
var critestRegistries = []string{"registry.k8s.io", "gcr.io"}

// mirrorHostsDir writes a containerd hosts directory in which reg is the
// mirror of each of registries, and returns it.
func mirrorHostsDir(t *testing.T, reg *registrytest.Registry, registries ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range registries {
		toml := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "https://"+name, reg.URL())
		if reg.CAFile != "" {
			toml += fmt.Sprintf("  ca = %q\n", reg.CAFile)
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "hosts.toml"), []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pushCritestImages builds the images critest uses and pushes them under
// their paths on registry.k8s.io and gcr.io, by tag and as :latest. The
// nginx and nonewprivs programs are small static stand-ins
// (testdata/nginx.c, testdata/nnp.c) doing what critest checks of them.
func pushCritestImages(t *testing.T, reg *registrytest.Registry) {
	t.Helper()
	applets := allApplets(t)
	busyboxWith := func(name string, entries []imagebuild.Entry, entrypoint, cmd []string) *imagebuild.Image {
		img, err := imagebuild.BusyboxImage(name, entrypoint, cmd)
		if err != nil {
			t.Fatal(err)
		}
		img.Layers = append(img.Layers, applets)
		if len(entries) > 0 {
			img.Layers = append(img.Layers, imagebuild.Layer{Entries: entries})
		}
		return img
	}
	index := imagebuild.Entry{Path: "/www/index.html", Mode: 0o644, Content: []byte("<html>zfslxc</html>\n")}
	httpd := func(port int, banner string) *imagebuild.Image {
		return busyboxWith("web", []imagebuild.Entry{index}, []string{"sh", "-c",
			fmt.Sprintf("echo '%s: serving /www on port %d' && exec httpd -f -p %d -h /www", banner, port, port)}, nil)
	}
	group := busyboxWith("group", []imagebuild.Entry{
		{Path: "/etc/passwd", Mode: 0o644, Content: []byte(imagebuild.BusyboxPasswd + "default-user:x:1000:1000::/home/default-user:/bin/sh\n")},
		{Path: "/etc/group", Mode: 0o644, Content: []byte(imagebuild.BusyboxGroup + "group-defined-in-image:x:50000:default-user\n")},
	}, nil, []string{"sh"})
	group.Config.User = "1000"
	nginx := busyboxWith("nginx", []imagebuild.Entry{index,
		{Path: "/usr/sbin/nginx", Mode: 0o755, Content: staticProgram(t, "testdata/nginx.c")},
	}, []string{"/usr/sbin/nginx"}, nil)
	nnp := busyboxWith("nonewprivs", []imagebuild.Entry{
		{Path: "/usr/local/bin/nnp", Mode: 0o4755, Content: staticProgram(t, "testdata/nnp.c")},
	}, []string{"/usr/local/bin/nnp"}, nil)
	images := map[string]*imagebuild.Image{
		"e2e-test-images/busybox":                           busyboxWith("busybox", nil, nil, []string{"sh"}),
		"e2e-test-images/nginx":                             nginx,
		"e2e-test-images/httpd":                             httpd(80, "httpd"),
		"e2e-test-images/nonewprivs":                        nnp,
		"k8s-staging-cri-tools/hostnet-nginx-amd64":         httpd(12003, "hostnet-nginx"),
		"k8s-staging-cri-tools/test-image-predefined-group": group,
	}
	tags := map[string]string{
		"e2e-test-images/busybox": "1.29-2", "e2e-test-images/nginx": "1.14-2",
		"e2e-test-images/httpd": "2.4.39-4", "e2e-test-images/nonewprivs": "1.3",
	}
	for repo, img := range images {
		for _, tag := range []string{"latest", tags[repo]} {
			if tag == "" {
				continue
			}
			if _, err := reg.Push(t.Context(), repo+":"+tag, img); err != nil {
				t.Fatalf("push %s:%s: %v", repo, tag, err)
			}
		}
	}
}

// allApplets is a layer linking every applet of busybox-static that
// imagebuild's busybox layer does not (critest runs `top`, its nginx
// stand-in busybox's httpd, as commands of their own, where busybox's sh
// would find them without a link).
func allApplets(t *testing.T) imagebuild.Layer {
	t.Helper()
	out, err := exec.Command(imagebuild.DefaultBusyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	have := map[string]bool{}
	for _, a := range imagebuild.BusyboxApplets() {
		have[a] = true
	}
	var l imagebuild.Layer
	for _, a := range strings.Fields(string(out)) {
		if !have[a] && a != "busybox" && !strings.Contains(a, "/") {
			l.Entries = append(l.Entries, imagebuild.Entry{Path: "/bin/" + a, Type: imagebuild.Symlink, Linkname: "busybox"})
		}
	}
	return l
}

// staticProgram compiles the C source src (relative to this package)
// into a static binary and returns it.
func staticProgram(t *testing.T, src string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	if b, err := exec.Command("cc", "-static", "-O2", "-Wall", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("cc %s (apt-get install gcc libc6-dev): %v: %s", src, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// specResult is one spec's outcome in a critest run.
type specResult struct {
	State   string // passed, failed or skipped
	Message string // the failure's or skip's message, on one line
}

// CritestFocusEnv, when set, runs only the specs whose names match it (a
// regular expression, ginkgo's -focus): `ZFSLXC_CRITEST_FOCUS='dropping
// ALL' make critest` checks one spec on both handlers in a few minutes.
const CritestFocusEnv = "ZFSLXC_CRITEST_FOCUS"

// critestTimeout bounds one critest run (ginkgo interrupts it and still
// writes its report); ZFSLXC_CRITEST_TIMEOUT overrides it.
func critestTimeout() string {
	if v := os.Getenv("ZFSLXC_CRITEST_TIMEOUT"); v != "" {
		return v
	}
	return "15m"
}

// runCritest runs critest with handler rt ("runc": the default) and
// returns each spec's result from its JUnit report. critest's own
// -report-dir writes nothing in v1.34.0 (the flag is parsed, never used):
// ginkgo's -ginkgo.junit-report does.
func runCritest(t *testing.T, e *env, critest, rt string) map[string]specResult {
	t.Helper()
	reportDir := t.TempDir()
	// The log and the report outlive the test (a run stopped from
	// outside still leaves them).
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("critest-%s-%s-%d.log", e.Flavor.Name, rt, time.Now().Unix()))
	junit := strings.TrimSuffix(logPath, ".log") + ".xml"
	args := []string{
		"-runtime-endpoint", e.Endpoint, "-image-endpoint", e.Endpoint,
		"-ginkgo.junit-report", junit, "-ginkgo.skip", "Image Manager",
		"-ginkgo.timeout", critestTimeout(), "-ginkgo.no-color",
	}
	if rt != "runc" {
		args = append(args, "-runtime-handler", rt)
	}
	if focus := os.Getenv(CritestFocusEnv); focus != "" {
		args = append(args, "-ginkgo.focus", focus)
	}
	cmd := exec.Command(critest, args...)
	cmd.Dir = reportDir
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	runErr := cmd.Run()
	logf.Close()
	t.Logf("critest %s on %s: %v in %v (log %s)", rt, e.Flavor.Name, runErr, time.Since(start).Round(time.Second), logPath)
	res, err := parseJUnit(junit)
	if err != nil {
		t.Fatalf("critest's JUnit report: %v (run: %v)\n%s", err, runErr, tailFile(logPath, 40))
	}
	// Clean what a failed spec left before the next run.
	e.Crictl(t, "rmp", "-fa")
	return res
}

type junitSuites struct {
	Suites []junitSuite `xml:"testsuite"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
}

type junitSuite struct {
	Cases []struct {
		Name    string        `xml:"name,attr"`
		Skipped *junitMessage `xml:"skipped"`
		Failure *junitMessage `xml:"failure"`
		Error   *junitMessage `xml:"error"`
	} `xml:"testcase"`
}

// parseJUnit reads ginkgo's JUnit report: spec name → result (the
// suite's setup nodes left out).
func parseJUnit(path string) (map[string]specResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s junitSuites
	if err := xml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// gomega's messages span lines ("Unexpected error:\n    <*status.Error>
	// …: rpc error: …"): one line keeps the error in a table cell.
	firstLine := func(m *junitMessage) string { return strings.Join(strings.Fields(m.Message), " ") }
	res := map[string]specResult{}
	for _, suite := range s.Suites {
		for _, c := range suite.Cases {
			if !strings.HasPrefix(c.Name, "[It] ") {
				continue // [BeforeSuite], [AfterSuite], report nodes
			}
			name := strings.TrimPrefix(c.Name, "[It] ")
			switch {
			case c.Failure != nil:
				res[name] = specResult{"failed", firstLine(c.Failure)}
			case c.Error != nil:
				res[name] = specResult{"failed", firstLine(c.Error)}
			case c.Skipped != nil:
				res[name] = specResult{"skipped", firstLine(c.Skipped)}
			default:
				res[name] = specResult{State: "passed"}
			}
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("%s: no specs", path)
	}
	return res, nil
}

// report logs (and appends to $ZFSLXC_CRITEST_REPORT) the counts per
// runtime and every spec whose state differs, with lxc's message.
func report(t *testing.T, flavor string, results map[string]map[string]specResult) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s\n\n| handler | passed | failed | skipped |\n|---|---|---|---|\n", flavor)
	for _, rt := range []string{"runc", handler} {
		if results[rt] == nil {
			continue
		}
		n := map[string]int{}
		for _, r := range results[rt] {
			n[r.State]++
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", rt, n["passed"], n["failed"], n["skipped"])
	}
	var diffs []string
	if results["runc"] != nil && results[handler] != nil {
		for spec, r := range results["runc"] {
			if other := results[handler][spec]; other.State != r.State {
				diffs = append(diffs, fmt.Sprintf("| %s | %s | %s | %s |", spec, r.State, other.State, cell(other.Message)))
			}
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		b.WriteString("\n| spec | runc | lxc | lxc's message |\n|---|---|---|---|\n" + strings.Join(diffs, "\n") + "\n")
	}
	var both []string
	for spec, r := range results[handler] {
		if r.State == "failed" && results["runc"][spec].State == "failed" {
			both = append(both, fmt.Sprintf("| %s | %s |", spec, cell(r.Message)))
		}
	}
	sort.Strings(both)
	if len(both) > 0 {
		b.WriteString("\nFailing under both:\n\n| spec | lxc's message |\n|---|---|\n" + strings.Join(both, "\n") + "\n")
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

// cell makes s fit a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestParseJUnit reads a report in the shape ginkgo v2.25 writes for
// critest (cut from a real one).
func TestParseJUnit(t *testing.T) {
	const xmlReport = `<?xml version="1.0" encoding="UTF-8"?>
  <testsuites tests="4" disabled="0" errors="0" failures="1" time="1.5">
      <testsuite name="CRI validation" package="/tmp" tests="4" skipped="1" failures="1">
          <testcase name="[BeforeSuite]" classname="CRI validation" status="passed" time="0"></testcase>
          <testcase name="[It] [k8s.io] Idempotence StopPodSandbox should not return an error if not found" classname="CRI validation" status="passed" time="0.1"></testcase>
          <testcase name="[It] [k8s.io] Security Context bucket should support sysctls" classname="CRI validation" status="failed" time="1">
              <failure message="Unexpected error:&#xA;    rpc error: code = Unknown&#xA;more" type="failed">stack</failure>
          </testcase>
          <testcase name="[It] [k8s.io] Security Context user namespaces" classname="CRI validation" status="skipped" time="0">
              <skipped message="skipped - no user namespaces"></skipped>
          </testcase>
      </testsuite>
  </testsuites>`
	p := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(p, []byte(xmlReport), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := parseJUnit(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]specResult{
		"[k8s.io] Idempotence StopPodSandbox should not return an error if not found": {State: "passed"},
		"[k8s.io] Security Context bucket should support sysctls":                     {"failed", "Unexpected error: rpc error: code = Unknown more"},
		"[k8s.io] Security Context user namespaces":                                   {"skipped", "skipped - no user namespaces"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d specs, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %+v, want %+v", name, got[name], w)
		}
	}
	if err := os.WriteFile(p, []byte(`<testsuites><testsuite name="x"></testsuite></testsuites>`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseJUnit(p); err == nil {
		t.Error("a report without specs: no error")
	}
}
