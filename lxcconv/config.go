// Package lxcconv converts an OCI runtime spec (and, for the standalone
// path, an OCI image config) into an ordered LXC 5.0 container
// configuration plus the data that cannot travel through LXC config keys
// (the process the zfslxc-init helper sets up, the seccomp policy text,
// the hooks the shim runs).
//
// The package is pure: it never executes anything and never reads host
// state except through the fs.FS and callbacks passed in Options.
//
// Every OCI field is either mapped, refused with an error naming the
// field, or reported as a Warning where runc also treats it as best
// effort. docs/oci-lxc-mapping.md lists the mapping field by field.
package lxcconv

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Entry is one `key = value` line of an LXC configuration.
type Entry struct {
	Key   string
	Value string
}

// Config is an ordered LXC configuration. Order matters to LXC: list keys
// (lxc.mount.entry, lxc.cgroup2.devices.*, lxc.idmap) are applied in the
// order written, and some keys (lxc.net.N.type) must precede others.
type Config struct {
	Entries []Entry
}

// validKeyChar reports whether c may appear in an LXC key. LXC keys are
// dotted identifiers; cgroup file names add '-' and upper case (hugetlb.2MB).
func validKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// checkKey validates an LXC key.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("lxc config: empty key")
	}
	if !strings.HasPrefix(key, "lxc.") {
		return fmt.Errorf("lxc config key %q: must start with \"lxc.\"", key)
	}
	for i := 0; i < len(key); i++ {
		if !validKeyChar(key[i]) {
			return fmt.Errorf("lxc config key %q: invalid character %q", key, key[i])
		}
	}
	if strings.Contains(key, "..") || strings.HasSuffix(key, ".") {
		return fmt.Errorf("lxc config key %q: empty key component", key)
	}
	return nil
}

// checkValue validates an LXC value. LXC reads one line per entry and trims
// blanks around the value, so a value must not hold a line break or NUL
// and must not start or end with a blank (it would not read back the same).
func checkValue(key, value string) error {
	if i := strings.IndexAny(value, "\n\r\x00"); i >= 0 {
		return fmt.Errorf("lxc config key %s: value contains %q, which LXC config cannot hold", key, value[i])
	}
	if value != strings.TrimSpace(value) || value != strings.Trim(value, " \t") {
		return fmt.Errorf("lxc config key %s: value %q has leading or trailing blanks, which LXC trims", key, value)
	}
	return nil
}

// Add appends key = value after validating both. The error names the key.
func (c *Config) Add(key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(key, value); err != nil {
		return err
	}
	c.Entries = append(c.Entries, Entry{Key: key, Value: value})
	return nil
}

// Get returns the values of key, in order.
func (c *Config) Get(key string) []string {
	var out []string
	for _, e := range c.Entries {
		if e.Key == key {
			out = append(out, e.Value)
		}
	}
	return out
}

// WriteTo writes the configuration as `key = value` lines. It implements
// io.WriterTo.
func (c *Config) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, e := range c.Entries {
		var n int
		var err error
		if e.Value == "" {
			n, err = fmt.Fprintf(w, "%s =\n", e.Key)
		} else {
			n, err = fmt.Fprintf(w, "%s = %s\n", e.Key, e.Value)
		}
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// String returns the serialised configuration.
func (c *Config) String() string {
	var b strings.Builder
	_, _ = c.WriteTo(&b)
	return b.String()
}

// Parse reads an LXC configuration the way liblxc reads one: one entry per
// line, `#` comments and blank lines skipped, key and value split at the
// first `=` and trimmed. Entries are validated as by Add.
func Parse(r io.Reader) (*Config, error) {
	c := &Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.Trim(sc.Text(), " \t")
		if text == "" || text[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return nil, fmt.Errorf("lxc config line %d: missing '='", line)
		}
		k = strings.Trim(k, " \t")
		v = strings.Trim(v, " \t")
		if err := c.Add(k, v); err != nil {
			return nil, fmt.Errorf("lxc config line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("lxc config: %w", err)
	}
	return c, nil
}
