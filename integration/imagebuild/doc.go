// Package imagebuild builds OCI images for tests, where there is no
// registry and no Docker: a Go description of layers (files, directories,
// links, whiteouts, opaque directories, xattrs, large generated files)
// becomes an OCI image layout tar for `ctr images import`.
//
// # Layout
//
// Image.WriteLayout writes oci-layout, index.json and blobs/sha256/… with
// fixed modification times, so the same Image always yields the same
// manifest digest (gzip output depends on the Go version's compress/flate).
// The config lists the diffIDs (digests of the uncompressed tars); the
// manifest lists the blob digests (of the gzip stream for Gzip layers) with
// the media types application/vnd.oci.image.layer.v1.tar[+gzip].
//
// # Naming on import
//
// The manifest descriptor in index.json carries two annotations:
// org.opencontainers.image.ref.name (the tag, "latest") and
// io.containerd.image.name (the full name, "docker.io/zfslxc/test:latest").
// Both ctr versions we test name the image from the second one, so a plain
//
//	ctr -a SOCK images import --snapshotter native image.tar
//
// creates "docker.io/zfslxc/test:latest":
//
//   - containerd 1.6 (Debian's ctr) imports in the client and takes
//     io.containerd.image.name verbatim, even when --base-name is given.
//     With only the ref.name annotation the image would be
//     "import-<yyyy-mm-dd>:latest" (or "<--base-name>:latest").
//     --index-name names the index instead, which tests do not need. The
//     layers are unpacked into --snapshotter right after the import.
//   - containerd 2.x ctr imports through the daemon's transfer service
//     (--local, which 1.6's ctr does not know, imports in the client as
//     1.6 does). The transfer service also takes io.containerd.image.name
//     as is when no --base-name is given; with --base-name, a full name
//     that does not start with that base is dropped. It unpacks only into
//     snapshotters listed in the daemon's
//     [plugins."io.containerd.transfer.v1.local"] unpack_config (by default
//     overlayfs, and erofs if available): `--snapshotter native` (or a
//     proxy snapshotter) without an entry fails with "unable to initialize
//     unpacker: no unpack platforms defined: invalid argument" and imports
//     nothing. The integration test's config adds the entry.
//   - 2.x ctr prints warnings (cgroup v1 deprecation) on stderr: keep
//     stderr apart from the stdout of `ctr run`.
//
// # Test image
//
// MultiLayerTestImage is the image the snapshotter and runtime integration
// tests share, on top of BusyboxLayer (Debian's busybox-static); its
// Expectation (MultiLayerExpected) renders as a shell script to run in the
// container and checks that script's output. LargeFileLayer makes layers
// of any size without holding them in memory.
package imagebuild
