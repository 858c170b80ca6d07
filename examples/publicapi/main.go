// Command publicapi shows the life of a paid public-API job as a job run:
// estimate it, hold the estimate on the account while it runs, capture
// each step as it finishes, retry a failed render inside the same hold,
// give back what a failed job did not run, and print the account's
// statement.
//
//	go run ./examples/publicapi
//
// It runs two jobs for one API key on an account that claimed its free
// tier: the first one's render fails once and is retried, and succeeds;
// the second one's render fails on the renderer's side for good, so the
// user pays its uploads and AI creation only, and gets the render's
// credits back.
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

const (
	account = "studio-42"
	apiKey  = "key_live_1" // the spender: the API key the jobs came in with
)

// jobs are the two requests the program runs, and how many times the
// renderer (simulated here) fails each one's render before it succeeds;
// -1: it never does.
var jobs = []struct {
	id          string
	job         credits.Job
	renderFails int
}{
	{"job-1", credits.Job{
		Pipeline: credits.PromptToMP4,
		Prompt:   "A 30-second product tour with upbeat music, ending on our logo",
		Uploads:  []credits.Upload{{Name: "intro.mp4"}},
		RemoteAssets: []credits.RemoteAsset{
			{URL: "https://cdn.example.com/music/theme.mp3"},
			{URL: "https://cdn.example.com/brand/logo.png"},
		},
	}, 1},
	{"job-2", credits.Job{
		Pipeline:     credits.PromptToMP4,
		Prompt:       "Cut the b-roll into a 15-second teaser",
		RemoteAssets: []credits.RemoteAsset{{URL: "https://cdn.example.com/clips/b-roll.mov"}},
	}, -1},
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
	start := ledger.Now()

	// The user verified their email: 30 free credits, once per account and
	// once per (normalized) address.
	if _, err := ledger.ClaimFreeTier(ctx, account, "ana@example.com"); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := runJob(ctx, w, ledger, j.id, j.job, j.renderFails); err != nil {
			return err
		}
	}
	return printStatement(ctx, w, ledger, credits.Period{Start: start, End: start.Add(24 * time.Hour)})
}

// runJob estimates one job and runs it step by step. Every ledger write
// of a run has an idempotency key derived from the job's ID, so running
// the same job again after a crash (or resuming it with ledger.Job) never
// holds or charges twice.
func runJob(ctx context.Context, w io.Writer, ledger *credits.Ledger, id string, job credits.Job, renderFails int) error {
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

	// Hold the estimate for as long as the job may take. If the account
	// (or the key's budget) cannot cover it, the job is refused before it
	// starts.
	run, err := ledger.StartJob(ctx, account, credits.JobRequest{Key: id, Estimate: est, Spender: apiKey,
		Deadline: ledger.Now().Add(30 * time.Minute), Metadata: map[string]string{"job": id}})
	var short *credits.InsufficientCreditsError
	if errors.As(err, &short) {
		fmt.Fprintf(w, "  refused: %s credits short\n", short.Shortfall)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  held %s credits (hold %d)\n", est.Total, run.Holds[0])
	if run.Status == credits.JobCompleted || run.Status == credits.JobFailed {
		// Started before (StartJob with the same key returns the run as
		// the ledger has it): nothing left to do.
		fmt.Fprintf(w, "  %s already\n", run.Status)
		return nil
	}

	for _, st := range run.Steps {
		if st.Done {
			continue // completed before a crash: paid once
		}
		// Each step runs (here: the render is simulated), then is paid.
		for attempt := 1; st.Step == credits.StepRender && !render(attempt, renderFails); attempt++ {
			if renderFails < 0 || attempt == maxAttempts {
				// The renderer is down: the render is not paid, and the
				// rest of the hold goes back.
				es, err := run.Fail(ctx, credits.JobFailure{Kind: credits.FailureProvider, Step: credits.StepRender,
					Metadata: map[string]string{"job": id, "why": "renderer unavailable"}})
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "  render failed (provider): released %s credits\n", -es[len(es)-1].Held)
				return nil
			}
			// The render failed: run it again, inside the same hold (a
			// new one only if the hold lapsed meanwhile).
			if _, err := run.Retry(ctx, credits.StepRender); err != nil {
				return err
			}
			fmt.Fprintf(w, "  render failed (attempt %d): retried inside hold %d\n", attempt, run.Holds[len(run.Holds)-1])
		}
		captures, err := run.Complete(ctx, st.Step)
		if err != nil {
			return err
		}
		var paid credits.Credits
		for _, c := range captures {
			paid -= c.Amount
		}
		fmt.Fprintf(w, "  %s done: captured %s credits\n", st.Step, paid)
	}
	fmt.Fprintf(w, "  %s\n", run.Status)
	return nil
}

// maxAttempts is how many times a render is tried before the job fails.
const maxAttempts = 3

// render stands in for the real renderer: it fails the first fails
// attempts (every one if fails < 0).
func render(attempt, fails int) bool { return fails >= 0 && attempt > fails }

// printStatement prints the account's history, oldest first, and the
// statement of the period, with its spending by action and by spender.
func printStatement(ctx context.Context, w io.Writer, ledger *credits.Ledger, period credits.Period) error {
	fmt.Fprintf(w, "\nhistory of %s\n", account)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\ttime\tkind\taction\tamount\theld\tbalance\tspender\t")
	q := credits.HistoryQuery{Limit: 50}
	for {
		page, err := ledger.History(ctx, account, q)
		if err != nil {
			return err
		}
		for _, e := range page.Entries {
			action := ""
			if e.Action != 0 {
				action = e.Action.String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", e.ID, e.Time.Format("15:04:05"), e.Kind, action, e.Amount, e.Held, e.BalanceAfter, e.Spender)
		}
		if page.Next == 0 {
			break
		}
		q.After = page.Next
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	st, err := ledger.Statement(ctx, account, period)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nstatement of %s\n", account)
	fmt.Fprintf(w, "  opening %s, granted %s, spent %s, refunded %s, closing %s\n", st.Opening, st.TotalGranted(), st.TotalSpent(), st.Refunded, st.Closing)
	for _, line := range st.Spent {
		fmt.Fprintf(w, "  spent on %s: %s (%d units)\n", line.Action, line.Amount, line.Quantity)
	}
	for _, line := range st.Spenders {
		fmt.Fprintf(w, "  spent by %s: %s in %d captures and charges\n", line.Spender, line.Spent, line.Entries)
	}
	b, err := ledger.Balance(ctx, account)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "balance %s, held %s, available %s\n", b.Total, b.Held, b.Available)
	return nil
}
