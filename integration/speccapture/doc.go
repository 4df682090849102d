// Package speccapture records the OCI runtime specs (config.json) that
// containerd 1.6 and 2.x really hand to a runtime for `ctr run` and
// `nerdctl run`, for the golden tests of lxcconv.
//
// It is a generator, not a test of zfslxc: TestCapture runs only with
// ZFSLXC_SPECCAPTURE=1 (as root, with containerd, runc and nerdctl
// installed), starts a private containerd of each flavor, runs each case
// with runc, copies the bundle's config.json from containerd's state
// directory and writes it, normalised by Normalize, to
// lxcconv/testdata/real/. See README.md.
package speccapture
