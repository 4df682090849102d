// Package tomlconfig is the one loader of zfslxc's own TOML files (the
// snapshotter's and the shim's configuration). It is strict: a key the
// target has no field for, a value of the wrong type and a value its
// Validate refuses are errors that name the file, the line and the key, and
// are errdefs.ErrInvalidArgument. A missing file is fine only when nobody
// named it (the built-in default path).
package tomlconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/pelletier/go-toml/v2"
)

// Validator is a configuration that checks its own values after decoding.
// Its errors should name the key (see Invalid).
type Validator interface {
	Validate() error
}

// Load decodes the file at path over v, which holds the defaults, and then
// calls v.Validate when v is a Validator. A file that does not exist is not
// an error when named is false: v keeps its defaults and found is false.
func Load(path string, named bool, v any) (found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !named {
		if val, ok := v.(Validator); ok {
			if err := val.Validate(); err != nil {
				return false, fmt.Errorf("defaults: %w", err)
			}
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	return true, Parse(path, b, v)
}

// Parse decodes data (read from source, which errors name: a file, or
// "runtime options" for an inline table) over v, refusing unknown keys, and
// then calls v.Validate when v is a Validator.
func Parse(source string, data []byte, v any) error {
	if err := Decode(source, data, v); err != nil {
		return err
	}
	if val, ok := v.(Validator); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
	}
	return nil
}

// Decode decodes data (read from name) over v, refusing unknown keys.
func Decode(name string, data []byte, v any) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var sm *toml.StrictMissingError
	if errors.As(err, &sm) {
		var msgs []string
		for i := range sm.Errors {
			e := &sm.Errors[i]
			row, col := e.Position()
			msgs = append(msgs, fmt.Sprintf("%s:%d:%d: unknown key %s", name, row, col, keyString(e.Key())))
		}
		return fmt.Errorf("%s: %w", strings.Join(msgs, "; "), errdefs.ErrInvalidArgument)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		if k := de.Key(); len(k) > 0 {
			return fmt.Errorf("%s:%d:%d: key %s: %s: %w", name, row, col, keyString(k), strings.TrimPrefix(de.Error(), "toml: "), errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("%s:%d:%d: %s: %w", name, row, col, strings.TrimPrefix(de.Error(), "toml: "), errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%s: %w: %w", name, err, errdefs.ErrInvalidArgument)
}

// Invalid is the error of a value Validate refuses: it names the key, the
// value and what is wanted, and is errdefs.ErrInvalidArgument.
func Invalid(key, value, want string) error {
	return fmt.Errorf("%s = %q: %s: %w", key, value, want, errdefs.ErrInvalidArgument)
}

// keyString joins a TOML key's parts with dots (a.b.c).
func keyString(k toml.Key) string {
	return strings.Join(k, ".")
}
