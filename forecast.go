package credits

import (
	"math/bits"
	"time"
)

// The limits of [Forecast].
const (
	// ForecastWindow is how far back Forecast looks for the recent burn
	// rate: the last 30 days.
	ForecastWindow = 30 * 24 * time.Hour
	// MinForecastDays is the least history Forecast needs: the account
	// must have existed for at least 7 whole days before now.
	MinForecastDays = 7
	// ForecastHorizon is the furthest Forecast looks ahead: a run-out
	// more than ten years (of 365 days) away is no forecast.
	ForecastHorizon = 10 * 365 * 24 * time.Hour
)

const day = 24 * time.Hour

// BurnForecast is when an account's credits run out at its recent burn
// rate, as [Forecast] computes it.
type BurnForecast struct {
	// RunOut is when the balance is used up at PerDay's exact rate (the
	// window's net spending spread evenly over its days); zero when
	// there is no forecast.
	RunOut time.Time
	// PerDay is the burn rate: the window's net spending divided by Days,
	// rounded down to the micro-credit.
	PerDay Credits
	// MaxPerDay is the most spent, net, in any one day of the window.
	MaxPerDay Credits
	// Days is the number of whole days observed: ForecastWindow's 30, or
	// fewer for a younger account; the days end at now.
	Days int
	// Since is the start of the observed days: now - Days×24h.
	Since time.Time
}

// Forecast tells when balance (an account's available credits) runs out
// if the account keeps spending at its recent rate. It is pure: history
// and now are all it reads.
//
// history is the account's entries in ID order: at least those of the
// last [ForecastWindow] before now, and the account's first entry or any
// entry older than the window, which dates the account (a History page
// from Since: now - ForecastWindow, plus the account's first entry, will
// do). Entries at or after now are ignored.
//
// The days are the whole 24-hour days that end at now and start after the
// first entry given, at most 30 of them. Each day's spending is what its
// charges and captures took, less what its refunds gave back; grants,
// holds, releases and expiries are not spending. The rate is the days'
// total divided evenly over them.
//
// Forecast reports false, with what it could compute, when there is no
// forecast: the history covers fewer than [MinForecastDays] whole days,
// nothing was spent net over the days, a sum overflows, or the run-out
// lies beyond [ForecastHorizon]. A balance of zero or less has run out
// already: RunOut is now.
//
// A forecast is never earlier than a constant burn at the days' highest
// rate (MaxPerDay) would give: RunOut ≥ now + balance/MaxPerDay days, to
// the nanosecond, rounded down. It is a rate, not a promise: spending
// that is uneven (a launch, a holiday) moves it.
func Forecast(history []Entry, balance Credits, now time.Time) (BurnForecast, bool) {
	var f BurnForecast
	if balance <= 0 {
		f.RunOut = now
		return f, true
	}
	if len(history) == 0 {
		return f, false
	}
	age := now.Sub(history[0].Time)
	f.Days = int(min(age, ForecastWindow) / day)
	if f.Days < MinForecastDays {
		f.Days = max(f.Days, 0)
		return f, false
	}
	f.Since = now.Add(-time.Duration(f.Days) * day)

	var daily [ForecastWindow / day]Credits
	for i := range history {
		e := &history[i]
		if e.Time.Before(f.Since) || !e.Time.Before(now) {
			continue
		}
		switch e.Kind {
		case KindCharge, KindCapture, KindRefund: // a charge's amount is negative, a refund's positive
		default:
			continue
		}
		d := int(e.Time.Sub(f.Since) / day) // 0 is the first day, starting at Since
		var err error
		if daily[d], err = daily[d].Sub(e.Amount); err != nil {
			return f, false
		}
	}
	var total Credits
	for d := range f.Days {
		var err error
		if total, err = total.Add(daily[d]); err != nil {
			return f, false
		}
		f.MaxPerDay = max(f.MaxPerDay, daily[d])
	}
	if total <= 0 {
		return f, false
	}
	f.PerDay = total / Credits(f.Days)

	// balance × span / total, in 128 bits: 30 days of nanoseconds times
	// an amount does not fit in 64.
	span := uint64(time.Duration(f.Days) * day)
	hi, lo := bits.Mul64(uint64(balance), span)
	if hi >= uint64(total) {
		return f, false // the quotient does not fit: far beyond the horizon
	}
	q, _ := bits.Div64(hi, lo, uint64(total))
	if q > uint64(ForecastHorizon) {
		return f, false
	}
	f.RunOut = now.Add(time.Duration(q))
	return f, true
}
