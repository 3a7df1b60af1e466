//go:build !linux

package aiflow

import "time"

// threadCPU returns 0: a thread's CPU time is read on Linux only.
func threadCPU() time.Duration { return 0 }
