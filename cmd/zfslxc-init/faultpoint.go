//go:build !faultpoints

package main

// faultPoint marks a step of the helper's set-up where a build with
// `-tags faultpoints` can die (the fault-point sweep of make faults,
// integration/shim TestFaultSweep); in a normal build it does nothing.
func faultPoint(join bool, env []string, step string) {}
