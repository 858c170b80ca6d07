package credits_test

import (
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
)

// TestMemoryBackend runs the conformance suite on the in-memory backend:
// the state machine's 100 cases, 25 under the race detector, so that the
// repository's test command stays short; CI's deep run gives 1,000 cases,
// and 200 under the race detector.
func TestMemoryBackend(t *testing.T) {
	checks := 100
	if race {
		checks = 25
	}
	ledgertest.Run(t, func(t *testing.T) credits.Backend { return credits.NewMemoryBackend() }, ledgertest.Checks(checks))
}
