package docker_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/zfslxc/zfslxc/integration/registrytest"
)

// parityEnv, set to 1, runs TestDockerParity (make docker-parity); its
// table goes to the file named by parityOutEnv when set.
const (
	parityEnv    = "ZFSLXC_DOCKER_PARITY"
	parityOutEnv = "ZFSLXC_DOCKER_PARITY_OUT"
)

// parityCase is one docker run, under runc and under the LXC shim in the
// same daemon.
type parityCase struct {
	name string
	// flags go before the image, args after it.
	flags, args []string
	// image is "sh" (busybox, CMD sh) or "argv" (printf ENTRYPOINT).
	image string
	// knownDiff, when set, says why lxc differs from runc in this case;
	// the case then fails when they agree (drop the note).
	knownDiff string
}

const (
	diffErrorText = "the runtime's own error text on stderr (runc: \"OCI runtime create failed: runc create failed: unable to start container process: exec: …\"; lxc: \"zfslxc-init: exec: …: container could not be started\"); same exit code, same exec error"
	diffCgroupV1  = "cgroup v1 layout: runc binds the container's own cgroup at /sys/fs/cgroup/<controller>, LXC mounts each hierarchy with the container's path below it (/sys/fs/cgroup/<controller>/docker/<id>/…); the limit is set either way (TestDocker/Memory reads it on the host and in the container)"
)

var parityCases = []parityCase{
	{name: "entrypoint+cmd", image: "argv"},
	{name: "entrypoint+args", image: "argv", args: []string{" x ", "", "$HOME"}},
	{name: "entrypoint override", image: "argv", flags: []string{"--entrypoint", "/bin/echo"}, args: []string{"-n", "a"}},
	{name: "exit 42", image: "sh", args: []string{"sh", "-c", "exit 42"}},
	{name: "stderr", image: "sh", args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}},
	{name: "not found", image: "sh", args: []string{"/no/such"}, knownDiff: diffErrorText},
	{name: "not executable", image: "sh", args: []string{"/etc/passwd"}, knownDiff: diffErrorText},
	{name: "env", image: "sh", flags: []string{"-e", "A=1", "-e", "B=two words"}, args: []string{"sh", "-c", `echo "$A|$B|$PATH|$HOME"`}},
	{name: "hostname", image: "sh", flags: []string{"--hostname", "box"}, args: []string{"hostname"}},
	{name: "workdir", image: "sh", flags: []string{"-w", "/var/new/dir"}, args: []string{"pwd"}},
	{name: "user uid:gid", image: "sh", flags: []string{"-u", "1000:2000"}, args: []string{"id"}},
	{name: "user name", image: "sh", flags: []string{"-u", "app"}, args: []string{"id"}},
	{name: "group-add", image: "sh", flags: []string{"-u", "app", "--group-add", "2000"}, args: []string{"id"}},
	{name: "read-only", image: "sh", flags: []string{"--read-only"}, args: []string{"sh", "-c", "touch /x; echo $?"}},
	{name: "read-only tmpfs", image: "sh", flags: []string{"--read-only", "--tmpfs", "/run"}, args: []string{"sh", "-c", "touch /run/x && echo ok"}},
	{name: "memory", image: "sh", flags: []string{"--memory", "64m"}, args: []string{"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}, knownDiff: diffCgroupV1},
	{name: "pids-limit", image: "sh", flags: []string{"--pids-limit", "50"}, args: []string{"cat", "/sys/fs/cgroup/pids/pids.max"}, knownDiff: diffCgroupV1},
	{name: "cap-drop chown", image: "sh", flags: []string{"--cap-drop", "CHOWN"}, args: []string{"sh", "-c", "chown 1 /tmp; echo $?"}},
	{name: "capabilities", image: "sh", args: []string{"sh", "-c", "grep Cap /proc/self/status"}},
	{name: "no-new-privs", image: "sh", flags: []string{"--security-opt", "no-new-privileges"}, args: []string{"sh", "-c", "grep NoNewPrivs /proc/self/status"}},
	{name: "sysctl", image: "sh", flags: []string{"--sysctl", "net.ipv4.ip_forward=1"}, args: []string{"cat", "/proc/sys/net/ipv4/ip_forward"}},
	{name: "unprivileged port start", image: "sh", args: []string{"cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}},
	{name: "net none", image: "sh", flags: []string{"--network", "none"}, args: []string{"sh", "-c", "ls /sys/class/net"}},
	{name: "add-host", image: "sh", flags: []string{"--add-host", "db:10.1.2.3"}, args: []string{"grep", "db", "/etc/hosts"}},
	{name: "dns", image: "sh", flags: []string{"--dns", "10.9.9.9"}, args: []string{"grep", "nameserver", "/etc/resolv.conf"}},
	{name: "volume", image: "sh", flags: []string{"-v", "/etc/hostname:/mnt/h:ro"}, args: []string{"sh", "-c", "test -r /mnt/h && touch /mnt/h; echo $?"}},
	{name: "proc masked", image: "sh", args: []string{"sh", "-c", "cat /proc/kcore 2>&1 | head -c 20; echo; ls /proc/acpi 2>&1 | wc -l"}},
	{name: "proc/sys read-only", image: "sh", args: []string{"sh", "-c", "echo 1 > /proc/sys/kernel/domainname; echo $?"}},
	{name: "pid 1", image: "sh", args: []string{"sh", "-c", "echo $$"}},
	{name: "stdin closed", image: "sh", args: []string{"cat"}},
}

// TestDockerParity runs parityCases with --runtime runc and --runtime lxc
// in the same daemon and compares stdout, stderr and the exit code.
// Slow (two containers per case): it runs under make docker-parity
// (ZFSLXC_DOCKER_PARITY=1), which writes the table of docs/parity.md.
func TestDockerParity(t *testing.T) {
	if os.Getenv(parityEnv) != "1" {
		t.Skipf("%s=1 runs it (make docker-parity)", parityEnv)
	}
	reg := registrytest.Start(t, registrytest.Options{})
	argv, sh := pushTestImages(t, reg)
	// Docker 29 gives every container a time namespace when the kernel
	// has them; Debian's runc 1.1.5 does not know that namespace ("runc
	// create failed: namespace {"time" ""} does not exist"), so every runc
	// container would fail: the parity daemon turns the feature off for
	// both runtimes.
	e := setupWith(t, map[string]any{"features": map[string]any{"containerd-snapshotter": true, "time-namespaces": false}}, reg.Host)
	d := e.docker
	d.Must(t, "pull", argv)
	d.Must(t, "pull", sh)
	images := map[string]string{"argv": argv, "sh": sh}

	var table strings.Builder
	table.WriteString("| case | docker run flags and args | exit runc / lxc | stdout | stderr |\n|---|---|---|---|---|\n")
	same, known := 0, 0
	for _, c := range parityCases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			var res [2][3]string
			for i, rt := range []string{"runc", "lxc"} {
				args := append(append(append([]string{"run", "--rm", "--runtime", rt}, c.flags...), images[c.image]), c.args...)
				out, stderr, code := d.Docker(t, args...)
				res[i] = [3]string{fmt.Sprint(code), out, stderr}
			}
			match := func(k int) string {
				if res[0][k] == res[1][k] {
					return "same"
				}
				return fmt.Sprintf("**differs**: runc %q, lxc %q", res[0][k], res[1][k])
			}
			switch {
			case res[0] == res[1] && c.knownDiff != "":
				t.Errorf("lxc gives what runc gives now, the known difference is gone (%s): drop knownDiff", c.knownDiff)
			case res[0] == res[1]:
				same++
			case c.knownDiff != "":
				known++
				t.Logf("known difference: %s", c.knownDiff)
			default:
				t.Errorf("runc and lxc differ:\n  runc: exit %s stdout %q stderr %q\n  lxc:  exit %s stdout %q stderr %q",
					res[0][0], res[0][1], res[0][2], res[1][0], res[1][1], res[1][2])
			}
			esc := strings.NewReplacer("|", `\|`, "\n", " ").Replace
			note := ""
			if c.knownDiff != "" && res[0] != res[1] {
				note = " — known: " + c.knownDiff
			}
			fmt.Fprintf(&table, "| %s | `%s` | %s / %s | %s | %s%s |\n", c.name,
				esc(strings.Join(append(append(append([]string{}, c.flags...), c.image), c.args...), " ")),
				res[0][0], res[1][0], esc(match(1)), esc(match(2)), esc(note))
		})
	}
	fmt.Fprintf(&table, "\n%d of %d cases: same stdout, stderr and exit code; %d known differences (noted in their row).\n", same, len(parityCases), known)
	t.Log("\n" + table.String())
	if out := os.Getenv(parityOutEnv); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
