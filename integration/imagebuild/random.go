package imagebuild

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"path"
)

// randomReader streams size bytes of splitmix64 output. The generator is
// written out here (not math/rand) so the bytes, and so the digests, can
// never change with the Go version.
type randomReader struct {
	state     uint64
	remaining int64
	buf       [8]byte
	buffered  int // bytes of buf not yet returned, taken from its end
}

func newRandomReader(seed uint64, size int64) *randomReader {
	return &randomReader{state: seed, remaining: size}
}

func (r *randomReader) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Read implements io.Reader.
func (r *randomReader) Read(p []byte) (int, error) {
	if r.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n := 0
	for n < len(p) && r.buffered > 0 {
		p[n] = r.buf[8-r.buffered]
		r.buffered--
		n++
	}
	for len(p)-n >= 8 {
		binary.LittleEndian.PutUint64(p[n:], r.next())
		n += 8
	}
	if n < len(p) {
		binary.LittleEndian.PutUint64(r.buf[:], r.next())
		r.buffered = 8
		for n < len(p) {
			p[n] = r.buf[8-r.buffered]
			r.buffered--
			n++
		}
	}
	r.remaining -= int64(n)
	return n, nil
}

// LargeFileLayer returns an uncompressed layer holding the directories
// leading to the absolute path p and, at p, a file of size bytes of
// deterministic pseudorandom content (seeded from p). The content is
// generated while the layout is written, so a 1 GiB layer costs no memory.
func LargeFileLayer(p string, size int64) Layer {
	h := fnv.New64a()
	h.Write([]byte(p))
	var entries []Entry
	for _, dir := range parentDirs(p) {
		entries = append(entries, Entry{Path: dir, Type: Dir, Mode: 0o755})
	}
	entries = append(entries, Entry{Path: p, Mode: 0o644, Size: size, Seed: h.Sum64()})
	return Layer{Entries: entries}
}

// parentDirs lists the directories above the absolute path p, outermost
// first, without "/".
func parentDirs(p string) []string {
	var dirs []string
	for d := path.Dir(path.Clean(p)); d != "/" && d != "."; d = path.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	return dirs
}
