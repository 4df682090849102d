package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Expectation describes the filesystem a container should see. Script
// turns it into a busybox shell script to run in the container, and Verify
// checks that script's output, so every runtime and snapshotter test can
// share the checks. Paths must be plain: no spaces, quotes or '$'.
type Expectation struct {
	// Files maps a path to its exact content (read through symlinks).
	Files map[string]string
	// Absent lists paths that must not exist (not even as dangling links).
	Absent []string
	// Dirs maps a directory to all its names (with dotfiles), sorted.
	Dirs map[string][]string
	// Symlinks maps a symlink to its target, as readlink prints it.
	Symlinks map[string]string
	// Modes maps a path to "<octal perms>:<uid>:<gid>", as
	// `stat -c %a:%u:%g` prints it.
	Modes map[string]string
	// Xattrs maps a path to the extended attributes it must carry. Busybox
	// cannot read xattrs, so Script does not check them: check them on the
	// host, in the snapshot's directory.
	Xattrs map[string]map[string]string
}

// Script returns a POSIX sh script (busybox applets: sha256sum, cut, ls,
// tr, readlink, stat) printing one line per check, for Verify.
func (e Expectation) Script() string {
	var b strings.Builder
	q := shellQuote
	for _, p := range sortedKeys(e.Files) {
		fmt.Fprintf(&b, "if [ -f %s ]; then echo \"file %s $(sha256sum < %s | cut -d' ' -f1)\"; else echo 'file %s missing'; fi\n", q(p), p, q(p), p)
	}
	for _, p := range e.Absent {
		fmt.Fprintf(&b, "if [ -e %s ] || [ -L %s ]; then echo 'absent %s no'; else echo 'absent %s yes'; fi\n", q(p), q(p), p, p)
	}
	for _, p := range sortedKeys(e.Dirs) {
		fmt.Fprintf(&b, "echo \"dir %s $(ls -A %s | tr '\\n' ',')\"\n", p, q(p))
	}
	for _, p := range sortedKeys(e.Symlinks) {
		fmt.Fprintf(&b, "echo \"link %s $(readlink %s)\"\n", p, q(p))
	}
	for _, p := range sortedKeys(e.Modes) {
		fmt.Fprintf(&b, "echo \"mode %s $(stat -c %%a:%%u:%%g %s)\"\n", p, q(p))
	}
	b.WriteString("echo end\n")
	return b.String()
}

// Verify checks the output of Script against e and returns an error
// listing every mismatch.
func (e Expectation) Verify(output string) error {
	got := map[string]string{}
	ended := false
	for _, line := range strings.Split(output, "\n") {
		if line == "end" {
			ended = true
			continue
		}
		kind, rest, ok1 := strings.Cut(line, " ")
		p, value, ok2 := strings.Cut(rest, " ")
		if !ok1 || !ok2 {
			p, value = rest, ""
		}
		got[kind+" "+p] = value
	}
	var problems []string
	check := func(key, want string) {
		if v, ok := got[key]; !ok {
			problems = append(problems, fmt.Sprintf("%s: no output", key))
		} else if v != want {
			problems = append(problems, fmt.Sprintf("%s: got %q, want %q", key, v, want))
		}
	}
	for _, p := range sortedKeys(e.Files) {
		sum := sha256.Sum256([]byte(e.Files[p]))
		check("file "+p, hex.EncodeToString(sum[:]))
	}
	for _, p := range e.Absent {
		check("absent "+p, "yes")
	}
	for _, p := range sortedKeys(e.Dirs) {
		want := ""
		for _, n := range e.Dirs[p] {
			want += n + ","
		}
		check("dir "+p, want)
	}
	for _, p := range sortedKeys(e.Symlinks) {
		check("link "+p, e.Symlinks[p])
	}
	for _, p := range sortedKeys(e.Modes) {
		check("mode "+p, e.Modes[p])
	}
	if !ended {
		problems = append(problems, "script did not reach its end")
	}
	if len(problems) > 0 {
		return fmt.Errorf("container filesystem differs from expectation:\n  %s\noutput:\n%s", strings.Join(problems, "\n  "), output)
	}
	return nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
