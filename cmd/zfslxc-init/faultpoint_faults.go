//go:build faultpoints

package main

import (
	"os"
	"syscall"
)

// A helper built with `-tags faultpoints` (only the fault-point sweep of
// make faults builds it so) kills itself with SIGKILL at the step named
// by ZFSLXC_INIT_FAULT in the process's environment, as a `kill -9` from
// outside at that moment would, when it runs an exec (PID 1 of a pid
// namespace cannot be killed from inside it) and faultArmed exists in the
// container; it removes faultArmed first, so the fault fires once and the
// container's next exec runs.
const (
	faultEnv   = "ZFSLXC_INIT_FAULT="
	faultArmed = "/.zfslxc-fault-armed"
)

func faultPoint(join bool, env []string, step string) {
	if !join {
		return
	}
	for _, kv := range env {
		if kv == faultEnv+step && os.Remove(faultArmed) == nil {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is delivered before the kill returns; never reached
		}
	}
}
