package zfsdriver

import (
	"fmt"
	"strings"
)

// maxNameLen is ZFS_MAX_DATASET_NAME_LEN less the terminating NUL.
const maxNameLen = 255

// maxUserPropValueLen is ZFS_MAXPROPLEN for user properties.
const maxUserPropValueLen = 8191

// reservedPoolNames cannot name a pool: zpool(8) reads them as vdev types.
var reservedPoolNames = map[string]bool{
	"mirror": true, "raidz": true, "raidz1": true, "raidz2": true, "raidz3": true,
	"draid": true, "spare": true, "log": true, "cache": true, "special": true, "dedup": true,
}

// ValidatePool checks a pool name before it reaches zpool(8).
func ValidatePool(name string) error {
	if err := validateComponent(name); err != nil {
		return fmt.Errorf("pool name %q: %w", name, err)
	}
	c := name[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return fmt.Errorf("pool name %q: must begin with a letter: %w", name, ErrInvalidName)
	}
	if reservedPoolNames[name] || (len(name) > 1 && c == 'c' && name[1] >= '0' && name[1] <= '9') {
		return fmt.Errorf("pool name %q: reserved by zpool: %w", name, ErrInvalidName)
	}
	return nil
}

// ValidateDataset checks a filesystem or volume name (pool/a/b). Names are
// checked before any command runs, so nothing the caller passes can become a
// zfs option or a second operand: no leading '-', no spaces, no '@' or '#',
// no "." or ".." components, only the characters zfs(8) documents.
func ValidateDataset(name string) error {
	if err := validateLength(name); err != nil {
		return fmt.Errorf("dataset name %q: %w", name, err)
	}
	if strings.ContainsAny(name, "@#") {
		return fmt.Errorf("dataset name %q: '@' and '#' are only allowed in snapshot and bookmark names: %w", name, ErrInvalidName)
	}
	parts := strings.Split(name, "/")
	if err := ValidatePool(parts[0]); err != nil {
		return fmt.Errorf("dataset name %q: %w", name, err)
	}
	for _, p := range parts[1:] {
		if err := validateComponent(p); err != nil {
			return fmt.Errorf("dataset name %q: component %q: %w", name, p, err)
		}
	}
	return nil
}

// ValidateSnapshot checks a snapshot name (pool/a@snap).
func ValidateSnapshot(name string) error {
	ds, snap, ok := strings.Cut(name, "@")
	if !ok {
		return fmt.Errorf("snapshot name %q: missing '@': %w", name, ErrInvalidName)
	}
	if err := validateLength(name); err != nil {
		return fmt.Errorf("snapshot name %q: %w", name, err)
	}
	if err := ValidateDataset(ds); err != nil {
		return fmt.Errorf("snapshot name %q: %w", name, err)
	}
	if err := validateComponent(snap); err != nil {
		return fmt.Errorf("snapshot name %q: part after '@': %w", name, err)
	}
	return nil
}

// ValidateName accepts a dataset or a snapshot name.
func ValidateName(name string) error {
	if strings.Contains(name, "@") {
		return ValidateSnapshot(name)
	}
	return ValidateDataset(name)
}

// ValidateProperty checks a property name: a native one (lower case) or a
// user property (module:name, as io.zfslxc:key).
func ValidateProperty(prop string) error {
	if prop == "" || len(prop) > 256 {
		return fmt.Errorf("property name %q: must be 1 to 256 characters: %w", prop, ErrInvalidProperty)
	}
	if prop[0] == '-' {
		return fmt.Errorf("property name %q: must not begin with '-': %w", prop, ErrInvalidProperty)
	}
	user := strings.Contains(prop, ":")
	for _, r := range prop {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
		case user && (r == ':' || r == '.' || r == '-' || r == '+'):
		case !user && r == '@': // userquota@uid and friends
		default:
			return fmt.Errorf("property name %q: character %q not allowed: %w", prop, r, ErrInvalidProperty)
		}
	}
	return nil
}

// ValidatePropertyValue checks a value zfs set can carry on its command line.
func ValidatePropertyValue(prop, value string) error {
	if strings.ContainsAny(value, "\x00\n\r") {
		return fmt.Errorf("property %s: value %q holds a NUL or newline: %w", prop, value, ErrInvalidProperty)
	}
	if len(value) > maxUserPropValueLen {
		return fmt.Errorf("property %s: value is %d bytes, more than %d: %w", prop, len(value), maxUserPropValueLen, ErrInvalidProperty)
	}
	return nil
}

func validateLength(name string) error {
	if name == "" {
		return fmt.Errorf("empty: %w", ErrInvalidName)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%d characters, more than %d: %w", len(name), maxNameLen, ErrInvalidName)
	}
	return nil
}

// validateComponent checks one part of a name between '/' (or after '@').
// zfs(8): alphanumerics plus '_', '-', ':', '.'; we also refuse what zfs
// would accept but a shell or option parser would misread.
func validateComponent(c string) error {
	switch {
	case c == "":
		return fmt.Errorf("empty component: %w", ErrInvalidName)
	case c == "." || c == "..":
		return fmt.Errorf("component %q not allowed: %w", c, ErrInvalidName)
	case c[0] == '-':
		return fmt.Errorf("must not begin with '-': %w", ErrInvalidName)
	}
	for _, r := range c {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '_', r == '-', r == ':', r == '.':
		default:
			return fmt.Errorf("character %q not allowed: %w", r, ErrInvalidName)
		}
	}
	return nil
}
