package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestExpectationVerify(t *testing.T) {
	e := Expectation{
		Files:    map[string]string{"/a": "x"},
		Absent:   []string{"/gone"},
		Dirs:     map[string][]string{"/d": {"a", "b"}},
		Symlinks: map[string]string{"/l": "a"},
		Modes:    map[string]string{"/a": "644:0:0"},
	}
	sum := sha256.Sum256([]byte("x"))
	good := fmt.Sprintf("file /a %s\nabsent /gone yes\ndir /d a,b,\nlink /l a\nmode /a 644:0:0\nend\n", hex.EncodeToString(sum[:]))
	tests := []struct {
		name    string
		output  string
		wantErr string
	}{
		{"all good", good, ""},
		{"wrong content", strings.Replace(good, hex.EncodeToString(sum[:]), "00", 1), "file /a"},
		{"missing file", strings.Replace(good, "file /a "+hex.EncodeToString(sum[:]), "file /a missing", 1), "file /a"},
		{"present", strings.Replace(good, "absent /gone yes", "absent /gone no", 1), "absent /gone"},
		{"extra dir entry", strings.Replace(good, "a,b,", "a,b,c,", 1), "dir /d"},
		{"truncated", strings.Replace(good, "end\n", "", 1), "did not reach its end"},
		{"empty", "", "no output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Verify(tt.output)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Verify: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Verify error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestExpectationScript(t *testing.T) {
	s := MultiLayerExpected().Script()
	for _, want := range []string{"sha256sum < '/data/keep.txt'", "absent /data/gone.txt", "ls -A '/data/opaque'", "readlink '/data/link'", "stat -c %a:%u:%g '/data/private.txt'", "echo end"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}
