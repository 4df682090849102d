package zfsdriver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// Kinds of failure recognised from the zfs(8)/zpool(8) messages. Test them
// with errors.Is; every *Error also unwraps to the matching errdefs class, so
// a caller that crosses the containerd API keeps the class without mapping.
var (
	// ErrNotFound: the dataset, snapshot or pool does not exist.
	ErrNotFound = errors.New("does not exist")
	// ErrParentNotFound: create or clone below a parent that does not exist.
	ErrParentNotFound = errors.New("parent does not exist")
	// ErrExists: a dataset or snapshot of that name already exists.
	ErrExists = errors.New("already exists")
	// ErrBusy: the dataset is mounted and in use, or held; transient.
	ErrBusy = errors.New("dataset is busy")
	// ErrHasChildren: destroy of a dataset that still has children or snapshots.
	ErrHasChildren = errors.New("has children")
	// ErrHasDependents: destroy of a snapshot that still has clones.
	ErrHasDependents = errors.New("has dependent clones")
	// ErrNoSpace: the pool is full or a quota is reached.
	ErrNoSpace = errors.New("out of space")
	// ErrInvalidName: a name refused by the driver before any command ran,
	// or by zfs itself.
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalidProperty: an unknown property or a value zfs does not accept.
	ErrInvalidProperty = errors.New("invalid property")
	// ErrNotMounted: unmount of a dataset that is not mounted.
	ErrNotMounted = errors.New("not mounted")
	// ErrAlreadyMounted: mount of a dataset that is already mounted.
	ErrAlreadyMounted = errors.New("already mounted")
	// ErrNotClone: promote of a dataset that is not a clone.
	ErrNotClone = errors.New("not a cloned filesystem")
	// ErrUnavailable: zfs cannot be used at all (tool missing, zfs-fuse
	// daemon not running, kernel module not loaded).
	ErrUnavailable = errors.New("zfs is not available")
	// ErrUnsupported: the zfs implementation lacks the operation.
	ErrUnsupported = errors.New("not supported by this zfs")
)

// errdefsClass maps each kind to the containerd errdefs class it travels as.
var errdefsClass = map[error]error{
	ErrNotFound:        errdefs.ErrNotFound,
	ErrParentNotFound:  errdefs.ErrNotFound,
	ErrExists:          errdefs.ErrAlreadyExists,
	ErrBusy:            errdefs.ErrUnavailable,
	ErrHasChildren:     errdefs.ErrFailedPrecondition,
	ErrHasDependents:   errdefs.ErrFailedPrecondition,
	ErrNoSpace:         errdefs.ErrResourceExhausted,
	ErrInvalidName:     errdefs.ErrInvalidArgument,
	ErrInvalidProperty: errdefs.ErrInvalidArgument,
	ErrNotMounted:      errdefs.ErrFailedPrecondition,
	ErrAlreadyMounted:  errdefs.ErrAlreadyExists,
	ErrNotClone:        errdefs.ErrFailedPrecondition,
	ErrUnavailable:     errdefs.ErrUnavailable,
	ErrUnsupported:     errdefs.ErrNotImplemented,
}

// Error is a failed zfs or zpool command, or a request refused before one
// ran. Kind is one of the Err* values above, or nil when the message was not
// recognised (then the error is errdefs.ErrUnknown).
type Error struct {
	Op       string // "create", "destroy", ...
	Name     string // the dataset, snapshot or pool the command was about
	Args     []string
	ExitCode int    // -1 when no command ran
	Stderr   string // trimmed
	Kind     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("zfs ")
	b.WriteString(e.Op)
	if e.Name != "" {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	b.WriteString(": ")
	switch {
	case e.Stderr != "":
		b.WriteString(firstLine(e.Stderr))
	case e.Kind != nil:
		b.WriteString(e.Kind.Error())
	default:
		fmt.Fprintf(&b, "exit status %d", e.ExitCode)
	}
	return b.String()
}

// Unwrap returns the kind and its errdefs class, so both errors.Is(err,
// ErrNotFound) and errdefs.IsNotFound(err) hold.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{errdefs.ErrUnknown}
	}
	if class, ok := errdefsClass[e.Kind]; ok {
		return []error{e.Kind, class}
	}
	return []error{e.Kind}
}

// IsNotFound reports whether err says a dataset, snapshot or pool is missing.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// stderrPatterns recognises the messages of OpenZFS 2.x and zfs-fuse
// (libzfs of the same lineage). Order matters: the first match wins, and the
// more specific phrases come before the general ones.
var stderrPatterns = []struct {
	substr string
	kind   error
}{
	{"zfs-fuse daemon is running", ErrUnavailable},
	{"failed to initialize zfs library", ErrUnavailable},
	{"modules are not loaded", ErrUnavailable},
	{"/dev/zfs and /proc/self/mounts are required", ErrUnavailable},
	{"snapshot has dependent clones", ErrHasDependents},
	{"snapshot is cloned", ErrHasDependents},
	{"filesystem has children", ErrHasChildren},
	{"volume has children", ErrHasChildren},
	{"filesystem has dependent clones", ErrHasDependents},
	{"parent does not exist", ErrParentNotFound},
	{"dataset does not exist", ErrNotFound},
	{"no such pool or dataset", ErrNotFound},
	{"no such pool", ErrNotFound},
	{"could not find any snapshots to destroy", ErrNotFound},
	{"dataset already exists", ErrExists},
	{"pool or dataset exists", ErrExists},
	{"pool already exists", ErrExists},
	{"is part of active pool", ErrExists},
	{"dataset is busy", ErrBusy},
	{"pool or dataset is busy", ErrBusy},
	{"target is busy", ErrBusy},
	{"device or resource busy", ErrBusy},
	{"pool is busy", ErrBusy},
	{"out of space", ErrNoSpace},
	{"disk quota exceeded", ErrNoSpace},
	{"no space left on device", ErrNoSpace},
	{"not currently mounted", ErrNotMounted},
	{"not mounted", ErrNotMounted},
	{"filesystem already mounted", ErrAlreadyMounted},
	{"not a cloned filesystem", ErrNotClone},
	{"bad numeric value", ErrInvalidProperty},
	{"invalid property", ErrInvalidProperty},
	{"bad property list", ErrInvalidProperty},
	{"invalid value", ErrInvalidProperty},
	{"property may not be set", ErrInvalidProperty},
	{"read-only property", ErrInvalidProperty},
	{"invalid dataset name", ErrInvalidName},
	{"invalid character", ErrInvalidName},
	{"delimiter '@'", ErrInvalidName},
	{"name is too long", ErrInvalidName},
	{"invalid vdev specification", ErrInvalidName},
	{"invalid option", ErrUnsupported},
	{"unrecognized command", ErrUnsupported},
	{"too many arguments", ErrUnsupported},
}

// classify turns a command's stderr into one of the kinds, or nil.
func classify(stderr string) error {
	s := strings.ToLower(stderr)
	for _, p := range stderrPatterns {
		if strings.Contains(s, p.substr) {
			return p.kind
		}
	}
	return nil
}

// refuse builds the error for a request rejected before any command ran;
// the kind comes from the validation error (ErrInvalidName by default).
func refuse(op, name string, err error) error {
	kind := ErrInvalidName
	for _, k := range []error{ErrInvalidProperty, ErrUnsupported, ErrInvalidName} {
		if errors.Is(err, k) {
			kind = k
			break
		}
	}
	return &Error{Op: op, Name: name, ExitCode: -1, Kind: kind, Stderr: err.Error()}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
