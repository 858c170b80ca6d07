package credits

import "time"

// Interval is the length of a billing period. The zero value is not an
// interval.
type Interval uint8

// The billing intervals.
const (
	Monthly Interval = iota + 1 // monthly: one calendar month
	Yearly                      // yearly: twelve calendar months

	numIntervals = iota + 1
)

var intervalNames = [numIntervals]string{Monthly: "monthly", Yearly: "yearly"}

// Valid reports whether i is one of the defined intervals.
func (i Interval) Valid() bool { return i > 0 && i < numIntervals }

var intervalEnum = newEnum[Interval]("Interval", "interval", "interval", intervalNames[:], true, false)

// String returns "monthly" or "yearly"; "" for the zero value.
func (i Interval) String() string { return intervalEnum.string(i) }

// months is the length of the interval in calendar months.
func (i Interval) months() int {
	if i == Yearly {
		return 12
	}
	return 1
}

// ParseInterval returns the interval named s ("monthly" or "yearly"). An
// unknown name ("" included) is an [*InputError] naming it and listing the
// valid names.
func ParseInterval(s string) (Interval, error) { return intervalEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value (a
// plan or schedule without an interval, which does not validate), an
// [*InputError] for an undefined one.
func (i Interval) MarshalText() ([]byte, error) { return intervalEnum.marshalText(i) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseInterval].
// On error i is left unchanged.
func (i *Interval) UnmarshalText(b []byte) error { return intervalEnum.unmarshalText(i, b) }

// Period is a billing period: the instants t with Start <= t < End. A
// period's boundaries are whole microseconds, like every instant the
// ledger stores, so a period and the ledger agree on which side of a
// boundary an entry falls.
type Period struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t is in the period: Start <= t < End.
func (p Period) Contains(t time.Time) bool { return !t.Before(p.Start) && t.Before(p.End) }

// Equal reports whether p and o start and end at the same instants,
// whatever their locations.
func (p Period) Equal(o Period) bool { return p.Start.Equal(o.Start) && p.End.Equal(o.End) }

// String formats the period as an ISO 8601 interval, "start/end".
func (p Period) String() string {
	return p.Start.Format(time.RFC3339Nano) + "/" + p.End.Format(time.RFC3339Nano)
}

// Schedule divides time into billing periods: monthly or yearly from an
// anchor, in a time zone. The zero value is not valid; see
// [Schedule.Validate].
//
// Period k (k = 0 at the anchor, negative before it) starts k intervals
// after the anchor's month, on the anchor's day of the month and at the
// anchor's wall-clock time in Location. A day the month does not have is
// clamped to the month's last day, for that period only: from an anchor on
// January 31, periods start on February 28 (29 in a leap year), then March
// 31 again, never drifting. Because periods start at a wall-clock time,
// a change of daylight-saving time inside a period makes that period an
// hour shorter or longer. A period never starts before its wall-clock
// time: one the zone skips (02:30 on the day clocks go forward) starts
// when the clocks have gone forward by the skip (03:30), as java.time does;
// one the zone repeats (01:30 on the day clocks go back) starts at the
// instant time.Date picks. Instants are kept to the microsecond: the
// anchor's nanoseconds are dropped.
//
// Periods are contiguous and never overlap: each ends where the next starts.
// A Schedule is a plain value; its methods are pure and safe for
// concurrent use.
type Schedule struct {
	Anchor   time.Time      // the start of period 0
	Interval Interval       // Monthly or Yearly
	Location *time.Location // the zone whose wall clock sets boundaries; nil means UTC
}

// Validate reports whether the schedule is usable: an error wrapping
// [ErrInvalidInput] (an [*InputError]) names the field at fault.
func (s Schedule) Validate() error {
	return validateSchedule("", s.Anchor, s.Interval, s.Location)
}

func validateSchedule(prefix string, anchor time.Time, iv Interval, loc *time.Location) error {
	if anchor.IsZero() {
		return inputErr(prefix+"anchor", "", "is required")
	}
	if y := anchor.In(locationOrUTC(loc)).Year(); y < 1 || y > 9999 {
		return inputErr(prefix+"anchor", anchor.String(), "must be in the years 1 to 9999")
	}
	if !iv.Valid() {
		return inputErr(prefix+"interval", iv.String(), "must be monthly or yearly")
	}
	return nil
}

// PeriodAt returns the period that contains t. It panics if the schedule
// is not valid: check it once with [Schedule.Validate].
func (s Schedule) PeriodAt(t time.Time) Period {
	r := s.mustRule()
	_, p := r.find(t)
	return p
}

// Periods returns, in order, the periods that overlap [from, to): the one
// that contains from, then each after it that starts before to. It
// returns nil if to is not after from. It panics if the schedule is not
// valid.
func (s Schedule) Periods(from, to time.Time) []Period {
	r := s.mustRule()
	if !to.After(from) {
		return nil
	}
	var out []Period
	k, p := r.find(from)
	for p.Start.Before(to) {
		out = append(out, p)
		k++
		p = Period{Start: p.End, End: r.start(k + 1)}
	}
	return out
}

func (s Schedule) mustRule() periodRule {
	if err := s.Validate(); err != nil {
		panic("credits: invalid Schedule: " + err.Error())
	}
	return newRule(s.Anchor, s.Anchor, s.Interval, s.Location)
}

func locationOrUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

// periodRule computes the starts of periods: period k starts on the
// calendar month (year, month) + k*months, on day (clamped to the month),
// at the wall-clock time hour:min:sec.nsec in loc.
type periodRule struct {
	year           int
	month          time.Month
	day            int
	hour, min, sec int
	nsec           int // whole microseconds
	months         int
	loc            *time.Location
}

// newRule returns the rule whose period 0 starts in the calendar month of
// first, on the day and at the wall-clock time of anchor.
func newRule(anchor, first time.Time, iv Interval, loc *time.Location) periodRule {
	loc = locationOrUTC(loc)
	a := anchor.In(loc)
	f := first.In(loc)
	return periodRule{
		year: f.Year(), month: f.Month(), day: a.Day(),
		hour: a.Hour(), min: a.Minute(), sec: a.Second(), nsec: a.Nanosecond() / 1000 * 1000,
		months: iv.months(), loc: loc,
	}
}

// start returns the start of period k.
func (r *periodRule) start(k int) time.Time {
	m := int(r.month) - 1 + k*r.months
	y := r.year + floorDiv(m, 12)
	mon := time.Month(m - floorDiv(m, 12)*12 + 1)
	d := min(r.day, daysIn(y, mon))
	t := time.Date(y, mon, d, r.hour, r.min, r.sec, r.nsec, r.loc)
	// In a gap, time.Date may read the wall clock with the offset after
	// the change, giving an instant whose wall clock is earlier than asked;
	// move it forward by the difference.
	_, off := t.Zone()
	wall := daysSinceEpoch(y, mon, d)*86400 + int64(r.hour*3600+r.min*60+r.sec)
	if behind := wall - (t.Unix() + int64(off)); behind > 0 {
		t = t.Add(time.Duration(behind) * time.Second)
	}
	return t
}

// index returns the k of the period that contains t.
func (r *periodRule) index(t time.Time) int {
	k, _ := r.find(t)
	return k
}

// find returns the period that contains t, and its k.
func (r *periodRule) find(t time.Time) (int, Period) {
	lt := t.In(r.loc)
	k := floorDiv((lt.Year()-r.year)*12+int(lt.Month())-int(r.month), r.months)
	// The calendar estimate is off by at most one period (t before the
	// day or time of the month's start); step to the right one.
	start := r.start(k)
	for start.After(t) {
		k--
		start = r.start(k)
	}
	end := r.start(k + 1)
	for !end.After(t) {
		k++
		start, end = end, r.start(k+1)
	}
	return k, Period{Start: start, End: end}
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysIn is the number of days in a month of the proleptic Gregorian
// calendar.
func daysIn(year int, m time.Month) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// daysSinceEpoch is the number of days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (negative before it), by the days-from-civil
// algorithm (H. Hinnant).
func daysSinceEpoch(y int, m time.Month, d int) int64 {
	yy := int64(y)
	if m <= time.February {
		yy--
	}
	era := yy / 400
	if yy < 0 && yy%400 != 0 {
		era--
	}
	yoe := yy - era*400
	mp := (int64(m) + 9) % 12
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
