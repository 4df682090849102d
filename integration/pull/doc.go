// Package pull holds the end-to-end tests of pulling from a real registry
// (integration/registrytest) into the zfslxc snapshotter with ctr and
// nerdctl, on containerd 1.6 (client-side unpack) and 2.4 (transfer
// service with an unpack_config entry), and running what was pulled with
// the LXC shim.
package pull
