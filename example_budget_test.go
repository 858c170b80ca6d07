package credits_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/avstudio/credits"
)

// A team spends from one balance through two API keys, each with a daily
// cap, and all keys together with a monthly one. A charge over a cap is
// refused with the details a 429 response needs, in the same atomic step
// as the balance check: parallel requests of one key cannot overspend it.
func ExampleLedger_SetBudget() {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	ledger := credits.NewMemoryLedger(credits.Options{Now: func() time.Time { return now }})
	ledger.Grant(ctx, "acme", credits.GrantRequest{Key: "order-1", Amount: 500 * credits.Credit, Source: credits.SourceTopUp})

	paris, _ := time.LoadLocation("Europe/Paris")
	ledger.SetBudget(ctx, "acme", credits.BudgetRequest{Key: "cap/key_live_1", Spender: "key_live_1", Cap: 100 * credits.Credit, Window: credits.Day(paris)})
	ledger.SetBudget(ctx, "acme", credits.BudgetRequest{Key: "cap/key_live_2", Spender: "key_live_2", Cap: 30 * credits.Credit, Window: credits.Day(paris)})
	ledger.SetBudget(ctx, "acme", credits.BudgetRequest{Key: "cap/keys", Spender: "key_*", Cap: 300 * credits.Credit, Window: credits.Month(paris)})

	// Requests that came in with key_live_2: each charge names it.
	for i := range 2 { // a 1080p clip is 20 credits
		_, err := ledger.Charge(ctx, "acme", credits.ChargeRequest{Key: fmt.Sprint("req-", i), Action: credits.VideoGeneration,
			Resolution: credits.Res1080p, Spender: "key_live_2"})
		var over *credits.BudgetExceededError
		if errors.As(err, &over) {
			fmt.Printf("req-%d refused: %s spent %s of %s per %s, resets %s\n", i, over.Spender, over.Spent, over.Cap, over.Window, over.ResetsAt.In(paris).Format(time.DateTime))
		}
	}
	for _, u := range must(ledger.Usage(ctx, "acme", "key_live_2")) {
		fmt.Printf("budget %q: spent %s, held %s, remaining %s\n", u.Budget.Spender, u.Spent, u.Held, u.Remaining)
	}
	// Output:
	// req-1 refused: key_live_2 spent 20 of 30 per day in Europe/Paris, resets 2026-06-02 00:00:00
	// budget "key_live_2": spent 20, held 0, remaining 10
	// budget "key_*": spent 20, held 0, remaining 280
}

// A public-API job paid step by step: its render fails and is retried
// inside the same hold, then succeeds; the user pays the estimate once.
func ExampleLedger_StartJob() {
	ctx := context.Background()
	ledger := credits.NewMemoryLedger(credits.Options{})
	ledger.ClaimFreeTier(ctx, "ana", "ana@example.com")

	table, _ := ledger.Prices().At(ledger.Now())
	est, _ := table.EstimateJob(credits.Job{Pipeline: credits.PromptToMP4, Prompt: "a product tour",
		Uploads: []credits.Upload{{Name: "intro.mp4"}}})
	run, err := ledger.StartJob(ctx, "ana", credits.JobRequest{Key: "job-7", Estimate: est, Spender: "key_live_1"})
	if err != nil {
		fmt.Println(err) // ErrInsufficientCredits or ErrBudgetExceeded: nothing held
		return
	}
	run.Complete(ctx, credits.StepUploads)
	run.Complete(ctx, credits.StepAICreation)
	run.Retry(ctx, credits.StepRender) // the render failed: run it again, nothing held twice
	run.Complete(ctx, credits.StepRender)

	// After a crash, the run is rebuilt from the ledger alone.
	again := must(ledger.Job(ctx, "ana", "job-7"))
	b := must(ledger.Balance(ctx, "ana"))
	fmt.Printf("%s: estimate %s, balance %s, held %s\n", again.Status, est.Total, b.Total, b.Held)
	// Output:
	// completed: estimate 13, balance 17, held 0
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
