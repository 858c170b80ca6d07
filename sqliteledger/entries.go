package sqliteledger

import (
	"database/sql"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/sqlentry"
)

// The entries table holds the columns of internal/sqlentry (the one
// encoding of an entry both SQL backends share); what is SQLite's own is
// the type of an instant: INTEGER unix microseconds, NULL for the zero
// time.

var entryPlaceholders = strings.TrimSuffix(strings.Repeat("?, ", sqlentry.NumColumns), ", ")

// entryArgs encodes e as the values of sqlentry.Columns.
func entryArgs(e *credits.Entry) ([]any, error) {
	r, err := sqlentry.Encode(e)
	if err != nil {
		return nil, err
	}
	var metadata any // NULL for none
	if r.Metadata != nil {
		metadata = string(r.Metadata)
	}
	return []any{
		r.Account, r.ID, r.Kind, micros(r.Time), r.Amount, r.Held, r.BalanceAfter,
		r.Source, r.Action, r.Resolution, r.Quantity, r.PriceVersion,
		r.Hold, r.Lot, r.Reverses, int64(r.Priority), micros(r.ExpiresAt), micros(r.Period), micros(r.PeriodEnd),
		r.Subscription, r.Plan, r.Carried, r.Claim, r.Notice, r.Value, r.Key, r.RequestHash, metadata,
	}, nil
}

// micros is t as unix microseconds, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func instant(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanEntry reads one row of sqlentry.Columns.
func scanEntry(row scanner) (credits.Entry, error) {
	e, _, err := scan(row, false)
	return e, err
}

// scanFeedEntry reads one row of sqlentry.Columns and seq.
func scanFeedEntry(row scanner) (credits.Entry, int64, error) {
	return scan(row, true)
}

func scan(row scanner, withSeq bool) (credits.Entry, int64, error) {
	var (
		r                                sqlentry.Row
		at, expiresAt, period, periodEnd sql.NullInt64
		metadata                         sql.NullString
	)
	var seq int64
	dests := []any{&r.Account, &r.ID, &r.Kind, &at, &r.Amount, &r.Held, &r.BalanceAfter,
		&r.Source, &r.Action, &r.Resolution, &r.Quantity, &r.PriceVersion,
		&r.Hold, &r.Lot, &r.Reverses, &r.Priority, &expiresAt, &period, &periodEnd,
		&r.Subscription, &r.Plan, &r.Carried, &r.Claim, &r.Notice, &r.Value, &r.Key, &r.RequestHash, &metadata}
	if withSeq {
		dests = append(dests, &seq)
	}
	if err := row.Scan(dests...); err != nil {
		return credits.Entry{}, 0, err
	}
	r.Time, r.ExpiresAt, r.Period, r.PeriodEnd = instant(at), instant(expiresAt), instant(period), instant(periodEnd)
	if metadata.Valid {
		r.Metadata = []byte(metadata.String)
	}
	e, err := r.Entry()
	return e, seq, err
}
