package sqliteledger_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

// A ledger in one file: grant the free tier, charge a 1080p video clip,
// and read the balance back after reopening the file.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "credits")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "credits.db")
	ctx := context.Background()

	b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ledger := credits.NewLedger(b, credits.Options{})
	if _, err := ledger.ClaimFreeTier(ctx, "user-42", "ada@example.com"); err != nil {
		log.Fatal(err)
	}
	charge, err := ledger.Charge(ctx, "user-42", credits.ChargeRequest{
		Key: "job-7/video", Action: credits.VideoGeneration, Resolution: credits.Res1080p,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("charged", -charge.Amount, "for", charge.Action, charge.Resolution)
	if err := b.Close(); err != nil {
		log.Fatal(err)
	}

	// Everything acknowledged is in the file.
	b, err = sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	balance, err := credits.NewLedger(b, credits.Options{}).Balance(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("available", balance.Available)
	// Output:
	// charged 20 for video_generation 1080p
	// available 10
}
