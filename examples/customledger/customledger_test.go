package customledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/examples/customledger"
	"github.com/avstudio/credits/ledgertest"
)

// TestConformance is all it takes to know a backend keeps the ledger's
// rules: the suite every backend of the library passes. Checks sets the
// state machine's default effort (10 random cases of about 150 steps,
// up to a second each under the race detector), so that the repository's
// test command stays short; -rapid.checks=1000 runs a deep check.
func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) credits.Backend { return customledger.New() }, ledgertest.Checks(10))
}

// A ledger on the custom backend is used like any other.
func Example() {
	ctx := context.Background()
	ledger := credits.NewLedger(customledger.New(), credits.Options{})
	if _, err := ledger.ClaimFreeTier(ctx, "studio-42", "ana@example.com"); err != nil {
		panic(err)
	}
	if _, err := ledger.Charge(ctx, "studio-42", credits.ChargeRequest{Key: "msg-1", Action: credits.ChatMessage}); err != nil {
		panic(err)
	}
	b, err := ledger.Balance(ctx, "studio-42")
	if err != nil {
		panic(err)
	}
	fmt.Println("available:", b.Available)
	// Output: available: 27
}
