package pgledger_test

import (
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
)

// TestConformance runs the conformance suite every backend passes, each
// of its subtests in a fresh schema.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) credits.Backend {
		b, _ := newBackend(t)
		return b
	})
}
