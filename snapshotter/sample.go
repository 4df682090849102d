package snapshotter

import _ "embed"

// SampleConfig is the commented configuration file of zfslxc-snapshotter
// (`zfslxc-snapshotter --print-config`, `zfslxc config snapshotter`,
// docs/snapshotter.toml).
//
//go:embed sample.toml
var SampleConfig string
