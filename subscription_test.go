package credits

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

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
