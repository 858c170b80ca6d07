package credits

// Tests of billing periods, subscriptions, renewal, rollover and
// statements. They are in the package (not credits_test) so that the
// properties can look at lots: which lot a charge drew from, what is left
// in the subscription lots after a period's end.
//
// About instants: the ledger keeps time to the microsecond (Ledger.Now
// truncates its clock), so "one nanosecond before a boundary" is, to the
// ledger, one microsecond before it, and "one nanosecond after" is the
// boundary itself. The boundary tests say so where it matters.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
	_ "time/tzdata" // the zones the tests use, whatever the machine has

	"pgregory.net/rapid"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// testingTB is what the helpers need of a *testing.T, *testing.B or *rapid.T.
type testingTB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func testZone(t testingTB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func testDate(y int, m time.Month, d, hh, mm int, loc *time.Location) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, loc)
}

// subFixture is a memory ledger with a clock the test moves, and one
// account.
type subFixture struct {
	t       *testing.T
	ctx     context.Context
	clock   *testClock
	l       *Ledger
	account string
	keys    int
}

func newSubFixture(t *testing.T, now time.Time) *subFixture {
	c := &testClock{t: now}
	return &subFixture{t: t, ctx: context.Background(), clock: c, l: NewMemoryLedger(Options{Now: c.Now}), account: "acct"}
}

func (f *subFixture) at(t time.Time) *subFixture { f.clock.Set(t); return f }

func (f *subFixture) renew(sub Subscription) []Entry {
	f.t.Helper()
	es, err := f.l.Renew(f.ctx, f.account, sub)
	if err != nil {
		f.t.Fatalf("renew at %s: %v", f.clock.Now(), err)
	}
	return es
}

func (f *subFixture) total() Credits {
	f.t.Helper()
	b, err := f.l.Balance(f.ctx, f.account)
	if err != nil {
		f.t.Fatal(err)
	}
	return b.Total
}

func (f *subFixture) wantTotal(want Credits) {
	f.t.Helper()
	if got := f.total(); got != want {
		f.t.Fatalf("at %s: balance %s, want %s", f.clock.Now().Format(time.RFC3339Nano), got, want)
	}
}

func (f *subFixture) charge(amount Credits) error {
	f.keys++
	_, err := f.l.Charge(f.ctx, f.account, ChargeRequest{Key: fmt.Sprintf("c%d", f.keys), Amount: amount})
	return err
}

func (f *subFixture) mustCharge(amount Credits) {
	f.t.Helper()
	if err := f.charge(amount); err != nil {
		f.t.Fatalf("charge %s at %s: %v", amount, f.clock.Now(), err)
	}
}

func (f *subFixture) history() []Entry {
	f.t.Helper()
	var out []Entry
	q := HistoryQuery{Limit: 1000}
	for {
		p, err := f.l.History(f.ctx, f.account, q)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, p.Entries...)
		if p.Next == 0 {
			return out
		}
		q.After = p.Next
	}
}

// state returns the account's stored state settled at the clock's now, as
// a read sees it.
func (f *subFixture) state() *AccountState {
	f.t.Helper()
	s, err := f.l.backend.Load(f.ctx, f.account)
	if err != nil {
		f.t.Fatal(err)
	}
	settle(s, f.account, f.l.Now())
	return s
}

func (f *subFixture) statement(p Period) Statement {
	f.t.Helper()
	st, err := f.l.Statement(f.ctx, f.account, p)
	if err != nil {
		f.t.Fatal(err)
	}
	checkAddsUp(f.t, st)
	return st
}

func checkAddsUp(t testingTB, st Statement) {
	t.Helper()
	if got := st.Opening + st.TotalGranted() + st.Refunded - st.TotalSpent() - st.Expired; got != st.Closing {
		t.Fatalf("statement does not add up: %s + %s + %s - %s - %s = %s, closing %s",
			st.Opening, st.TotalGranted(), st.Refunded, st.TotalSpent(), st.Expired, got, st.Closing)
	}
}

func testPlan(name string, credits Credits, iv Interval, pol RolloverPolicy) Plan {
	return Plan{Name: name, Credits: credits, Interval: iv, Rollover: pol}
}

func testSub(id string, p Plan, anchor time.Time, loc *time.Location) Subscription {
	return Subscription{ID: id, Anchor: anchor, Location: loc, Plan: p}
}

// grantsOf sums the subscription grants by period start (in Unix
// microseconds).
func grantsOf(es []Entry) map[int64]Credits {
	out := map[int64]Credits{}
	for _, e := range es {
		if e.Kind == KindGrant && e.Source == SourceSubscription {
			out[e.Period.UnixMicro()] += e.Amount
		}
	}
	return out
}

// ---- Billing periods ----

func TestSchedulePeriodsClampToTheAnchorDayWithoutDrifting(t *testing.T) {
	s := Schedule{Anchor: testDate(2026, 1, 31, 10, 0, time.UTC), Interval: Monthly}
	got := s.Periods(s.Anchor, testDate(2028, 5, 1, 0, 0, time.UTC))
	want := map[int]time.Time{ // a few starts, read off a calendar
		1:  testDate(2026, 2, 28, 10, 0, time.UTC),
		2:  testDate(2026, 3, 31, 10, 0, time.UTC),
		3:  testDate(2026, 4, 30, 10, 0, time.UTC),
		4:  testDate(2026, 5, 31, 10, 0, time.UTC),
		25: testDate(2028, 2, 29, 10, 0, time.UTC),
		26: testDate(2028, 3, 31, 10, 0, time.UTC),
	}
	if len(got) != 28 {
		t.Fatalf("%d periods, want 28", len(got))
	}
	for k, start := range want {
		if !got[k].Start.Equal(start) {
			t.Errorf("period %d starts %s, want %s", k, got[k].Start, start)
		}
	}
	for k := 1; k < len(got); k++ {
		if !got[k-1].End.Equal(got[k].Start) {
			t.Errorf("period %d ends %s, period %d starts %s", k-1, got[k-1].End, k, got[k].Start)
		}
	}
}

func TestSchedulePeriodStartingOnFeb29(t *testing.T) {
	feb29 := testDate(2028, 2, 29, 0, 0, time.UTC)
	monthly := Schedule{Anchor: feb29, Interval: Monthly}
	for at, want := range map[time.Time]Period{
		testDate(2028, 3, 1, 0, 0, time.UTC):  {testDate(2028, 2, 29, 0, 0, time.UTC), testDate(2028, 3, 29, 0, 0, time.UTC)},
		testDate(2029, 2, 28, 0, 0, time.UTC): {testDate(2029, 2, 28, 0, 0, time.UTC), testDate(2029, 3, 29, 0, 0, time.UTC)},
		testDate(2029, 2, 27, 0, 0, time.UTC): {testDate(2029, 1, 29, 0, 0, time.UTC), testDate(2029, 2, 28, 0, 0, time.UTC)},
	} {
		if got := monthly.PeriodAt(at); !got.Equal(want) {
			t.Errorf("monthly from Feb 29: PeriodAt(%s) = %s, want %s", at, got, want)
		}
	}
	yearly := Schedule{Anchor: feb29, Interval: Yearly}
	var starts []string
	for _, p := range yearly.Periods(feb29, testDate(2033, 1, 1, 0, 0, time.UTC)) {
		starts = append(starts, p.Start.Format(time.DateOnly))
	}
	if want := []string{"2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"}; !slices.Equal(starts, want) {
		t.Errorf("yearly from Feb 29: starts %v, want %v", starts, want)
	}

	// And a subscription anchored there renews on those days.
	f := newSubFixture(t, feb29)
	s := testSub("y", testPlan("annual", 100*Credit, Yearly, RolloverPolicy{}), feb29, nil)
	f.renew(s)
	if es := f.at(testDate(2029, 2, 27, 23, 59, time.UTC)).renew(s); len(es) != 0 {
		t.Fatalf("renewed before Feb 28, 2029: %v", es)
	}
	es := f.at(testDate(2029, 2, 28, 0, 0, time.UTC)).renew(s)
	if len(es) != 1 || !es[0].Period.Equal(testDate(2029, 2, 28, 0, 0, time.UTC)) {
		t.Fatalf("renewal on Feb 28, 2029: %+v", es)
	}
	f.wantTotal(200 * Credit)
}

func TestScheduleDaylightSavingChangeInsidePeriod(t *testing.T) {
	ny := testZone(t, "America/New_York")
	s := Schedule{Anchor: testDate(2026, 1, 15, 0, 30, ny), Interval: Monthly, Location: ny}
	// Clocks go forward on March 8, 2026, inside [Feb 15, Mar 15).
	spring := s.PeriodAt(testDate(2026, 3, 8, 12, 0, ny))
	if want := (Period{testDate(2026, 2, 15, 5, 30, time.UTC), testDate(2026, 3, 15, 4, 30, time.UTC)}); !spring.Equal(want) {
		t.Fatalf("period over the spring change: %s, want %s", spring, want)
	}
	if d := spring.End.Sub(spring.Start); d != 28*24*time.Hour-time.Hour {
		t.Errorf("period over the spring change lasts %s, want 28 days less an hour", d)
	}
	// Clocks go back on November 1, 2026, inside [Oct 15, Nov 15).
	fall := s.PeriodAt(testDate(2026, 11, 1, 12, 0, ny))
	if want := (Period{testDate(2026, 10, 15, 4, 30, time.UTC), testDate(2026, 11, 15, 5, 30, time.UTC)}); !fall.Equal(want) {
		t.Fatalf("period over the fall change: %s, want %s", fall, want)
	}
	for _, p := range []Period{spring, fall} {
		for _, b := range []time.Time{p.Start, p.End} {
			if l := b.In(ny); l.Hour() != 0 || l.Minute() != 30 || l.Day() != 15 {
				t.Errorf("boundary %s is %s in New York, want the 15th at 00:30", b, l)
			}
		}
	}

	// The ledger agrees: credits that expire with the period are there one
	// microsecond before 04:30 UTC on March 15, gone at 04:30, and the
	// renewal at that instant grants the next period.
	f := newSubFixture(t, spring.Start)
	sb := testSub("ny", testPlan("basic", 10*Credit, Monthly, RolloverPolicy{Mode: RollOverNone}), spring.Start, ny)
	f.renew(sb)
	f.at(spring.End.Add(-time.Microsecond)).wantTotal(10 * Credit)
	f.at(spring.End).wantTotal(0)
	es := f.renew(sb)
	if len(es) != 1 || !es[0].Period.Equal(spring.End) || !es[0].ExpiresAt.Equal(testDate(2026, 4, 15, 4, 30, time.UTC)) {
		t.Fatalf("renewal at the end of the DST period: %+v", es)
	}
}

func TestScheduleWallClockTheZoneSkips(t *testing.T) {
	ny := testZone(t, "America/New_York")
	// 02:30 does not exist on March 8, 2026 in New York: that period
	// starts an hour later on the wall clock (the same instant as 02:30
	// EST would be), and the next one is back at 02:30.
	s := Schedule{Anchor: testDate(2026, 1, 8, 2, 30, ny), Interval: Monthly, Location: ny}
	p := s.PeriodAt(testDate(2026, 3, 20, 0, 0, ny))
	if want := testDate(2026, 3, 8, 7, 30, time.UTC); !p.Start.Equal(want) {
		t.Fatalf("start on the skipped hour: %s, want %s", p.Start, want)
	}
	if want := testDate(2026, 4, 8, 6, 30, time.UTC); !p.End.Equal(want) {
		t.Fatalf("next start: %s, want %s (02:30 EDT)", p.End, want)
	}
	prev := s.PeriodAt(p.Start.Add(-time.Microsecond))
	if !prev.End.Equal(p.Start) {
		t.Fatalf("periods around the skipped hour are not contiguous: %s then %s", prev, p)
	}
}

func TestScheduleValidation(t *testing.T) {
	for name, s := range map[string]Schedule{
		"no anchor":    {Interval: Monthly},
		"no interval":  {Anchor: testDate(2026, 1, 1, 0, 0, time.UTC)},
		"bad interval": {Anchor: testDate(2026, 1, 1, 0, 0, time.UTC), Interval: 7},
		"year 10000":   {Anchor: testDate(10000, 1, 1, 0, 0, time.UTC), Interval: Monthly},
	} {
		err := s.Validate()
		var ie *InputError
		if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &ie) {
			t.Errorf("%s: Validate() = %v, want an InputError", name, err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: PeriodAt did not panic", name)
				}
			}()
			s.PeriodAt(time.Now())
		}()
	}
	s := Schedule{Anchor: testDate(2026, 1, 10, 0, 0, time.UTC), Interval: Monthly}
	if ps := s.Periods(s.Anchor, s.Anchor); ps != nil {
		t.Errorf("Periods(t, t) = %v, want none", ps)
	}
	// Periods overlapping [Feb 20, Mar 10]: the one containing Feb 20, and
	// the one starting on Mar 10 is left out (the range is half-open).
	ps := s.Periods(testDate(2026, 2, 20, 0, 0, time.UTC), testDate(2026, 3, 10, 0, 0, time.UTC))
	if len(ps) != 1 || !ps[0].Start.Equal(testDate(2026, 2, 10, 0, 0, time.UTC)) {
		t.Errorf("Periods(Feb 20, Mar 10) = %v", ps)
	}
	// Before the anchor, the schedule goes on backwards.
	if p := s.PeriodAt(testDate(2025, 12, 31, 0, 0, time.UTC)); !p.Start.Equal(testDate(2025, 12, 10, 0, 0, time.UTC)) {
		t.Errorf("period before the anchor: %s", p)
	}
	// Nanoseconds of the anchor are dropped: boundaries are microseconds.
	ns := Schedule{Anchor: testDate(2026, 1, 10, 0, 0, time.UTC).Add(1500 * time.Nanosecond), Interval: Monthly}
	if p := ns.PeriodAt(ns.Anchor); p.Start.Nanosecond() != 1000 {
		t.Errorf("anchor .0000015 starts its period at %s", p.Start.Format(time.RFC3339Nano))
	}
}

var testZones = []string{
	"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
	"America/Sao_Paulo", "Pacific/Apia", "America/St_Johns", "Asia/Kathmandu", "Europe/Chisinau",
}

// drawAnchor draws an anchor, biased to the days that clamp: the 29th,
// 30th and 31st, and February 29.
func drawAnchor(t *rapid.T, loc *time.Location) time.Time {
	y := rapid.IntRange(1995, 2045).Draw(t, "year")
	m := time.Month(rapid.IntRange(1, 12).Draw(t, "month"))
	var d int
	switch rapid.IntRange(0, 3).Draw(t, "day kind") {
	case 0:
		d = rapid.IntRange(1, daysIn(y, m)).Draw(t, "day")
	case 1:
		d = rapid.IntRange(min(29, daysIn(y, m)), daysIn(y, m)).Draw(t, "late day")
	case 2:
		y, m, d = 4*rapid.IntRange(499, 511).Draw(t, "leap year/4"), time.February, 29
	default:
		d = daysIn(y, m)
	}
	hh := rapid.SampledFrom([]int{0, 1, 2, 3, 12, 23}).Draw(t, "hour")
	mm := rapid.SampledFrom([]int{0, 15, 30, 59}).Draw(t, "minute")
	us := rapid.SampledFrom([]int{0, 1, 999_999}).Draw(t, "microsecond")
	return time.Date(y, m, d, hh, mm, 0, us*1000, loc)
}

func TestPropertyPeriods(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		loc := testZone(t, rapid.SampledFrom(testZones).Draw(t, "zone"))
		anchor := drawAnchor(t, loc)
		iv := rapid.SampledFrom([]Interval{Monthly, Yearly}).Draw(t, "interval")
		s := Schedule{Anchor: anchor, Interval: iv, Location: loc}
		a := anchor.In(loc)
		first := s.PeriodAt(anchor)
		ps := s.Periods(first.Start.AddDate(-3*iv.months()/12, -3*(iv.months()%12), 0), first.Start.AddDate(0, 40*iv.months(), 0))
		if len(ps) < 40 {
			t.Fatalf("%d periods", len(ps))
		}
		k0 := slices.IndexFunc(ps, func(p Period) bool { return p.Equal(first) })
		if k0 < 0 {
			t.Fatalf("the anchor's period %s is not in the list", first)
		}
		for i, p := range ps {
			if !p.Start.Before(p.End) {
				t.Fatalf("period %d is empty or backwards: %s", i, p)
			}
			if i > 0 && !ps[i-1].End.Equal(p.Start) {
				t.Fatalf("periods %d and %d are not contiguous: %s, %s", i-1, i, ps[i-1], p)
			}
			// Its calendar month is the anchor's plus k intervals, and it
			// starts on the anchor's day (clamped) at the anchor's wall
			// clock, unless the zone skips that wall-clock time.
			k := i - k0
			months := a.Year()*12 + int(a.Month()) - 1 + k*iv.months()
			y, m := months/12, time.Month(months%12+1)
			l := p.Start.In(loc)
			sameWall := l.Year() == y && l.Month() == m && l.Day() == min(a.Day(), daysIn(y, m)) &&
				l.Hour() == a.Hour() && l.Minute() == a.Minute() && l.Nanosecond() == a.Nanosecond()/1000*1000
			if !sameWall {
				// Only a wall-clock time the zone skips may move, forward,
				// and only by the skip: the zone's offset changes within a
				// day of it.
				_, before := p.Start.Add(-25 * time.Hour).Zone()
				_, after := p.Start.Add(25 * time.Hour).Zone()
				shown := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
				asked := time.Date(y, m, min(a.Day(), daysIn(y, m)), a.Hour(), a.Minute(), a.Second(), a.Nanosecond()/1000*1000, time.UTC)
				if before == after || !shown.After(asked) || shown.Sub(asked) > 24*time.Hour {
					t.Fatalf("period %d starts %s (%s local), want %04d-%02d-%02d at the anchor's wall clock %s",
						k, p.Start.UTC(), l, y, m, min(a.Day(), daysIn(y, m)), a.Format("15:04:05.999999"))
				}
			}
			if p.Start.Nanosecond()%1000 != 0 || p.End.Nanosecond()%1000 != 0 {
				t.Fatalf("period %d has a boundary finer than a microsecond: %s", k, p)
			}
		}
		// PeriodAt agrees with the list, at and around the boundaries.
		p := ps[rapid.IntRange(0, len(ps)-1).Draw(t, "period")]
		for _, at := range []time.Time{p.Start, p.End.Add(-time.Microsecond), p.Start.Add(p.End.Sub(p.Start) / 2)} {
			if got := s.PeriodAt(at); !got.Equal(p) {
				t.Fatalf("PeriodAt(%s) = %s, want %s", at, got, p)
			}
		}
	})
}

// ---- Subscriptions ----

func TestSubscriptionPeriodsAcrossAnIntervalChange(t *testing.T) {
	anchor := testDate(2026, 1, 31, 9, 0, time.UTC)
	s := testSub("s", testPlan("monthly", 10*Credit, Monthly, RolloverPolicy{}), anchor, nil)
	s, err := s.ChangePlan(testPlan("yearly", 150*Credit, Yearly, RolloverPolicy{}), testDate(2026, 2, 10, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, p := range s.Periods(time.Time{}, testDate(2030, 1, 1, 0, 0, time.UTC)) {
		starts = append(starts, p.Start.Format(time.DateOnly))
	}
	// Monthly until the change on Feb 28, then yearly on the anchor's day
	// (the 31st, clamped in February).
	want := []string{"2026-01-31", "2026-02-28", "2027-02-28", "2028-02-29", "2029-02-28"}
	if !slices.Equal(starts, want) {
		t.Fatalf("starts %v, want %v", starts, want)
	}
	if p := s.PlanAt(testDate(2026, 2, 27, 0, 0, time.UTC)); p.Name != "monthly" {
		t.Errorf("plan before the change: %s", p.Name)
	}
	if p := s.PlanAt(testDate(2026, 2, 28, 9, 0, time.UTC)); p.Name != "yearly" {
		t.Errorf("plan from the change: %s", p.Name)
	}
}

func TestSubscriptionValidation(t *testing.T) {
	good := testSub("s", testPlan("p", 10*Credit, Monthly, RolloverPolicy{}), testDate(2026, 1, 10, 0, 0, time.UTC), nil)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Subscription){
		"empty id":          func(s *Subscription) { s.ID = "" },
		"long id":           func(s *Subscription) { s.ID = string(make([]byte, 201)) },
		"no anchor":         func(s *Subscription) { s.Anchor = time.Time{} },
		"no plan name":      func(s *Subscription) { s.Plan.Name = "" },
		"negative credits":  func(s *Subscription) { s.Plan.Credits = -1 },
		"no interval":       func(s *Subscription) { s.Plan.Interval = 0 },
		"cap without max":   func(s *Subscription) { s.Plan.Rollover = RolloverPolicy{Mode: RollOverCapped} },
		"min above max":     func(s *Subscription) { s.Plan.Rollover = RolloverPolicy{Mode: RollOverCarry, Min: 5, Max: 4} },
		"min without carry": func(s *Subscription) { s.Plan.Rollover = RolloverPolicy{Mode: RollOverAll, Min: 5} },
		"max without cap":   func(s *Subscription) { s.Plan.Rollover = RolloverPolicy{Max: 5} },
		"none for 2":        func(s *Subscription) { s.Plan.Rollover = RolloverPolicy{Mode: RollOverNone, ExpireAfterPeriods: 2} },
		"unknown mode":      func(s *Subscription) { s.Plan.Rollover.Mode = 9 },
		"change mid-period": func(s *Subscription) {
			s.Changes = []PlanChange{{From: testDate(2026, 2, 11, 0, 0, time.UTC), Plan: s.Plan}}
		},
		"change before start": func(s *Subscription) {
			s.Changes = []PlanChange{{From: testDate(2025, 12, 10, 0, 0, time.UTC), Plan: s.Plan}}
		},
		"ends mid-period":   func(s *Subscription) { s.Ends = testDate(2026, 3, 1, 0, 0, time.UTC) },
		"ends before start": func(s *Subscription) { s.Ends = testDate(2025, 3, 10, 0, 0, time.UTC) },
	}
	for name, mutate := range bad {
		s := good
		mutate(&s)
		var ie *InputError
		if err := s.Validate(); !errors.As(err, &ie) || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: Validate() = %v, want an InputError", name, err)
		}
	}
}

func TestSubscriptionJSONRoundTrip(t *testing.T) {
	ny := testZone(t, "America/New_York")
	s := testSub("pro-7", testPlan("pro", 500*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 250 * Credit}), testDate(2026, 1, 31, 0, 30, ny), ny)
	s, err := s.ChangePlan(testPlan("studio", 1500*Credit, Monthly, RolloverPolicy{Mode: RollOverCarry, Max: 1000 * Credit, Min: Credit, CarryPriority: 5, CarryPeriods: 2}), testDate(2026, 3, 2, 0, 0, ny))
	if err != nil {
		t.Fatal(err)
	}
	if s, err = s.Cancel(testDate(2026, 9, 1, 0, 0, ny)); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Subscription
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if back.Location.String() != "America/New_York" || !back.Ends.Equal(s.Ends) || len(back.Changes) != 1 ||
		!back.Changes[0].Plan.equal(&s.Changes[0].Plan) || !back.Plan.equal(&s.Plan) || !back.Anchor.Equal(s.Anchor) {
		t.Fatalf("round trip changed the subscription:\n%s\n%+v", b, back)
	}
	a := s.Periods(time.Time{}, testDate(2027, 1, 1, 0, 0, ny))
	c := back.Periods(time.Time{}, testDate(2027, 1, 1, 0, 0, ny))
	if !slices.EqualFunc(a, c, Period.Equal) {
		t.Fatalf("round trip changed the periods: %v vs %v", a, c)
	}
	for _, in := range []string{
		`{"id":"x","anchor":"2026-01-01T00:00:00Z","location":"Mars/Olympus","plan":{"name":"p","credits":1,"interval":"monthly","rollover":{"mode":"all"}}}`,
		`{"id":"x","anchor":"2026-01-01T00:00:00Z","plan":{"name":"p","credits":1,"interval":"weekly","rollover":{"mode":"all"}}}`,
		`{"id":"x","anchor":"2026-01-01T00:00:00Z","plan":{"name":"p","credits":1,"interval":"monthly","rollover":{"mode":"some"}}}`,
	} {
		if err := json.Unmarshal([]byte(in), &back); err == nil {
			t.Errorf("accepted %s", in)
		}
	}
}

func TestPlanChangeTakesEffectAtTheNextPeriod(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	basic := testPlan("basic", 100*Credit, Monthly, RolloverPolicy{})
	s := testSub("s", basic, t0, nil)
	f.renew(s)
	mid := testDate(2026, 1, 20, 0, 0, time.UTC)
	f.at(mid)
	pro, err := s.ChangePlan(testPlan("pro", 300*Credit, Monthly, RolloverPolicy{}), mid)
	if err != nil {
		t.Fatal(err)
	}
	if es := f.renew(pro); len(es) != 0 {
		t.Fatalf("a plan change renewed the current period again: %+v", es)
	}
	f.wantTotal(100 * Credit) // no proration
	f.at(testDate(2026, 2, 1, 0, 0, time.UTC))
	f.renew(pro)
	f.wantTotal(400 * Credit)

	// Changing twice within a period: the last word wins; changing back to
	// the plan in force drops the pending change.
	again, err := pro.ChangePlan(testPlan("max", 900*Credit, Monthly, RolloverPolicy{}), testDate(2026, 2, 5, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	back, err := again.ChangePlan(testPlan("pro", 300*Credit, Monthly, RolloverPolicy{}), testDate(2026, 2, 6, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Changes) != 1 || back.PlanAt(testDate(2026, 3, 1, 0, 0, time.UTC)).Name != "pro" {
		t.Fatalf("changing back left %+v", back.Changes)
	}
	// A change before the first period replaces the first plan.
	early, err := testSub("e", basic, testDate(2026, 6, 1, 0, 0, time.UTC), nil).ChangePlan(testPlan("pro", 300*Credit, Monthly, RolloverPolicy{}), t0)
	if err != nil || early.Plan.Name != "pro" || len(early.Changes) != 0 {
		t.Fatalf("change before the start: %+v, %v", early, err)
	}
}

func TestCancelEndsRenewals(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	c, err := s.Cancel(testDate(2026, 1, 15, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Ends.Equal(testDate(2026, 2, 1, 0, 0, time.UTC)) {
		t.Fatalf("cancelled mid-January ends %s", c.Ends)
	}
	if _, err := c.ChangePlan(testPlan("pro", Credit, Monthly, RolloverPolicy{}), testDate(2026, 1, 20, 0, 0, time.UTC)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("plan change after the end: %v", err)
	}
	if es := f.at(testDate(2026, 5, 1, 0, 0, time.UTC)).renew(c); len(es) != 0 {
		t.Fatalf("renewed a cancelled subscription: %+v", es)
	}
	f.wantTotal(100 * Credit) // granted credits stay (the default policy)
	if ps := c.Periods(time.Time{}, testDate(2027, 1, 1, 0, 0, time.UTC)); len(ps) != 1 {
		t.Fatalf("a subscription cancelled in its first period has %d periods", len(ps))
	}
	// Undoing the cancellation resumes it, catching up the periods since.
	c.Ends = time.Time{}
	if es := f.renew(c); len(grantsOf(es)) != 4 {
		t.Fatalf("resumed: %+v", es)
	}
}

// ---- Renewal ----

func TestRenewCatchesUpMissedPeriodsOnce(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	// Down for three periods: February, March and April are granted when
	// it comes back on April 10, each with its period.
	es := f.at(testDate(2026, 4, 10, 0, 0, time.UTC)).renew(s)
	got := grantsOf(es)
	for _, m := range []time.Month{2, 3, 4} {
		if c := got[testDate(2026, m, 1, 0, 0, time.UTC).UnixMicro()]; c != 100*Credit {
			t.Errorf("period %s: granted %s", m, c)
		}
	}
	if len(got) != 3 {
		t.Errorf("granted %d periods, want 3: %+v", len(got), got)
	}
	if again := f.renew(s); len(again) != 0 {
		t.Fatalf("second renewal wrote %+v", again)
	}
	f.wantTotal(400 * Credit)
	all := grantsOf(f.history())
	if len(all) != 4 {
		t.Fatalf("history has %d periods granted", len(all))
	}
	for p, c := range all {
		if c != 100*Credit {
			t.Errorf("period %s granted %s in all", time.UnixMicro(p).UTC(), c)
		}
	}
}

func TestRenewFromManyCallersAtOnce(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	f.renew(s)
	f.at(testDate(2026, 7, 2, 0, 0, time.UTC))
	var wg sync.WaitGroup
	made := make([][]Entry, 8)
	errs := make([]error, 8)
	for i := range made {
		wg.Add(1)
		go func() {
			defer wg.Done()
			made[i], errs[i] = f.l.Renew(f.ctx, f.account, s)
		}()
	}
	wg.Wait()
	var writes []Entry
	for i := range made {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		writes = append(writes, made[i]...)
	}
	got := grantsOf(writes)
	if len(got) != 6 {
		t.Fatalf("8 callers granted %d periods between them, want 6", len(got))
	}
	for p, c := range got {
		if c != 100*Credit {
			t.Errorf("period %s granted %s", time.UnixMicro(p).UTC(), c)
		}
	}
	hist := f.history()
	if all := grantsOf(hist); len(all) != 7 {
		t.Fatalf("history: %d periods granted", len(all))
	}
	s2, err := Rebuild(hist)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := f.l.backend.Load(f.ctx, f.account)
	if !s2.Equal(stored) {
		t.Fatal("stored state differs from the rebuilt history")
	}
	// Six capped periods in the past with nothing spent: 30 roll over.
	f.wantTotal(30*Credit + 100*Credit)
}

func TestRenewRefusesToRewriteThePast(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	before := f.history()
	changed := s
	changed.Plan.Credits = 200 * Credit // the same period, another plan
	_, err := f.l.Renew(f.ctx, f.account, changed)
	var ce *IdempotencyConflictError
	if !errors.Is(err, ErrIdempotencyConflict) || !errors.As(err, &ce) || ce.EntryID != before[0].ID {
		t.Fatalf("renewing a granted period with another plan: %v", err)
	}
	if after := f.history(); len(after) != len(before) {
		t.Fatal("a refused renewal wrote entries")
	}
}

func TestRenewFailuresChangeNothing(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	f.at(testDate(2026, 3, 5, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if es, err := f.l.Renew(ctx, f.account, s); !errors.Is(err, context.Canceled) || len(es) != 0 {
		t.Fatalf("cancelled context: %v, %+v", err, es)
	}
	bad := s
	bad.Plan.Interval = 0
	if _, err := f.l.Renew(f.ctx, f.account, bad); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("invalid subscription: %v", err)
	}
	if _, err := f.l.Renew(f.ctx, "$system", s); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("reserved account: %v", err)
	}
	if n := len(f.history()); n != 1 {
		t.Fatalf("failed renewals left %d entries", n)
	}
	// A subscription that has not started renews nothing, and makes no account.
	later := testSub("later", s.Plan, testDate(2027, 1, 1, 0, 0, time.UTC), nil)
	if es, err := f.l.Renew(f.ctx, "newcomer", later); err != nil || len(es) != 0 {
		t.Fatalf("future subscription: %v %+v", err, es)
	}
	if _, err := f.l.Balance(f.ctx, "newcomer"); !errors.Is(err, ErrUnknownAccount) {
		t.Fatalf("future subscription made an account: %v", err)
	}
}

// ---- Boundary instants ----

func TestGrantExpiringAtThePeriodEnd(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	end := s.PeriodAt(t0).End
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "promo", Amount: 7 * Credit, Source: SourceTopUp, ExpiresAt: end}); err != nil {
		t.Fatal(err)
	}
	f.at(end.Add(-time.Microsecond)).wantTotal(107 * Credit)
	f.at(end).wantTotal(100 * Credit)
	// The expiry happens at the boundary instant, so it belongs to the next
	// period's statement (periods are half-open), recorded or not.
	jan := f.statement(s.PeriodAt(t0))
	feb := f.statement(s.PeriodAt(end))
	if jan.Expired != 0 || jan.Closing != 107*Credit || feb.Opening != 107*Credit || feb.Expired != 7*Credit || feb.Closing != 100*Credit {
		t.Fatalf("january %+v\nfebruary %+v", jan, feb)
	}
	f.renew(s)
	feb = f.statement(s.PeriodAt(end))
	if feb.Expired != 7*Credit || feb.Closing != 200*Credit {
		t.Fatalf("february after the renewal %+v", feb)
	}
}

func TestRenewalAtThePeriodEndInstant(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("use-it", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverNone}), t0, nil)
	f.renew(s)
	end := s.PeriodAt(t0).End
	if es := f.at(end.Add(-time.Microsecond)).renew(s); len(es) != 0 {
		t.Fatalf("renewed a microsecond early: %+v", es)
	}
	es := f.at(end).renew(s)
	if len(es) != 1 || es[0].Kind != KindGrant || !es[0].Period.Equal(end) || !es[0].Time.Equal(end) || !es[0].ExpiresAt.Equal(testDate(2026, 3, 1, 0, 0, time.UTC)) {
		t.Fatalf("renewal at the boundary: %+v", es)
	}
	f.wantTotal(100 * Credit) // January's credits gone, February's here
	hist := f.history()
	if k := hist[len(hist)-2]; k.Kind != KindExpire || k.Amount != -100*Credit {
		t.Fatalf("January's expiry was not recorded before February's grant: %+v", hist)
	}
}

func TestChargeOneNanosecondAroundThePeriodEnd(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	s := testSub("s", testPlan("use-it", 10*Credit, Monthly, RolloverPolicy{Mode: RollOverNone}), t0, nil)
	end := s.PeriodAt(t0).End

	// One nanosecond before the end is, to the microsecond ledger, one
	// microsecond before it: still inside the period.
	f := newSubFixture(t, t0)
	f.renew(s)
	f.at(end.Add(-time.Nanosecond)).mustCharge(10 * Credit)
	hist := f.history()
	if last := hist[len(hist)-1]; !last.Time.Equal(end.Add(-time.Microsecond)) {
		t.Fatalf("charge stamped %s", last.Time.Format(time.RFC3339Nano))
	}

	// One nanosecond after the end is the end itself: the credits expired.
	g := newSubFixture(t, t0)
	g.renew(s)
	err := g.at(end.Add(time.Nanosecond)).charge(Credit)
	var ie *InsufficientCreditsError
	if !errors.As(err, &ie) || ie.Available != 0 {
		t.Fatalf("charge after the end: %v", err)
	}
	// And the same at microsecond granularity.
	g.at(end.Add(time.Microsecond))
	if err := g.charge(Credit); !errors.Is(err, ErrInsufficientCredits) {
		t.Fatalf("charge a microsecond after the end: %v", err)
	}
	g.renew(s)
	g.mustCharge(10 * Credit) // the new period's credits
}

// ---- Rollover policies ----

func TestRolloverAllIsTheDefault(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("basic", 100*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	f.mustCharge(40 * Credit)
	f.at(testDate(2027, 1, 1, 0, 0, time.UTC)).renew(s)
	f.wantTotal(13*100*Credit - 40*Credit)
	for _, e := range f.history() {
		if e.Kind == KindRollover || e.Kind == KindExpire || !e.ExpiresAt.IsZero() {
			t.Fatalf("the default policy expired something: %+v", e)
		}
	}
}

func TestRolloverCapped(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	for _, tc := range []struct {
		spend  Credits // in January, of 100 subscription credits, a free tier of 30 and a top-up of 20
		left   Credits // what rolls over into February, free tier and top-up included
		expire Credits // at January's end
	}{
		{spend: 0, left: 80 * Credit, expire: 70 * Credit},
		{spend: 50 * Credit, left: 80 * Credit, expire: 20 * Credit},
		{spend: 70 * Credit, left: 80 * Credit, expire: 0},
		{spend: 95 * Credit, left: 55 * Credit, expire: 0},
		{spend: 100 * Credit, left: 50 * Credit, expire: 0},
	} {
		for _, priority := range []int32{0, 1} {
			t.Run(fmt.Sprintf("spend %s priority %d", tc.spend, priority), func(t *testing.T) {
				f := newSubFixture(t, t0)
				capped := testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit})
				capped.Priority = priority
				s := testSub("s", capped, t0, nil)
				// The free tier and a top-up are not subscription credits:
				// the cap never takes them, and the credits over the cap
				// (which expire at the period's end) are spent before them.
				if _, err := f.l.ClaimFreeTier(f.ctx, f.account, ""); err != nil {
					t.Fatal(err)
				}
				f.renew(s)
				if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top", Amount: 20 * Credit, Source: SourceTopUp}); err != nil {
					t.Fatal(err)
				}
				if tc.spend > 0 {
					f.mustCharge(tc.spend)
				}
				feb := testDate(2026, 2, 1, 0, 0, time.UTC)
				f.at(feb).wantTotal(tc.left) // at read time, before any renewal
				f.renew(s)
				f.wantTotal(tc.left + 100*Credit)
				if st := f.statement(s.PeriodAt(feb)); st.Expired != tc.expire {
					t.Fatalf("february statement: expired %s, want %s", st.Expired, tc.expire)
				}
				// March, nothing spent in February: of the subscription
				// credits, 30 roll over. With priority 1 they were spent
				// before the free tier and the top-up, so those 50 are all
				// still there. With priority 0 the free tier (older) was
				// spent before the subscription credits within the cap, and
				// what was left of them then counts against March's cap.
				want := 50*Credit + 30*Credit
				if priority == 0 && tc.spend > 70*Credit {
					want -= tc.spend - 70*Credit
				}
				f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).wantTotal(want)
			})
		}
	}
}

func TestRolloverCapLoweredByAPlanChange(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("big", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 80 * Credit}), t0, nil)
	f.renew(s)
	s, err := testSub("s", testPlan("big", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 80 * Credit}), t0, nil).
		ChangePlan(testPlan("small", 10*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 20 * Credit}), testDate(2026, 1, 5, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	// January ends with 80 rolled over under the old cap; February's plan
	// caps at 20, so at February's end 80 + 10 - 20 = 70 are over: the 10
	// of February's grant expire with it, and the 60 of January's credits
	// are dropped by a rollover entry at the next renewal.
	f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).renew(s)
	f.wantTotal(90 * Credit)
	f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).wantTotal(80 * Credit)
	es := f.renew(s)
	if len(es) != 2 || es[0].Kind != KindRollover || es[0].Amount != -60*Credit || !es[0].Period.Equal(testDate(2026, 2, 1, 0, 0, time.UTC)) {
		t.Fatalf("renewal in March: %+v", es)
	}
	f.wantTotal(20*Credit + 10*Credit)
}

func TestRolloverNoneExpiresUnusedCreditsAtReadTime(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("use-it", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverNone}), t0, nil)
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top", Amount: 10 * Credit, Source: SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	f.renew(s)
	f.mustCharge(30 * Credit) // from the subscription lot: it expires sooner
	f.at(testDate(2026, 2, 1, 0, 0, time.UTC))
	f.wantTotal(10 * Credit) // no renewal, no sweep: read time
	if err := f.charge(11 * Credit); !errors.Is(err, ErrInsufficientCredits) {
		t.Fatalf("spent expired credits: %v", err)
	}
}

func TestRolloverCarry(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	pol := RolloverPolicy{Mode: RollOverCarry, Max: 50 * Credit, Min: 5 * Credit, CarryPriority: 10, CarryPeriods: 1}
	t.Run("leftovers move into a lot of their own", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("carry", 100*Credit, Monthly, pol), t0, nil)
		f.renew(s)
		f.mustCharge(30 * Credit) // 70 left: 50 carried, 20 over the max expire at the end
		feb := testDate(2026, 2, 1, 0, 0, time.UTC)
		f.at(feb).wantTotal(50 * Credit)
		es := f.renew(s)
		// The rollover, then February's grant: 50 that would be over the
		// max at its end (expiring then), and 50 that would be carried.
		if len(es) != 3 || es[0].Kind != KindRollover || es[0].Lot != es[0].ID || es[0].Amount != 0 ||
			es[0].Priority != 10 || !es[0].ExpiresAt.Equal(testDate(2026, 3, 1, 0, 0, time.UTC)) || es[0].Metadata["carried"] != "50" {
			t.Fatalf("carry: %+v", es)
		}
		st := f.state()
		if i := st.lotIndex(es[0].ID); i != 0 || st.lots[i].Source != SourceRollover || st.lots[i].Remaining != 50*Credit {
			t.Fatalf("carried lot is not first in spending order: %+v", st.lots)
		}
		if got := f.statement(s.PeriodAt(feb)); got.Carried != 50*Credit || got.Expired != 20*Credit {
			t.Fatalf("statement: %+v", got)
		}
		f.mustCharge(60 * Credit) // the carried 50 first (priority), then 10 of February's
		f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).renew(s)
		// February's 90 unspent: 50 carried; the carried lot of January was spent.
		f.wantTotal(50*Credit + 100*Credit)
	})
	t.Run("leftovers under the minimum expire", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("carry", 100*Credit, Monthly, pol), t0, nil)
		f.renew(s)
		f.mustCharge(96 * Credit)
		f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).wantTotal(4 * Credit) // until the carry decides
		es := f.renew(s)
		if len(es) != 3 || es[0].Kind != KindRollover || es[0].Amount != -4*Credit || es[0].Lot != 0 {
			t.Fatalf("dust: %+v", es)
		}
		f.wantTotal(100 * Credit)
	})
	t.Run("a cancelled subscription carries once at its end", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("carry", 100*Credit, Monthly, pol), t0, nil)
		f.renew(s)
		c, err := s.Cancel(t0)
		if err != nil {
			t.Fatal(err)
		}
		f.at(testDate(2026, 2, 3, 0, 0, time.UTC))
		es := f.renew(c)
		if len(es) != 1 || es[0].Kind != KindRollover || es[0].Key == "" || es[0].Metadata["carried"] != "50" {
			t.Fatalf("final carry: %+v", es)
		}
		if again := f.renew(c); len(again) != 0 {
			t.Fatalf("final carry twice: %+v", again)
		}
		f.wantTotal(50 * Credit)
		f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).wantTotal(0) // the carried lot's own expiry
	})
}

func TestGrantsThatExpire(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	t.Run("after N periods", func(t *testing.T) {
		f := newSubFixture(t, t0)
		s := testSub("s", testPlan("3m", 100*Credit, Monthly, RolloverPolicy{ExpireAfterPeriods: 3}), t0, nil)
		f.renew(s)
		f.at(testDate(2026, 3, 31, 0, 0, time.UTC)).renew(s)
		f.wantTotal(300 * Credit)
		f.at(testDate(2026, 4, 1, 0, 0, time.UTC)).wantTotal(200 * Credit) // January's grant is gone
		f.renew(s)
		f.wantTotal(300 * Credit)
	})
	t.Run("at an instant", func(t *testing.T) {
		f := newSubFixture(t, t0)
		cutoff := testDate(2026, 2, 15, 0, 0, time.UTC)
		s := testSub("s", testPlan("promo", 100*Credit, Monthly, RolloverPolicy{ExpiresAt: cutoff}), t0, nil)
		f.renew(s)
		f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).renew(s)
		f.at(cutoff.Add(-time.Microsecond)).wantTotal(200 * Credit)
		f.at(cutoff).wantTotal(0)
		// A period granted after the instant is granted expired: it is
		// in the history, and never spendable.
		es := f.at(testDate(2026, 3, 1, 0, 0, time.UTC)).renew(s)
		if len(es) != 1 || !es[0].ExpiresAt.Equal(cutoff) {
			t.Fatalf("grant after the cutoff: %+v", es)
		}
		f.wantTotal(0)
	})
}

func TestCatchUpAppliesEachPeriodsPolicyAsIfOnTime(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	f.renew(s)
	f.mustCharge(90 * Credit) // 10 left of January
	f.at(testDate(2026, 4, 15, 0, 0, time.UTC))
	es := f.renew(s)
	if got := grantsOf(es); len(got) != 3 {
		t.Fatalf("catch-up: %+v", got)
	}
	// January leaves 10; February: 10 + 100 capped to 30; March: 30 + 100
	// capped to 30; April's 100 is current.
	f.wantTotal(30*Credit + 100*Credit)
}

// ---- Statements ----

func TestStatementAddsUpAndTiles(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("carry", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCarry, Max: 40 * Credit}), t0, nil)
	if _, err := f.l.ClaimFreeTier(f.ctx, f.account, ""); err != nil {
		t.Fatal(err)
	}
	f.renew(s)
	at := func(d int) { f.at(testDate(2026, 1, d, 12, 0, time.UTC)) }
	at(3)
	chat, err := f.l.Charge(f.ctx, f.account, ChargeRequest{Key: "chat", Action: ChatMessage, Quantity: 4})
	if err != nil {
		t.Fatal(err)
	}
	at(4)
	if _, err := f.l.Charge(f.ctx, f.account, ChargeRequest{Key: "video", Action: VideoGeneration, Resolution: Res1080p}); err != nil {
		t.Fatal(err)
	}
	at(5)
	f.mustCharge(Credit)
	at(6)
	h, err := f.l.Hold(f.ctx, f.account, HoldRequest{Key: "h", Amount: 8 * Credit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Capture(f.ctx, f.account, CaptureRequest{Key: "cap", Hold: h.ID, Amount: 5 * Credit}); err != nil {
		t.Fatal(err)
	}
	at(7)
	if _, err := f.l.Refund(f.ctx, f.account, RefundRequest{Key: "ref", Entry: chat.ID, Amount: 3 * Credit}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top", Amount: 15 * Credit, Source: SourceTopUp, ExpiresAt: testDate(2026, 2, 10, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).renew(s)
	f.at(testDate(2026, 2, 20, 0, 0, time.UTC))
	f.mustCharge(2 * Credit)
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top2", Amount: 5 * Credit, Source: SourceTopUp, ExpiresAt: testDate(2026, 2, 25, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	f.at(testDate(2026, 2, 26, 0, 0, time.UTC)) // the 5 expired; nothing has recorded it yet

	jan := f.statement(s.PeriodAt(t0))
	if jan.Opening != 0 || jan.Refunded != 3*Credit || jan.Expired != 0 || jan.Carried != 0 {
		t.Fatalf("january: %+v", jan)
	}
	wantGranted := []GrantLine{{SourceFreeTier, 1, 30 * Credit}, {SourceSubscription, 2, 100 * Credit}, {SourceTopUp, 1, 15 * Credit}}
	if !slices.Equal(jan.Granted, wantGranted) {
		t.Fatalf("january granted %+v, want %+v", jan.Granted, wantGranted)
	}
	wantSpent := []SpendLine{
		{Kind: KindCharge, Entries: 1, Amount: Credit},
		{Kind: KindCharge, Action: ChatMessage, Entries: 1, Quantity: 4, Amount: 12 * Credit},
		{Kind: KindCharge, Action: VideoGeneration, Entries: 1, Quantity: 1, Amount: 20 * Credit},
		{Kind: KindCapture, Entries: 1, Amount: 5 * Credit},
	}
	if !slices.Equal(jan.Spent, wantSpent) {
		t.Fatalf("january spent %+v, want %+v", jan.Spent, wantSpent)
	}
	feb := f.statement(s.PeriodAt(testDate(2026, 2, 1, 0, 0, time.UTC)))
	if feb.Opening != jan.Closing {
		t.Fatalf("february opens at %s, january closed at %s", feb.Opening, jan.Closing)
	}
	// By hand: January's 100 were granted as 60 over the carry's max
	// (expiring at January's end) and 40; the 38 spent came out of the 60
	// first, so 22 expired on February 1 and the 40 were carried. On the
	// 20th the first top-up (expired on the 10th) is recorded, 15; the
	// second top-up's 5 expired on the 25th and only this statement knows
	// (it is the current period's). Closing is what Balance says.
	if jan.Closing != 110*Credit || feb.Expired != 22*Credit+15*Credit+5*Credit || feb.Carried != 40*Credit ||
		feb.TotalGranted() != 105*Credit || feb.TotalSpent() != 2*Credit || feb.Closing != 171*Credit {
		t.Fatalf("january %+v\nfebruary %+v", jan, feb)
	}
	if feb.Closing != f.total() || !feb.AsOf.Equal(f.l.Now()) {
		t.Fatalf("february closes at %s as of %s; balance %s", feb.Closing, feb.AsOf, f.total())
	}
	// A statement over both months is the sum of the two.
	both := f.statement(Period{Start: t0, End: testDate(2026, 3, 1, 0, 0, time.UTC)})
	if both.Opening != 0 || both.Closing != feb.Closing || both.Expired != jan.Expired+feb.Expired ||
		both.TotalSpent() != jan.TotalSpent()+feb.TotalSpent() || both.TotalGranted() != jan.TotalGranted()+feb.TotalGranted() {
		t.Fatalf("both months %+v\njan %+v\nfeb %+v", both, jan, feb)
	}
	// A period with no entries, and one in the future, are flat.
	if st := f.statement(Period{Start: testDate(2025, 1, 1, 0, 0, time.UTC), End: testDate(2025, 2, 1, 0, 0, time.UTC)}); st.Opening != 0 || st.Closing != 0 || st.First != 0 {
		t.Fatalf("before the account: %+v", st)
	}
	if st := f.statement(Period{Start: testDate(2026, 6, 1, 0, 0, time.UTC), End: testDate(2026, 7, 1, 0, 0, time.UTC)}); st.Opening != f.total() || st.Closing != f.total() {
		t.Fatalf("future: %+v, balance %s", st, f.total())
	}
	if _, err := f.l.Statement(f.ctx, f.account, Period{Start: t0, End: t0}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("empty period: %v", err)
	}
	if _, err := f.l.Statement(f.ctx, "nobody", Period{Start: t0, End: t0.Add(time.Hour)}); !errors.Is(err, ErrUnknownAccount) {
		t.Fatalf("unknown account: %v", err)
	}
}

func TestStatementReadsEveryPage(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("big", 5000*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	const n = 2*statementPage + 17
	for i := range n {
		f.at(t0.Add(time.Duration(i+1) * time.Minute))
		f.mustCharge(Credit)
	}
	st := f.statement(s.PeriodAt(t0))
	if len(st.Spent) != 1 || st.Spent[0].Entries != n || st.Spent[0].Amount != n*Credit || st.Last != int64(n+1) {
		t.Fatalf("statement over %d charges: %+v", n, st)
	}
}

// ---- Properties of a ledger with a subscription ----

// subMachine drives random operations on one account with one
// subscription, and checks the invariants of rollover after each.
type subMachine struct {
	ctx     context.Context
	clock   *testClock
	l       *Ledger
	account string
	sub     Subscription
	policy  RolloverPolicy // every plan of the run has it: the cap check is about one cap
	renewed time.Time      // the clock at the last successful Renew (zero: never)
	slack   Credits        // credits on hold at the last renewal that wrote: a release may bring them back over the cap
	charges []int64
	holds   []int64
	keys    int
}

func drawPolicy(t *rapid.T) RolloverPolicy {
	switch rapid.IntRange(0, 5).Draw(t, "policy") {
	case 0:
		return RolloverPolicy{}
	case 1:
		return RolloverPolicy{Mode: RollOverNone}
	case 2:
		return RolloverPolicy{Mode: RollOverCapped, Max: Credits(rapid.IntRange(1, 150).Draw(t, "cap")) * Credit}
	case 3:
		return RolloverPolicy{Mode: RollOverCapped, Max: Credits(rapid.IntRange(1, 150).Draw(t, "cap")) * Credit,
			ExpireAfterPeriods: rapid.IntRange(1, 4).Draw(t, "lifetime")}
	case 4:
		most := Credits(rapid.IntRange(0, 150).Draw(t, "max")) * Credit
		least := Credits(rapid.IntRange(0, 20).Draw(t, "min")) * Credit
		if most > 0 {
			least = min(least, most)
		}
		return RolloverPolicy{Mode: RollOverCarry, Max: most, Min: least,
			CarryPriority: int32(rapid.IntRange(-1, 2).Draw(t, "carry priority")), CarryPeriods: rapid.IntRange(0, 3).Draw(t, "carry periods")}
	default:
		return RolloverPolicy{ExpireAfterPeriods: rapid.IntRange(1, 3).Draw(t, "lifetime"),
			ExpiresAt: time.Date(rapid.IntRange(1995, 2050).Draw(t, "cutoff year"), 6, 1, 0, 0, 0, 0, time.UTC)}
	}
}

// TestPropertyRollover: over any run of operations and period ends, in
// any zone, from any anchor, under any policy:
//   - granted = spent + expired + balance (read-time balance), and the
//     all-time statement says the same; statements of periods chain;
//   - the stored state is the history folded (Rebuild);
//   - each period renewed was granted once, in full, with its Period;
//   - every charge drew from the lots in spending order, so nothing that
//     could have been spent first expires: credits that expire sooner, or
//     that a cap would take, are spent first;
//   - after a period's end, the subscription credits that survive are at
//     most the cap; every carry is within [Min, Max].
func TestPropertyRollover(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		loc := testZone(rt, rapid.SampledFrom([]string{"UTC", "America/New_York", "Australia/Lord_Howe"}).Draw(rt, "zone"))
		anchor := drawAnchor(rt, loc)
		pol := drawPolicy(rt)
		iv := rapid.SampledFrom([]Interval{Monthly, Monthly, Yearly}).Draw(rt, "interval")
		p := testPlan("p", Credits(rapid.IntRange(0, 200).Draw(rt, "credits"))*Credit, iv, pol)
		p.Priority = int32(rapid.IntRange(0, 1).Draw(rt, "plan priority"))
		c := &testClock{t: anchor.Add(-time.Hour)}
		m := &subMachine{ctx: context.Background(), clock: c, l: NewMemoryLedger(Options{Now: c.Now}), account: "acct",
			sub: testSub("s", p, anchor, loc), policy: pol}
		rt.Repeat(map[string]func(*rapid.T){
			"renew":   m.renew,
			"charge":  m.charge,
			"hold":    m.hold,
			"close":   m.closeHold,
			"topup":   m.topup,
			"free":    m.free,
			"refund":  m.refund,
			"advance": m.advance,
			"change":  m.change,
			"cancel":  m.cancel,
			"":        m.check,
		})
	})
}

func (m *subMachine) now() time.Time { return m.l.Now() }

func (m *subMachine) key(prefix string) string {
	m.keys++
	return fmt.Sprint(prefix, m.keys)
}

func (m *subMachine) load(t *rapid.T) *AccountState {
	s, err := m.l.backend.Load(m.ctx, m.account)
	if errors.Is(err, ErrUnknownAccount) {
		return &AccountState{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (m *subMachine) renew(t *rapid.T) {
	held := m.load(t).held()
	es, err := m.l.Renew(m.ctx, m.account, m.sub)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	m.renewed = m.now()
	if len(es) > 0 {
		m.slack = held
	}
}

// charge spends a random amount. It checks that the charge drew from the
// lots in spending order (a lot only once every unexpired lot before it
// is empty), and that a refused charge changed nothing.
func (m *subMachine) charge(t *rapid.T) {
	amount := Credits(rapid.IntRange(1, 120).Draw(t, "amount")) * Credit / Credits(rapid.SampledFrom([]int{1, 3}).Draw(t, "divisor"))
	stored := m.load(t)
	before := stored.Clone()
	settle(before, m.account, m.now())
	e, err := m.l.Charge(m.ctx, m.account, ChargeRequest{Key: m.key("c"), Amount: amount})
	if errors.Is(err, ErrInsufficientCredits) {
		if after := m.load(t); !after.Equal(stored) {
			t.Fatal("a refused charge changed the account")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	m.charges = append(m.charges, e.ID)
	after := m.load(t)
	remaining := func(id int64) Credits {
		if j := after.lotIndex(id); j >= 0 {
			return after.lots[j].Remaining
		}
		return 0
	}
	last := -1 // the last lot, in spending order, the charge drew from
	for i, l := range before.lots {
		if !expired(l.ExpiresAt, e.Time) && remaining(l.ID) < l.Remaining {
			last = i
		}
	}
	for i := 0; i < last; i++ {
		l := before.lots[i]
		if !expired(l.ExpiresAt, e.Time) && remaining(l.ID) > 0 {
			t.Fatalf("charge %d drew from lot %d while lot %d, before it in spending order, kept %s: %+v",
				e.ID, before.lots[last].ID, l.ID, remaining(l.ID), before.lots)
		}
	}
}

func (m *subMachine) hold(t *rapid.T) {
	r := HoldRequest{Key: m.key("h"), Amount: Credits(rapid.IntRange(1, 60).Draw(t, "amount")) * Credit,
		Deadline: m.now().Add(time.Duration(rapid.IntRange(1, 24*40).Draw(t, "hours")) * time.Hour)}
	e, err := m.l.Hold(m.ctx, m.account, r)
	if errors.Is(err, ErrInsufficientCredits) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	m.holds = append(m.holds, e.ID)
}

func (m *subMachine) closeHold(t *rapid.T) {
	if len(m.holds) == 0 {
		t.Skip("no hold")
	}
	i := rapid.IntRange(0, len(m.holds)-1).Draw(t, "hold")
	id := m.holds[i]
	m.holds = slices.Delete(m.holds, i, i+1)
	var err error
	if rapid.Bool().Draw(t, "capture") {
		_, err = m.l.Capture(m.ctx, m.account, CaptureRequest{Key: m.key("x"), Hold: id, Amount: Credit})
	} else {
		_, err = m.l.Release(m.ctx, m.account, ReleaseRequest{Key: m.key("x"), Hold: id})
	}
	if err != nil && !errors.Is(err, ErrHoldClosed) {
		t.Fatal(err)
	}
}

func (m *subMachine) topup(t *rapid.T) {
	r := GrantRequest{Key: m.key("t"), Amount: Credits(rapid.IntRange(1, 80).Draw(t, "amount")) * Credit, Source: SourceTopUp,
		Priority: int32(rapid.IntRange(-1, 1).Draw(t, "priority"))}
	if rapid.Bool().Draw(t, "expires") {
		r.ExpiresAt = m.now().Add(time.Duration(rapid.IntRange(1, 24*70).Draw(t, "hours")) * time.Hour)
	}
	if _, err := m.l.Grant(m.ctx, m.account, r); err != nil {
		t.Fatal(err)
	}
}

func (m *subMachine) free(t *rapid.T) {
	if _, err := m.l.ClaimFreeTier(m.ctx, m.account, ""); err != nil && !errors.Is(err, ErrAlreadyClaimed) {
		t.Fatal(err)
	}
}

func (m *subMachine) refund(t *rapid.T) {
	if len(m.charges) == 0 {
		t.Skip("no charge")
	}
	id := rapid.SampledFrom(m.charges).Draw(t, "charge")
	_, err := m.l.Refund(m.ctx, m.account, RefundRequest{Key: m.key("r"), Entry: id, Amount: Credit})
	if err != nil && !errors.Is(err, ErrNotRefundable) {
		t.Fatal(err)
	}
}

// advance moves the clock: to a period's end exactly, a microsecond
// either side of it, or hours or days on.
func (m *subMachine) advance(t *rapid.T) {
	now := m.clock.Now()
	end := m.sub.PeriodAt(now).End
	switch rapid.IntRange(0, 3).Draw(t, "to") {
	case 0:
		m.clock.Set(end)
	case 1:
		m.clock.Set(end.Add(time.Duration(rapid.IntRange(-1, 1).Draw(t, "µs")) * time.Microsecond))
	case 2:
		m.clock.Set(now.Add(time.Duration(rapid.IntRange(1, 24*20).Draw(t, "hours")) * time.Hour))
	default:
		m.clock.Set(now.Add(time.Duration(rapid.IntRange(1, 100).Draw(t, "days")) * 24 * time.Hour))
	}
}

// change moves to a plan with another amount (and the same policy) from
// the next period.
func (m *subMachine) change(t *rapid.T) {
	p := m.sub.PlanAt(m.now())
	p.Credits = Credits(rapid.IntRange(0, 200).Draw(t, "credits")) * Credit
	p.Name = "p" + p.Credits.String()
	s, err := m.sub.ChangePlan(p, m.now())
	if errors.Is(err, ErrInvalidInput) && !m.sub.Ends.IsZero() {
		return // ended before the next period
	}
	if err != nil {
		t.Fatal(err)
	}
	m.sub = s
}

func (m *subMachine) cancel(t *rapid.T) {
	if rapid.IntRange(0, 4).Draw(t, "really") != 0 {
		return
	}
	s, err := m.sub.Cancel(m.now())
	if err != nil {
		t.Fatal(err)
	}
	m.sub = s
}

func (m *subMachine) check(t *rapid.T) {
	stored := m.load(t)
	if stored.Version() == 0 {
		return
	}
	var hist []Entry
	q := HistoryQuery{Limit: 1000}
	for {
		p, err := m.l.History(m.ctx, m.account, q)
		if err != nil {
			t.Fatal(err)
		}
		hist = append(hist, p.Entries...)
		if p.Next == 0 {
			break
		}
		q.After = p.Next
	}
	rebuilt, err := Rebuild(hist)
	if err != nil {
		t.Fatal(err)
	}
	if !rebuilt.Equal(stored) {
		t.Fatal("the stored state is not the history folded")
	}

	// Granted = spent + expired + balance, the balance at read time.
	var granted, spent, gone Credits
	for _, e := range hist {
		switch e.Kind {
		case KindGrant, KindRefund:
			granted += e.Amount
		case KindCharge, KindCapture:
			spent -= e.Amount
		case KindExpire, KindRollover:
			if e.Amount > 0 {
				t.Fatalf("entry %d gives credits back: %+v", e.ID, e)
			}
			gone -= e.Amount
		}
	}
	for _, d := range stored.due(m.now()) {
		gone -= d.Amount
	}
	bal, err := m.l.Balance(m.ctx, m.account)
	if err != nil {
		t.Fatal(err)
	}
	if granted != spent+gone+bal.Total {
		t.Fatalf("granted %s != spent %s + expired %s + balance %s", granted, spent, gone, bal.Total)
	}
	all, err := m.l.Statement(m.ctx, m.account, Period{Start: testDate(1990, 1, 1, 0, 0, time.UTC), End: testDate(9000, 1, 1, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	checkAddsUp(t, all)
	if all.Opening != 0 || all.Closing != bal.Total || all.Expired != gone || all.TotalSpent() != spent {
		t.Fatalf("all-time statement %+v; balance %s, expired %s, spent %s", all, bal.Total, gone, spent)
	}

	// Each period renewed was granted once, in full; no other was.
	byPeriod := grantsOf(hist)
	if !m.renewed.IsZero() {
		for _, p := range m.sub.Periods(time.Time{}, m.renewed.Add(time.Microsecond)) {
			want := m.sub.PlanAt(p.Start).Credits
			if got, ok := byPeriod[p.Start.UnixMicro()]; !ok || got != want {
				t.Fatalf("period %s granted %s (%v), want %s", p, got, ok, want)
			}
			delete(byPeriod, p.Start.UnixMicro())
		}
	}
	if len(byPeriod) != 0 {
		t.Fatalf("grants for periods not renewed: %v", byPeriod)
	}

	// The statements of the last periods chain, the current one's closing
	// is the balance.
	ps := m.sub.Periods(time.Time{}, m.now().Add(time.Microsecond))
	var prev *Statement
	for _, p := range ps[max(0, len(ps)-4):] {
		st, err := m.l.Statement(m.ctx, m.account, p)
		if err != nil {
			t.Fatal(err)
		}
		checkAddsUp(t, st)
		if prev != nil && prev.Closing != st.Opening {
			t.Fatalf("period %s closes at %s, the next opens at %s", prev.Period, prev.Closing, st.Opening)
		}
		if p.Contains(m.now()) && st.Closing != bal.Total {
			t.Fatalf("the current period closes at %s, the balance is %s", st.Closing, bal.Total)
		}
		prev = &st
	}

	// A cap holds at read time: once the last renewed period has ended,
	// the subscription credits that survive are at most the cap, plus
	// what holds open at that renewal may have given back.
	if c, ok := m.policy.capAt(); ok && !m.renewed.IsZero() && !m.now().Before(m.sub.PeriodAt(m.renewed).End) {
		var live Credits
		for _, l := range stored.lots {
			if l.Source == SourceSubscription && !expired(l.ExpiresAt, m.now()) {
				live += l.Remaining + l.Reserved
			}
		}
		if live > c+m.slack {
			t.Fatalf("after the period's end, %s subscription credits survive a cap of %s (slack %s): %+v", live, c, m.slack, stored.lots)
		}
	}
	// Every carry is within the policy's bounds.
	for _, e := range hist {
		if e.Kind != KindRollover || e.Metadata["carried"] == "" {
			continue
		}
		c := MustParse(e.Metadata["carried"])
		if m.policy.Mode != RollOverCarry || (m.policy.Max > 0 && c > m.policy.Max) || c < m.policy.Min {
			t.Fatalf("a carry of %s under %+v", c, m.policy)
		}
	}
}

// TestCalendarArithmetic checks the calendar helpers against package
// time, day by day over four centuries and around year 0.
func TestCalendarArithmetic(t *testing.T) {
	for _, from := range []time.Time{testDate(1899, 12, 1, 0, 0, time.UTC), testDate(-2, 1, 1, 0, 0, time.UTC)} {
		for d := from; d.Before(from.AddDate(401, 0, 0)); d = d.AddDate(0, 0, 1) {
			if got := daysSinceEpoch(d.Year(), d.Month(), d.Day()); got*86400 != d.Unix() {
				t.Fatalf("daysSinceEpoch(%s) = %d, want %d", d.Format(time.DateOnly), got, d.Unix()/86400)
			}
			if d.Day() == 1 {
				if got, want := daysIn(d.Year(), d.Month()), d.AddDate(0, 1, -1).Day(); got != want {
					t.Fatalf("daysIn(%d, %s) = %d, want %d", d.Year(), d.Month(), got, want)
				}
			}
		}
	}
}

// ---- Benchmarks (each with its baseline, measured in the same run) ----

// rolloverCPUMeter reports, next to the wall-clock ns/op, the process's CPU time
// per operation (cpu-ns/op): on a machine shared with other work, the
// wall clock measures the other work too.
type rolloverCPUMeter struct{ start time.Duration }

func startRolloverCPU(b *testing.B) rolloverCPUMeter {
	b.ReportAllocs()
	b.ResetTimer()
	return rolloverCPUMeter{rolloverProcessCPU()}
}

func (m rolloverCPUMeter) stop(b *testing.B) {
	b.StopTimer()
	b.ReportMetric(float64(rolloverProcessCPU()-m.start)/float64(b.N), "cpu-ns/op")
}

func rolloverProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var sinkPeriod Period

func BenchmarkPeriodAt(b *testing.B) {
	ny := testZone(b, "America/New_York")
	s := Schedule{Anchor: testDate(2026, 1, 31, 0, 30, ny), Interval: Monthly, Location: ny}
	at := testDate(2031, 7, 4, 12, 0, ny)
	cpu := startRolloverCPU(b)
	for b.Loop() {
		sinkPeriod = s.PeriodAt(at)
	}
	cpu.stop(b)
}

// BenchmarkPeriodAtBaselineTimeDate is the floor PeriodAt stands on: the
// two time.Date calls in the zone that make one period.
func BenchmarkPeriodAtBaselineTimeDate(b *testing.B) {
	ny := testZone(b, "America/New_York")
	cpu := startRolloverCPU(b)
	for b.Loop() {
		sinkPeriod = Period{Start: time.Date(2031, 6, 30, 0, 30, 0, 0, ny), End: time.Date(2031, 7, 31, 0, 30, 0, 0, ny)}
	}
	cpu.stop(b)
}

func renewBenchLedger(b *testing.B, periods int) (*Ledger, Subscription, *testClock) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	c := &testClock{t: t0}
	l := NewMemoryLedger(Options{Now: c.Now})
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	c.Set(t0.AddDate(0, periods-1, 3))
	if _, err := l.Renew(context.Background(), "a", s); err != nil {
		b.Fatal(err)
	}
	return l, s, c
}

// BenchmarkRenewUpToDate is the common call: a subscription two years old
// that is already renewed.
func BenchmarkRenewUpToDate(b *testing.B) {
	l, s, _ := renewBenchLedger(b, 24)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		if _, err := l.Renew(ctx, "a", s); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkRenewBaselineBalance is one read of the same account.
func BenchmarkRenewBaselineBalance(b *testing.B) {
	l, _, _ := renewBenchLedger(b, 24)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		if _, err := l.Balance(ctx, "a"); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkRenewPeriod grants one new period (and applies the cap) each
// iteration, on a fresh account each time.
func BenchmarkRenewPeriod(b *testing.B) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	c := &testClock{t: t0}
	l := NewMemoryLedger(Options{Now: c.Now})
	s := testSub("s", testPlan("capped", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCapped, Max: 30 * Credit}), t0, nil)
	ctx := context.Background()
	i := 0
	cpu := startRolloverCPU(b)
	for b.Loop() {
		i++
		if _, err := l.Renew(ctx, fmt.Sprint("a", i), s); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkRenewBaselineGrant is the same write made by Grant.
func BenchmarkRenewBaselineGrant(b *testing.B) {
	l := NewMemoryLedger(Options{})
	ctx := context.Background()
	i := 0
	cpu := startRolloverCPU(b)
	for b.Loop() {
		i++
		if _, err := l.Grant(ctx, fmt.Sprint("a", i), GrantRequest{Key: "g", Amount: 100 * Credit, Source: SourceSubscription}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

func statementLedger(b *testing.B) (*Ledger, Period) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	c := &testClock{t: t0}
	l := NewMemoryLedger(Options{Now: c.Now})
	ctx := context.Background()
	s := testSub("s", testPlan("big", 10000*Credit, Monthly, RolloverPolicy{}), t0, nil)
	if _, err := l.Renew(ctx, "a", s); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		c.Set(t0.Add(time.Duration(i+1) * time.Minute))
		if _, err := l.Charge(ctx, "a", ChargeRequest{Key: fmt.Sprint(i), Action: Action(1 + i%int(numActions-1))}); err != nil {
			b.Fatal(err)
		}
	}
	c.Set(testDate(2026, 3, 1, 0, 0, time.UTC))
	return l, s.PeriodAt(t0)
}

// BenchmarkStatement: a month of 1,001 entries.
func BenchmarkStatement(b *testing.B) {
	l, p := statementLedger(b)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		if _, err := l.Statement(ctx, "a", p); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkStatementBaselineHistory reads the same entries through
// History, without adding anything up.
func BenchmarkStatementBaselineHistory(b *testing.B) {
	l, p := statementLedger(b)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		q := HistoryQuery{Since: p.Start, Until: p.End, Limit: 1000}
		for {
			pg, err := l.History(ctx, "a", q)
			if err != nil {
				b.Fatal(err)
			}
			if pg.Next == 0 {
				break
			}
			q.After = pg.Next
		}
	}
	cpu.stop(b)
}
