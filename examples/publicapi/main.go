// Command publicapi shows the life of a paid public-API job: estimate it,
// hold the estimate on the account while the job runs, then capture the
// hold if the job succeeded or release it if it failed, and print the
// account's statement.
//
//	go run ./examples/publicapi
//
// It runs two jobs on an account that claimed its free tier: the first
// renders, the second fails, so both ends of a hold are shown.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/avstudio/credits"
)

const account = "studio-42"

// jobs are the two requests the program runs, and whether the renderer
// (simulated here) succeeds at each.
var jobs = []struct {
	id      string
	job     credits.Job
	succeed bool
}{
	{"job-1", credits.Job{
		Pipeline: credits.PromptToMP4,
		Prompt:   "A 30-second product tour with upbeat music, ending on our logo",
		Uploads:  []credits.Upload{{Name: "intro.mp4"}},
		RemoteAssets: []credits.RemoteAsset{
			{URL: "https://cdn.example.com/music/theme.mp3"},
			{URL: "https://cdn.example.com/brand/logo.png"},
		},
	}, true},
	{"job-2", credits.Job{
		Pipeline:     credits.JSONToMP4,
		RemoteAssets: []credits.RemoteAsset{{URL: "https://cdn.example.com/clips/b-roll.mov"}},
	}, false},
}

func main() {
	if err := run(context.Background(), os.Stdout, time.Now); err != nil {
		fmt.Fprintln(os.Stderr, "publicapi:", err)
		os.Exit(1)
	}
}

// run does the whole walk-through on a new in-memory ledger whose clock
// is now, writing what happens to w.
func run(ctx context.Context, w io.Writer, now func() time.Time) error {
	ledger := credits.NewMemoryLedger(credits.Options{Now: now})

	// The user verified their email: 30 free credits, once per account and
	// once per (normalized) address.
	if _, err := ledger.ClaimFreeTier(ctx, account, "ana@example.com"); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := runJob(ctx, w, ledger, j.id, j.job, j.succeed); err != nil {
			return err
		}
	}
	return printStatement(ctx, w, ledger)
}

// runJob estimates one job, holds the estimate, runs the job, and settles
// the hold. Every ledger call carries an idempotency key derived from the
// job's ID, so a retry after a crash or a timeout is safe.
func runJob(ctx context.Context, w io.Writer, ledger *credits.Ledger, id string, job credits.Job, succeed bool) error {
	table, err := ledger.Prices().At(ledger.Now())
	if err != nil {
		return err
	}
	est, err := table.EstimateJob(job)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err) // an *InputError naming the field: a 400 for the client
	}
	fmt.Fprintf(w, "%s: %s, estimate %s credits (prices %s)\n", id, est.Pipeline, est.Total, est.PriceVersion)
	for _, line := range est.Lines {
		fmt.Fprintf(w, "  %-24s %d x %s = %s\n", line.Action, line.Quantity, line.UnitPrice, line.Subtotal)
	}

	// Reserve the estimate for as long as the job may take. If the
	// account cannot cover it, the job is refused before it starts.
	meta := map[string]string{"job": id, "price_version": est.PriceVersion}
	hold, err := ledger.Hold(ctx, account, credits.HoldRequest{
		Key: id + "/hold", Amount: est.Total, Deadline: ledger.Now().Add(30 * time.Minute), Metadata: meta,
	})
	var short *credits.InsufficientCreditsError
	if errors.As(err, &short) {
		fmt.Fprintf(w, "  refused: %s credits short\n", short.Shortfall)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  held %s credits (hold %d)\n", hold.Held, hold.ID)

	if render(job, succeed) {
		// Success: spend what was estimated. (A job that cost less would
		// capture less; the rest goes back to the account.)
		if _, err := ledger.Capture(ctx, account, credits.CaptureRequest{Key: id + "/capture", Hold: hold.ID, Amount: est.Total, Metadata: meta}); err != nil {
			return err
		}
		fmt.Fprintf(w, "  rendered: captured %s credits\n", est.Total)
	} else {
		if _, err := ledger.Release(ctx, account, credits.ReleaseRequest{Key: id + "/release", Hold: hold.ID, Metadata: meta}); err != nil {
			return err
		}
		fmt.Fprintf(w, "  failed: released %s credits\n", hold.Held)
	}
	return nil
}

// render stands in for the real renderer.
func render(_ credits.Job, succeed bool) bool { return succeed }

// printStatement prints the account's history, oldest first, and its
// balance.
func printStatement(ctx context.Context, w io.Writer, ledger *credits.Ledger) error {
	fmt.Fprintf(w, "\nstatement of %s\n", account)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\ttime\tkind\tamount\theld\tbalance\tjob\t")
	q := credits.HistoryQuery{Limit: 50}
	for {
		page, err := ledger.History(ctx, account, q)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", e.ID, e.Time.Format("15:04:05"), e.Kind, e.Amount, e.Held, e.BalanceAfter, e.Metadata["job"])
		}
		if page.Next == 0 {
			break
		}
		q.After = page.Next
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b, err := ledger.Balance(ctx, account)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "balance %s, held %s, available %s\n", b.Total, b.Held, b.Available)
	return nil
}
