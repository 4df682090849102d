package speccapture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Rewrite is one fixed-string replacement applied to a captured
// config.json: a value that differs on every run (a temporary directory, a
// random container id) and the fixed placeholder that stands for it.
type Rewrite struct {
	Old, New string
	// Why says what the value is, for the README.
	Why string
}

// cniNetnsRE matches the netns files CNI-managed runtimes create
// (/var/run/netns/cni-<uuid>); nerdctl 1.7 does not put one in the spec,
// but a capture that has one must not make goldens unstable.
var cniNetnsRE = regexp.MustCompile(`/(var/)?run/netns/cni-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// fixedNetns replaces every match of cniNetnsRE.
const fixedNetns = "/var/run/netns/cni-00000000-0000-0000-0000-000000000000"

// Normalize applies rw to data (the bytes of a config.json) and indents the
// result. Replacements run longest Old first, so a path is replaced before
// a shorter value it contains (the container id inside a bundle path);
// each Old is replaced everywhere it occurs, as plain text. Indentation
// only changes white space between JSON tokens. Normalize is
// deterministic: the same input and rewrites give the same bytes.
func Normalize(data []byte, rw []Rewrite) ([]byte, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("config.json is not valid JSON")
	}
	sorted := make([]Rewrite, 0, len(rw))
	for _, r := range rw {
		if r.Old != "" && r.Old != r.New {
			sorted = append(sorted, r)
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i].Old) > len(sorted[j].Old) })
	s := string(data)
	for _, r := range sorted {
		s = strings.ReplaceAll(s, r.Old, r.New)
	}
	s = cniNetnsRE.ReplaceAllString(s, fixedNetns)
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(s), "", "  "); err != nil {
		return nil, fmt.Errorf("after rewriting: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
