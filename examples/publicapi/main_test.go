package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// TestRun runs the program and checks what it prints against what the
// estimator and the free tier say, so a change of prices changes the
// expectation with it: the first job pays its estimate once, though its
// render ran twice; the second, whose render failed for good, pays all
// but its render.
func TestRun(t *testing.T) {
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	if err := run(context.Background(), &out, func() time.Time { return now }); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)

	table, err := credits.DefaultPriceBook().At(now)
	if err != nil {
		t.Fatal(err)
	}
	balance := 30 * credits.Credit
	var want []string
	for _, j := range jobs {
		est, err := table.EstimateJob(j.job)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s: %s, estimate %s credits (prices %s)", j.id, est.Pipeline, est.Total, est.PriceVersion))
		steps := map[credits.JobStep]credits.Credits{}
		for _, line := range est.Lines {
			want = append(want, fmt.Sprintf("%s %d x %s = %s", line.Action, line.Quantity, line.UnitPrice, line.Subtotal))
			steps[credits.StepOf(line.Action)] += line.Subtotal
		}
		want = append(want, fmt.Sprintf("held %s credits", est.Total),
			fmt.Sprintf("uploads done: captured %s credits", steps[credits.StepUploads]),
			fmt.Sprintf("public_api_ai_creation done: captured %s credits", steps[credits.StepAICreation]))
		if j.renderFails < 0 {
			want = append(want, fmt.Sprintf("render failed (provider): released %s credits", steps[credits.StepRender]))
			balance -= est.Total - steps[credits.StepRender]
			continue
		}
		for attempt := 1; attempt <= j.renderFails; attempt++ {
			want = append(want, fmt.Sprintf("render failed (attempt %d): retried inside hold", attempt))
		}
		want = append(want, fmt.Sprintf("render done: captured %s credits", steps[credits.StepRender]), "completed")
		balance -= est.Total
	}
	want = append(want, fmt.Sprintf("closing %s", balance), fmt.Sprintf("spent by %s: %s", apiKey, 30*credits.Credit-balance),
		fmt.Sprintf("balance %s, held 0, available %s", balance, balance))
	// Compare word by word: the columns' padding is the printer's business.
	flat := strings.Join(strings.Fields(text), " ")
	at := 0
	for _, w := range want {
		i := strings.Index(flat[at:], w)
		if i < 0 {
			t.Fatalf("the output lacks %q (in this order):\n%s", w, text)
		}
		at += i + len(w)
	}

	// The history: the free tier; the first job's hold and its captures,
	// one per line that costs anything; the second's hold, its captures,
	// and the release of the render's credits.
	var kinds []string
	inHistory := false
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "history of"):
			inHistory = true
		case strings.HasPrefix(line, "statement of"):
			inHistory = false
		case inHistory && len(fields) >= 3 && fields[0] != "#":
			kinds = append(kinds, fields[2])
		}
	}
	if got, wantKinds := strings.Join(kinds, " "), "grant hold capture capture capture capture hold capture capture release"; got != wantKinds {
		t.Fatalf("history kinds %q, want %q", got, wantKinds)
	}
}

// TestRunTwiceIsIdempotent runs the walk-through's jobs twice on one
// ledger, as a service retrying after a crash would: nothing is held or
// charged twice.
func TestRunTwiceIsIdempotent(t *testing.T) {
	ctx := context.Background()
	ledger := credits.NewMemoryLedger(credits.Options{Now: func() time.Time { return time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC) }})
	if _, err := ledger.ClaimFreeTier(ctx, account, "ana@example.com"); err != nil {
		t.Fatal(err)
	}
	var first, second credits.Balance
	for i, b := range []*credits.Balance{&first, &second} {
		for _, j := range jobs {
			if err := runJob(ctx, &bytes.Buffer{}, ledger, j.id, j.job, j.renderFails); err != nil {
				t.Fatalf("round %d, %s: %v", i+1, j.id, err)
			}
		}
		var err error
		if *b, err = ledger.Balance(ctx, account); err != nil {
			t.Fatal(err)
		}
	}
	if first != second {
		t.Fatalf("balance after the first run %+v, after the retry %+v", first, second)
	}
}
