package credits_test

import (
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
)

// TestMemoryBackend runs the conformance suite on the in-memory backend.
// CI raises the state machine's cases with -rapid.checks=1000.
func TestMemoryBackend(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) credits.Backend { return credits.NewMemoryBackend() })
}
