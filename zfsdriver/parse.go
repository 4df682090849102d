package zfsdriver

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Parsers of zfs/zpool output, kept apart from execution so tests can feed
// them recorded output of OpenZFS and zfs-fuse.

// splitLines returns the non-empty lines of out.
func splitLines(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// fields splits a -H line on tabs and checks the column count.
func fields(line string, n int) ([]string, error) {
	f := strings.Split(line, "\t")
	if len(f) != n {
		return nil, fmt.Errorf("zfs output line %q: %d tab-separated columns, want %d", line, len(f), n)
	}
	return f, nil
}

// parseGet parses `zfs get -H -p -o property,value,source`.
func parseGet(out []byte) (map[string]Property, error) {
	m := make(map[string]Property)
	for _, l := range splitLines(out) {
		f, err := fields(l, 3)
		if err != nil {
			return nil, err
		}
		m[f[0]] = Property{Value: f[1], Source: f[2]}
	}
	return m, nil
}

// parseList parses `zfs list -H -p -o <listProps>`.
func parseList(out []byte) ([]Dataset, error) {
	var list []Dataset
	for _, l := range splitLines(out) {
		f, err := fields(l, len(listProps))
		if err != nil {
			return nil, err
		}
		ds, err := datasetFrom(func(p string) string {
			for i, name := range listProps {
				if name == p {
					return f[i]
				}
			}
			return "-"
		})
		if err != nil {
			return nil, err
		}
		list = append(list, ds)
	}
	return list, nil
}

// parseGetRows parses `zfs get -H -p -o name,property,value` over several
// datasets into one Dataset each, in the order zfs printed them.
func parseGetRows(out []byte) ([]Dataset, error) {
	var order []string
	rows := make(map[string]map[string]string)
	for _, l := range splitLines(out) {
		f, err := fields(l, 3)
		if err != nil {
			return nil, err
		}
		r, ok := rows[f[0]]
		if !ok {
			r = map[string]string{"name": f[0]}
			rows[f[0]] = r
			order = append(order, f[0])
		}
		r[f[1]] = f[2]
	}
	list := make([]Dataset, 0, len(order))
	for _, name := range order {
		r := rows[name]
		ds, err := datasetFrom(func(p string) string {
			if v, ok := r[p]; ok {
				return v
			}
			return "-"
		})
		if err != nil {
			return nil, err
		}
		list = append(list, ds)
	}
	return list, nil
}

// datasetFrom builds a Dataset from a property lookup.
func datasetFrom(get func(string) string) (Dataset, error) {
	ds := Dataset{
		Name:       get("name"),
		Type:       DatasetType(get("type")),
		Origin:     dashEmpty(get("origin")),
		Mountpoint: dashEmpty(get("mountpoint")),
		Mounted:    get("mounted") == "yes",
	}
	var err error
	for _, n := range []struct {
		prop string
		dst  *uint64
	}{{"used", &ds.Used}, {"referenced", &ds.Referenced}, {"available", &ds.Available}} {
		if *n.dst, err = parseSize(get(n.prop)); err != nil {
			return Dataset{}, fmt.Errorf("dataset %q property %s: %w", ds.Name, n.prop, err)
		}
	}
	return ds, nil
}

func dashEmpty(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// parseSize parses an exact (-p) size; "-", "none" and "" are 0.
func parseSize(s string) (uint64, error) {
	switch s {
	case "-", "none", "":
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q is not a number: %w", s, err)
	}
	return n, nil
}

// parseHumanSize parses the rounded sizes zfs prints without -p ("1.98G",
// "352K", "0"), for zpool list on zfs-fuse, which has no -p. Base 1024.
func parseHumanSize(s string) (uint64, error) {
	if s == "-" || s == "none" || s == "" {
		return 0, nil
	}
	mult := 1.0
	if i := strings.IndexAny(s, "KMGTPEkmgtpe"); i >= 0 {
		shift := strings.IndexByte("KMGTPE", strings.ToUpper(s[i : i+1])[0]) + 1
		mult = math.Pow(1024, float64(shift))
		if rest := strings.ToUpper(s[i+1:]); rest != "" && rest != "B" && rest != "IB" {
			return 0, fmt.Errorf("size %q: unknown suffix", s)
		}
		s = s[:i]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q is not a size", s)
	}
	return uint64(f * mult), nil
}
