package pgledger_test

import (
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
)

// TestConformance runs the conformance suite every backend passes, each
// of its subtests in a fresh schema. By default the state machine runs 25
// cases (each about 130 ms of round trips to the server), 10 under the
// race detector (1.5 s each), so that the repository's test command stays
// short; CI's deep run gives -rapid.checks=1000.
func TestConformance(t *testing.T) {
	checks := 25
	if race {
		checks = 10
	}
	ledgertest.Run(t, func(t *testing.T) credits.Backend {
		b, _ := newBackend(t)
		return b
	}, ledgertest.Checks(checks))
}
