package imagebuild

import (
	"archive/tar"
	"bytes"
	"fmt"
)

// RawTar writes a layer tar of hdrs exactly as given (names with "..",
// absolute names, links anywhere: what an attacker writes, which Layer
// refuses to make); a regular file holds data[its name], a header's mode 0
// becomes 0644.
func RawTar(hdrs []tar.Header, data map[string]string) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		h.Format = tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data[h.Name]))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(data[h.Name])); err != nil {
				return nil, fmt.Errorf("entry %q: %w", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
