package task

import (
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
)

// stdioKind is what a stdio value of a task names.
type stdioKind int

const (
	stdioNone   stdioKind = iota // "": not connected
	stdioFifo                    // a FIFO path, or fifo://path
	stdioFile                    // file:///path: appended to
	stdioBinary                  // binary:///path?k=v: a logger process
)

// stdioURI is a parsed stdio value.
type stdioURI struct {
	kind stdioKind
	path string   // FIFO, file or logger binary
	args []string // logger arguments (binary://)
}

// parseStdio parses the stdio value v that containerd passes for stream
// name (stdin, stdout, stderr): a FIFO path, fifo://, file:///abs/path or
// binary:///abs/path?k=v&... (the logger runs as `path k v ...`, keys
// sorted, as containerd's runc shim runs it save for the order). Errors
// name the stream and the value and are InvalidArgument.
func parseStdio(name, v string) (stdioURI, error) {
	if v == "" {
		return stdioURI{}, nil
	}
	bad := func(format string, args ...any) (stdioURI, error) {
		return stdioURI{}, fmt.Errorf("%s %q: %s: %w", name, v, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
	}
	i := strings.Index(v, "://")
	if i < 0 {
		return stdioURI{kind: stdioFifo, path: v}, nil
	}
	switch scheme := v[:i]; scheme {
	case "fifo":
		if v[i+3:] == "" {
			return bad("empty FIFO path")
		}
		return stdioURI{kind: stdioFifo, path: v[i+3:]}, nil
	case "file", "binary":
		u, err := url.Parse(v)
		if err != nil {
			return bad("%v", err)
		}
		if u.Host != "" {
			return bad("host %q given; want %s:///absolute/path", u.Host, scheme)
		}
		if u.Path == "" {
			return bad("empty path; want %s:///absolute/path", scheme)
		}
		if !path.IsAbs(u.Path) || path.Clean(u.Path) == "/" {
			return bad("path %q is not an absolute file path", u.Path)
		}
		if scheme == "file" {
			if u.RawQuery != "" {
				return bad("file:// takes no query")
			}
			return stdioURI{kind: stdioFile, path: u.Path}, nil
		}
		q := u.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var args []string
		for _, k := range keys {
			args = append(args, k)
			if vs := q[k]; len(vs) > 0 {
				args = append(args, vs[0])
			}
		}
		return stdioURI{kind: stdioBinary, path: u.Path, args: args}, nil
	default:
		return bad("unsupported scheme %q (want a FIFO path, fifo://, file:// or binary://)", scheme)
	}
}
