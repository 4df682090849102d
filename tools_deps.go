//go:build tools

package zfslxc

import (
	_ "github.com/containerd/containerd/api/services/snapshots/v1"
	_ "github.com/containerd/containerd/v2/contrib/snapshotservice"
	_ "github.com/containerd/containerd/v2/core/snapshots"
	_ "github.com/containerd/containerd/v2/core/snapshots/storage"
	_ "github.com/containerd/containerd/v2/core/snapshots/testsuite"
	_ "github.com/containerd/continuity/fs"
	_ "github.com/containerd/errdefs"
	_ "github.com/containerd/log"
	_ "github.com/opencontainers/image-spec/specs-go/v1"
	_ "github.com/opencontainers/runtime-spec/specs-go"
	_ "github.com/pelletier/go-toml/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/sirupsen/logrus"
)
