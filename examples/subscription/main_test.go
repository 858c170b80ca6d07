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

// TestYear checks what the program prints against the ledger it played
// the year on: twelve monthly rows that each add up, chain, and say what
// the ledger's statements say; the subscription's credits each period; and
// the balance at the end.
func TestYear(t *testing.T) {
	var out bytes.Buffer
	rep, err := run(&out)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lines := strings.Split(out.String(), "\n")

	var rows [][]string
	for _, line := range lines {
		if f := strings.Fields(line); len(f) == 10 && f[1] == "→" {
			rows = append(rows, f)
		}
	}
	if len(rows) != 12 || len(rep.statements) != 12 {
		t.Fatalf("%d rows and %d statements, want 12 of each:\n%s", len(rows), len(rep.statements), out.String())
	}
	ny := rep.sub.Location
	var prev credits.Credits
	for i, st := range rep.statements {
		// The row is the statement.
		f := rows[i]
		want := []string{st.Period.Start.Format("2006-01-02"), "→", st.Period.End.Format("01-02"), rep.sub.PlanAt(st.Period.Start).Name,
			st.Opening.String(), st.TotalGranted().String(), st.TotalSpent().String(), st.Refunded.String(), st.Expired.String(), st.Closing.String()}
		if strings.Join(f, " ") != strings.Join(want, " ") {
			t.Errorf("row %d: %v, statement says %v", i, f, want)
		}
		// It adds up, and opens where the last one closed.
		if st.Opening+st.TotalGranted()+st.Refunded-st.TotalSpent()-st.Expired != st.Closing {
			t.Errorf("row %d does not add up: %v", i, f)
		}
		if st.Opening != prev {
			t.Errorf("row %d opens at %s, the one before closed at %s", i, st.Opening, prev)
		}
		prev = st.Closing
		// Periods start on the anchor's day (the 31st), clamped, at 09:00
		// New York time, in winter and in summer.
		s := st.Period.Start.In(ny)
		last := time.Date(s.Year(), s.Month()+1, 0, 0, 0, 0, 0, ny).Day()
		if s.Day() != min(31, last) || s.Hour() != 9 || s.Minute() != 0 {
			t.Errorf("period %d starts %s", i, s)
		}
		// The plan's credits arrive once a period.
		var sub credits.Credits
		for _, g := range st.Granted {
			if g.Source == credits.SourceSubscription {
				sub += g.Amount
			}
		}
		if plan := rep.sub.PlanAt(st.Period.Start); sub != plan.Credits {
			t.Errorf("period %d granted %s of %s's %s", i, sub, plan.Name, plan.Credits)
		}
		if rep.refused[i] != 0 {
			t.Errorf("period %d refused %d charges; the story has none", i, rep.refused[i])
		}
	}

	// The last line is the balance after the next renewal: the last
	// closing, with the 13th period's statement so far.
	next := rep.sub.PeriodAt(rep.statements[11].Period.End)
	st13, err := rep.ledger.Statement(ctx, rep.account, next)
	if err != nil {
		t.Fatal(err)
	}
	bal, err := rep.ledger.Balance(ctx, rep.account)
	if err != nil {
		t.Fatal(err)
	}
	if st13.Opening != prev || st13.Closing != bal.Total || bal.Total != rep.final.Total {
		t.Errorf("13th period opens at %s (last closing %s), closes at %s; balance %s, printed %s", st13.Opening, prev, st13.Closing, bal.Total, rep.final.Total)
	}
	if wantLast := fmt.Sprintf("%s credits, its grant included.", bal.Total); !strings.Contains(out.String(), wantLast) {
		t.Errorf("last line does not say %q:\n%s", wantLast, out.String())
	}

	// The upgrade took effect at the period after the one it was made in:
	// the eighth.
	if rep.sub.PlanAt(rep.statements[6].Period.Start).Name != "Creator" || rep.sub.PlanAt(rep.statements[7].Period.Start).Name != "Studio" {
		t.Error("the upgrade did not take effect at the next period")
	}

	// The same story prints the same page.
	var again bytes.Buffer
	if _, err := run(&again); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Error("two runs printed different pages")
	}
}
