//go:build race

package credits_test

// race reports a race-detector build, under which a state-machine case
// of the memory backend takes about half a second instead of 20 ms.
const race = true
