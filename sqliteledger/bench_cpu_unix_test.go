//go:build unix

package sqliteledger_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used so far, user and
// system, all threads: a measure of work that, unlike the wall clock,
// does not grow while other processes hold the machine's cores.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
