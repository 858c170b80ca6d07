package credits

import (
	"errors"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

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
