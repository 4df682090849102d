//go:build faultpoints

package main

import (
	"os"
	"syscall"
)

// faultEnv, set to a step's name in the process's environment, makes a
// helper built with `-tags faultpoints` kill itself with SIGKILL at that
// step, as a `kill -9` from outside at that moment would. Only the
// fault-point sweep (make faults) builds the helper so. PID 1 of a pid
// namespace cannot be killed from inside it: this works for exec
// processes, which are not.
const faultEnv = "ZFSLXC_INIT_FAULT="

func faultPoint(env []string, step string) {
	for _, kv := range env {
		if kv == faultEnv+step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is delivered before the kill returns; never reached
		}
	}
}
