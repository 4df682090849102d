// Package version holds the build's version, stamped by the Makefile with
// -ldflags "-X github.com/zfslxc/zfslxc/internal/version.Version=…".
package version

import "runtime/debug"

// Version is the release or `git describe` of this build.
var Version = "dev"

// Revision is the git commit of this build.
var Revision = ""

// String returns "VERSION (REVISION)", using the module build info when the
// linker did not stamp a revision.
func String() string {
	rev := Revision
	if rev == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
	}
	if rev == "" {
		return Version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return Version + " (" + rev + ")"
}
