package credits_test

import (
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"pgregory.net/rapid"
)

var forecastNow = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)

// genHistory draws an account's history: entries of every kind that moves
// credits, at random instants from 60 days before now to a day after it,
// in ID (and time) order.
func genHistory(t *rapid.T) []credits.Entry {
	n := rapid.IntRange(0, 60).Draw(t, "entries")
	var out []credits.Entry
	for i := range n {
		kind := rapid.SampledFrom([]credits.Kind{credits.KindGrant, credits.KindCharge, credits.KindCapture,
			credits.KindRefund, credits.KindHold, credits.KindRelease, credits.KindExpire}).Draw(t, "kind")
		amount := credits.Credits(rapid.Int64Range(1, 1_000_000*int64(credits.Credit)).Draw(t, "amount"))
		e := credits.Entry{ID: int64(i + 1), Kind: kind,
			Time: forecastNow.Add(time.Duration(rapid.Int64Range(int64(-60*24*time.Hour), int64(24*time.Hour)).Draw(t, "at")))}
		switch kind {
		case credits.KindGrant, credits.KindRefund:
			e.Amount = amount
		case credits.KindCharge, credits.KindCapture, credits.KindExpire:
			e.Amount = -amount
		case credits.KindHold:
			e.Held = amount
		case credits.KindRelease:
			e.Held = -amount
		}
		out = append(out, e)
	}
	// Sometimes a steady burn too, where the rate is the highest rate and
	// the promise is tight.
	if rapid.Bool().Draw(t, "steady") {
		each := credits.Credits(rapid.Int64Range(1, int64(1000*credits.Credit)).Draw(t, "each"))
		days := rapid.IntRange(1, 45).Draw(t, "days")
		for d := range days {
			out = append(out, credits.Entry{Kind: credits.KindCharge, Amount: -each,
				Time: forecastNow.Add(-time.Duration(d+1)*24*time.Hour + time.Second)})
		}
	}
	slices.SortStableFunc(out, func(a, b credits.Entry) int { return a.Time.Compare(b.Time) })
	for i := range out {
		out[i].ID = int64(i + 1)
	}
	return out
}

// genBalance draws an available balance: mostly one a forecast can reach,
// sometimes any.
func genBalance(t *rapid.T) credits.Credits {
	return credits.Credits(rapid.OneOf(rapid.Int64Range(1, int64(100_000*credits.Credit)),
		rapid.Int64Range(1, int64(credits.MaxCredits))).Draw(t, "balance"))
}

// The promise: a forecast is never earlier than a constant burn at the
// highest daily rate observed would give.
func TestForecastNeverEarlierThanMaxRate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t)
		balance := genBalance(t)
		f, ok := credits.Forecast(h, balance, forecastNow)
		if !ok {
			return
		}
		if f.MaxPerDay <= 0 || f.PerDay > f.MaxPerDay {
			t.Fatalf("rate %s per day, max %s", f.PerDay, f.MaxPerDay)
		}
		// now + balance × 24h / max, rounded down, in exact arithmetic.
		q := new(big.Int).Mul(big.NewInt(int64(balance)), big.NewInt(int64(24*time.Hour)))
		q.Quo(q, big.NewInt(int64(f.MaxPerDay)))
		got := big.NewInt(int64(f.RunOut.Sub(forecastNow)))
		if got.Cmp(q) < 0 {
			t.Fatalf("runs out in %s, before the %s a constant burn at %s a day gives", f.RunOut.Sub(forecastNow), time.Duration(q.Int64()), f.MaxPerDay)
		}
		if f.RunOut.Sub(forecastNow) > credits.ForecastHorizon {
			t.Fatalf("run-out %s is beyond the horizon", f.RunOut)
		}
	})
}

// Too little history is no forecast, whatever was spent in it.
func TestForecastNeedsHistory(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t)
		balance := genBalance(t)
		f, ok := credits.Forecast(h, balance, forecastNow)
		young := len(h) == 0 || forecastNow.Sub(h[0].Time) < credits.MinForecastDays*24*time.Hour
		if young && ok {
			t.Fatalf("a forecast (%s) from history starting %v", f.RunOut, h)
		}
		if ok && (f.Days < credits.MinForecastDays || f.Days > 30) {
			t.Fatalf("a forecast over %d days", f.Days)
		}
		if !ok && !f.RunOut.IsZero() {
			t.Fatalf("no forecast, yet a run-out %s", f.RunOut)
		}
	})
}

// Only the window's spending counts: entries that are not spending, and
// entries older than the window (after the first, which dates the
// account), change nothing.
func TestForecastReadsOnlyTheWindowsSpending(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHistory(t)
		if len(h) == 0 {
			return
		}
		balance := credits.Credits(rapid.Int64Range(1, 1<<50).Draw(t, "balance"))
		want, wantOK := credits.Forecast(h, balance, forecastNow)
		since := forecastNow.Add(-credits.ForecastWindow)
		var kept []credits.Entry
		for i, e := range h {
			spending := e.Kind == credits.KindCharge || e.Kind == credits.KindCapture || e.Kind == credits.KindRefund
			if i == 0 || (spending && !e.Time.Before(since)) {
				kept = append(kept, e)
			}
		}
		got, gotOK := credits.Forecast(kept, balance, forecastNow)
		if got != want || gotOK != wantOK {
			t.Fatalf("with the window's spending only: %+v %v; with all: %+v %v", got, gotOK, want, wantOK)
		}
	})
}

// A steady burn is forecast exactly.
func TestForecastSteadyBurn(t *testing.T) {
	var h []credits.Entry
	h = append(h, credits.Entry{ID: 1, Kind: credits.KindGrant, Amount: 1000 * credits.Credit, Time: forecastNow.Add(-40 * 24 * time.Hour)})
	for d := range 30 {
		h = append(h, credits.Entry{ID: int64(len(h) + 1), Kind: credits.KindCharge, Amount: -4 * credits.Credit,
			Time: forecastNow.Add(-time.Duration(30-d)*24*time.Hour + time.Hour)})
	}
	f, ok := credits.Forecast(h, 100*credits.Credit, forecastNow)
	if !ok || f.PerDay != 4*credits.Credit || f.MaxPerDay != 4*credits.Credit || f.Days != 30 {
		t.Fatalf("got %+v, %v", f, ok)
	}
	if want := forecastNow.Add(25 * 24 * time.Hour); !f.RunOut.Equal(want) {
		t.Fatalf("runs out %s, want %s", f.RunOut, want)
	}

	// A refund gives back what a day spent.
	h = append(h, credits.Entry{ID: int64(len(h) + 1), Kind: credits.KindRefund, Amount: 30 * credits.Credit, Time: forecastNow.Add(-time.Minute)})
	f, ok = credits.Forecast(h, 100*credits.Credit, forecastNow)
	if !ok || f.PerDay != 3*credits.Credit {
		t.Fatalf("after a refund: %+v, %v", f, ok)
	}
	// An empty balance has run out.
	if f, ok := credits.Forecast(h, 0, forecastNow); !ok || !f.RunOut.Equal(forecastNow) {
		t.Fatalf("empty balance: %+v, %v", f, ok)
	}
	// Nothing spent: no forecast.
	if _, ok := credits.Forecast(h[:1], 100*credits.Credit, forecastNow); ok {
		t.Fatal("a forecast without spending")
	}
	// A burn too slow to use the balance up within the horizon.
	if f, ok := credits.Forecast(h, credits.MaxCredits, forecastNow); ok {
		t.Fatalf("a forecast %s beyond the horizon", f.RunOut)
	}
}

// An account that spent 120 credits over the last 30 days, 4 a day, runs
// out of its 100 in 25 days.
func ExampleForecast() {
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	history := []credits.Entry{{ID: 1, Kind: credits.KindGrant, Amount: 220 * credits.Credit, Time: now.AddDate(0, -2, 0)}}
	for d := 30; d > 0; d-- {
		history = append(history, credits.Entry{ID: int64(len(history) + 1), Kind: credits.KindCharge,
			Amount: -4 * credits.Credit, Time: now.Add(-time.Duration(d) * 24 * time.Hour)})
	}
	f, ok := credits.Forecast(history, 100*credits.Credit, now)
	fmt.Println(ok, f.PerDay, "a day over", f.Days, "days; runs out", f.RunOut.Format(time.DateOnly))

	// A week-old account has too little history.
	_, ok = credits.Forecast(history[len(history)-5:], 100*credits.Credit, now)
	fmt.Println(ok)
	// Output:
	// true 4 a day over 30 days; runs out 2026-04-25
	// false
}
