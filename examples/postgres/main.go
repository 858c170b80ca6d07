// Command postgres runs a credits ledger on PostgreSQL, the way a service
// with many instances does: it connects with a pgx pool, migrates the
// ledger's schema, and then, for one user, claims the free tier, charges a
// chat message, holds credits for a video job and captures what the job
// cost, and prints the balance and the history.
//
//	CREDITS_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres go run ./examples/postgres
//
// Every operation carries an idempotency key, so running it again changes
// nothing: each operation returns the entry its first run stored.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	schema := flag.String("schema", pgledger.DefaultSchema, "the PostgreSQL schema that holds the ledger")
	account := flag.String("account", "user-42", "the account to use")
	flag.Parse()
	url := os.Getenv("CREDITS_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout, url, *schema, *account); err != nil {
		fmt.Fprintln(os.Stderr, "postgres:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, url, schema, account string) error {
	// The pool is the service's own; the ledger only borrows it.
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()

	// Once at start-up, from every instance: safe to run concurrently.
	opts := pgledger.Options{Schema: schema}
	if err := pgledger.Migrate(ctx, pool, opts); err != nil {
		return err
	}
	backend, err := pgledger.New(pool, opts)
	if err != nil {
		return err
	}
	ledger := credits.NewLedger(backend, credits.Options{})

	// The free tier, once per account and once per verified email.
	grant, err := ledger.ClaimFreeTier(ctx, account, account+"@example.com")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "free tier:  %s credits (entry %d)\n", signed(grant.Amount), grant.ID)

	// A chat message, priced by the price table in force.
	charge, err := ledger.Charge(ctx, account, credits.ChargeRequest{Key: "chat-1", Action: credits.ChatMessage})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "chat:       %s credits (entry %d, prices %s)\n", charge.Amount, charge.ID, charge.PriceVersion)

	// A 1080p video job: hold what the estimate says while it runs, then
	// capture what it cost; the rest goes back.
	estimate, err := ledger.Prices().Version(charge.PriceVersion)
	if err != nil {
		return err
	}
	quote, err := estimate.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: credits.Res1080p})
	if err != nil {
		return err
	}
	hold, err := ledger.Hold(ctx, account, credits.HoldRequest{Key: "video-7/hold", Amount: quote.Total + 5*credits.Credit,
		Metadata: map[string]string{"job": "video-7"}})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "hold:       %s credits held for job video-7 (hold %d)\n", hold.Held, hold.ID)
	captured, err := ledger.Capture(ctx, account, credits.CaptureRequest{Key: "video-7/capture", Hold: hold.ID, Amount: quote.Total})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "capture:    %s credits of hold %d (entry %d)\n", captured.Amount, hold.ID, captured.ID)

	bal, err := ledger.Balance(ctx, account)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "balance:    %s total, %s held, %s available\n", bal.Total, bal.Held, bal.Available)

	fmt.Fprintln(w, "history:")
	for q := (credits.HistoryQuery{Limit: 50}); ; {
		page, err := ledger.History(ctx, account, q)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			fmt.Fprintf(w, "  %3d  %-8s %4s  held %4s  balance %4s  %s\n",
				e.ID, e.Kind, signed(e.Amount), signed(e.Held), e.BalanceAfter, describe(e))
		}
		if page.Next == 0 {
			return nil
		}
		q.After = page.Next
	}
}

// describe says what an entry was for.
func describe(e credits.Entry) string {
	var what []string
	switch e.Kind {
	case credits.KindGrant:
		what = append(what, e.Source.String())
	case credits.KindCharge:
		if e.Action != 0 {
			what = append(what, e.Action.String(), "prices "+e.PriceVersion)
		}
	case credits.KindCapture, credits.KindRelease, credits.KindExpire:
		what = append(what, fmt.Sprintf("hold %d", e.Hold))
	}
	if job := e.Metadata["job"]; job != "" {
		what = append(what, "job "+job)
	}
	return strings.Join(what, ", ")
}

// signed prints an amount with its sign.
func signed(c credits.Credits) string {
	if c > 0 {
		return "+" + c.String()
	}
	return c.String()
}
