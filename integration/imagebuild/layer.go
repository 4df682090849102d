package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// epoch is the modification time of every entry written by this package
// (2024-01-01 UTC), so that two builds of the same Image produce
// byte-identical blobs.
var epoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// EntryType says what kind of filesystem object an Entry describes.
type EntryType int

const (
	// File is a regular file; its content comes from Entry.Content or, for
	// large files, from a pseudorandom stream (Entry.Size, Entry.Seed).
	File EntryType = iota
	// Dir is a directory.
	Dir
	// Symlink is a symbolic link to Entry.Linkname (stored verbatim).
	Symlink
	// Hardlink is a hard link to the absolute image path Entry.Linkname,
	// which must appear earlier in the same layer.
	Hardlink
	// Whiteout deletes Entry.Path from lower layers; it is written as
	// "<dir>/.wh.<name>" as the OCI image spec prescribes.
	Whiteout
	// OpaqueDir hides everything lower layers hold under the directory
	// Entry.Path; it is written as "<dir>/.wh..wh..opq". Entries of the same
	// layer under that directory survive, whatever their order.
	OpaqueDir
	// Fifo is a named pipe.
	Fifo
	// CharDevice is a character device node Entry.Devmajor:Devminor.
	CharDevice
)

// String returns the name of the entry type.
func (t EntryType) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case Hardlink:
		return "hardlink"
	case Whiteout:
		return "whiteout"
	case OpaqueDir:
		return "opaque"
	case Fifo:
		return "fifo"
	case CharDevice:
		return "chardev"
	}
	return fmt.Sprintf("EntryType(%d)", int(t))
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// Entry is one object of a layer.
type Entry struct {
	// Path is the absolute path inside the image, e.g. "/data/keep.txt".
	Path string
	// Type is the kind of object; the zero value is File.
	Type EntryType
	// Mode holds permission bits as chmod(1) takes them, including 04000
	// (setuid), 02000 (setgid) and 01000 (sticky). Zero picks 0644 for
	// files, 0755 for directories and 0777 for symlinks.
	Mode int64
	// UID and GID own the object.
	UID, GID int
	// Content is the content of a File. When it is nil and Size is
	// positive, the file holds Size bytes of a deterministic pseudorandom
	// stream seeded by Seed, generated while writing, never held in memory.
	Content []byte
	// Size is the size of a generated File (see Content).
	Size int64
	// Seed seeds the pseudorandom content of a generated File.
	Seed uint64
	// Linkname is the target of a Symlink (verbatim) or of a Hardlink (an
	// absolute image path).
	Linkname string
	// Devmajor and Devminor are the numbers of a CharDevice.
	Devmajor, Devminor int64
	// Xattrs are extended attributes, written as PAX records
	// "SCHILY.xattr.<name>". The snapshotter's filesystem must support
	// them (user.* on ext4, ZFS with xattr=on…) for them to survive unpack.
	Xattrs map[string]string
}

// Layer is an ordered list of entries, written as one tar blob.
type Layer struct {
	// Entries are written in this order.
	Entries []Entry
	// Gzip compresses the blob (media type
	// application/vnd.oci.image.layer.v1.tar+gzip). Generated random
	// content does not compress: leave large layers uncompressed.
	Gzip bool
	// Zstd compresses the blob with zstd instead (media type
	// application/vnd.oci.image.layer.v1.tar+zstd). Not with Gzip.
	Zstd bool
}

// archiveName turns an absolute image path into a tar member name.
func archiveName(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q is not absolute", p)
	}
	clean := path.Clean(p)
	if clean != p && clean+"/" != p {
		return "", fmt.Errorf("path %q is not clean (want %q)", p, clean)
	}
	if clean == "/" {
		return "", errors.New("path \"/\" cannot be an entry")
	}
	return strings.TrimPrefix(clean, "/"), nil
}

// header builds the tar header of e.
func (e *Entry) header() (*tar.Header, error) {
	name, err := archiveName(e.Path)
	if err != nil {
		return nil, err
	}
	hdr := &tar.Header{
		Name:    name,
		Mode:    e.Mode,
		Uid:     e.UID,
		Gid:     e.GID,
		ModTime: epoch,
		Format:  tar.FormatPAX,
	}
	if e.Type != File && (e.Content != nil || e.Size != 0) {
		return nil, fmt.Errorf("%s %s: only files have content", e.Type, e.Path)
	}
	if e.Linkname != "" && e.Type != Symlink && e.Type != Hardlink {
		return nil, fmt.Errorf("%s %s: only links have a linkname", e.Type, e.Path)
	}
	switch e.Type {
	case File:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = e.contentSize()
		if e.Content != nil && e.Size != 0 && e.Size != int64(len(e.Content)) {
			return nil, fmt.Errorf("file %s: Size %d disagrees with len(Content) %d", e.Path, e.Size, len(e.Content))
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("file %s: negative size %d", e.Path, e.Size)
		}
		defaultMode(hdr, 0o644)
	case Dir:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		defaultMode(hdr, 0o755)
	case Symlink:
		if e.Linkname == "" {
			return nil, fmt.Errorf("symlink %s: empty Linkname", e.Path)
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Linkname
		defaultMode(hdr, 0o777)
	case Hardlink:
		target, err := archiveName(e.Linkname)
		if err != nil {
			return nil, fmt.Errorf("hardlink %s: %w", e.Path, err)
		}
		hdr.Typeflag = tar.TypeLink
		hdr.Linkname = target
		defaultMode(hdr, 0o644)
	case Whiteout:
		dir, base := path.Split(name)
		hdr.Typeflag = tar.TypeReg
		hdr.Name = dir + whiteoutPrefix + base
		defaultMode(hdr, 0o644)
	case OpaqueDir:
		hdr.Typeflag = tar.TypeReg
		hdr.Name = name + "/" + opaqueMarker
		defaultMode(hdr, 0o644)
	case Fifo:
		hdr.Typeflag = tar.TypeFifo
		defaultMode(hdr, 0o644)
	case CharDevice:
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor, hdr.Devminor = e.Devmajor, e.Devminor
		defaultMode(hdr, 0o666)
	default:
		return nil, fmt.Errorf("entry %s: unknown type %v", e.Path, e.Type)
	}
	if len(e.Xattrs) > 0 {
		hdr.PAXRecords = make(map[string]string, len(e.Xattrs))
		for k, v := range e.Xattrs {
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	return hdr, nil
}

func defaultMode(hdr *tar.Header, mode int64) {
	if hdr.Mode == 0 {
		hdr.Mode = mode
	}
}

// contentSize is the size of a File's content.
func (e *Entry) contentSize() int64 {
	if e.Content != nil {
		return int64(len(e.Content))
	}
	return e.Size
}

// contentReader returns the content of a File as a stream.
func (e *Entry) contentReader() io.Reader {
	if e.Content != nil {
		return bytes.NewReader(e.Content)
	}
	return newRandomReader(e.Seed, e.Size)
}

// writeTar writes the uncompressed tar stream of l to w.
func (l *Layer) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	for i := range l.Entries {
		e := &l.Entries[i]
		hdr, err := e.header()
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("entry %d (%s): write header: %w", i, e.Path, err)
		}
		if hdr.Typeflag == tar.TypeReg && e.Type == File && hdr.Size > 0 {
			if _, err := io.Copy(tw, e.contentReader()); err != nil {
				return fmt.Errorf("entry %d (%s): write content: %w", i, e.Path, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("close layer tar: %w", err)
	}
	return nil
}

// compressed reports whether the blob differs from the tar stream.
func (l *Layer) compressed() bool { return l.Gzip || l.Zstd }

// write writes the layer blob (compressed when l.Gzip or l.Zstd) to blob,
// and the uncompressed tar stream also to diff, which computes the diffID.
func (l *Layer) write(blob, diff io.Writer) error {
	if l.Gzip && l.Zstd {
		return errors.New("layer is both Gzip and Zstd")
	}
	if l.Zstd {
		return l.writeZstd(blob, diff)
	}
	if !l.Gzip {
		bw := bufio.NewWriterSize(io.MultiWriter(blob, diff), 64<<10)
		if err := l.writeTar(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	// The zero Header writes mtime 0 and OS "unknown", so the stream
	// depends only on the content (and on compress/flate's version).
	zw, err := gzip.NewWriterLevel(blob, gzip.DefaultCompression)
	if err != nil {
		return fmt.Errorf("gzip writer: %w", err)
	}
	bw := bufio.NewWriterSize(io.MultiWriter(zw, diff), 64<<10)
	if err := l.writeTar(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("close gzip: %w", err)
	}
	return nil
}

// writeZstd is write for a Zstd layer. One encoder thread, so the stream
// depends only on the content (and the library's version).
func (l *Layer) writeZstd(blob, diff io.Writer) error {
	zw, err := zstd.NewWriter(blob, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("zstd writer: %w", err)
	}
	bw := bufio.NewWriterSize(io.MultiWriter(zw, diff), 64<<10)
	if err := l.writeTar(bw); err != nil {
		zw.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("close zstd: %w", err)
	}
	return nil
}
