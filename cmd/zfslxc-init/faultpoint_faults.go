//go:build faultpoints

package main

import (
	"os"
	"syscall"
	"time"
)

// A helper built with `-tags faultpoints` (only the fault-point sweep of
// make faults builds it so) stops at the step of its set-up named in the
// process's environment, for the sweep to see what a `kill -9` at that
// moment leaves:
//   - in an exec, ZFSLXC_INIT_FAULT=STEP: it kills itself with SIGKILL
//     when faultArmed exists in the container, removing it first, so the
//     fault fires once and the container's next exec runs;
//   - in the container's init, ZFSLXC_INIT_FAULT_INIT=STEP: PID 1 of a pid
//     namespace cannot be killed from inside it, so it writes the step to
//     faultReached and waits there for the host's kill -9.
const (
	faultEnv     = "ZFSLXC_INIT_FAULT="
	faultInitEnv = "ZFSLXC_INIT_FAULT_INIT="
	faultArmed   = "/.zfslxc-fault-armed"
	faultReached = "/.zfslxc-fault-reached"
)

func faultPoint(join bool, env []string, step string) {
	for _, kv := range env {
		switch {
		case join && kv == faultEnv+step && os.Remove(faultArmed) == nil:
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is delivered before the kill returns; never reached
		case !join && kv == faultInitEnv+step:
			if err := os.WriteFile(faultReached, []byte(step), 0o644); err != nil {
				os.Exit(99) // the sweep then sees a create that failed without reaching the step
			}
			for {
				time.Sleep(time.Hour) // until the host's SIGKILL
			}
		}
	}
}
