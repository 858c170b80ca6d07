package pgledger

import (
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/sqlentry"
	"github.com/jackc/pgx/v5/pgtype"
)

// The entries table holds the columns of internal/sqlentry (the one
// encoding of an entry both SQL backends share); what is PostgreSQL's own
// is the type of an instant: timestamptz, NULL for a zero ExpiresAt,
// Period or PeriodEnd; and metadata and lines as json, sent as text, which every
// query mode of pgx can send (the simple protocol cannot encode a map).

// entryArgs returns e's column values in the order of sqlentry.Columns.
func entryArgs(e *credits.Entry) ([]any, error) {
	r, err := sqlentry.Encode(e)
	if err != nil {
		return nil, err
	}
	var metadata, lines any
	if r.Metadata != nil {
		metadata = string(r.Metadata)
	}
	if r.Lines != nil {
		lines = string(r.Lines)
	}
	return []any{
		r.Account, r.ID, r.Kind, r.Time, r.Amount, r.Held, r.BalanceAfter,
		r.Source, r.Action, r.Resolution, r.Quantity, r.PriceVersion,
		r.Hold, r.Lot, r.Reverses, r.Priority, nullTime(r.ExpiresAt), nullTime(r.Period), nullTime(r.PeriodEnd),
		r.Subscription, r.Plan, r.Carried, r.Claim, r.Notice, r.Value, r.Key, r.RequestHash, metadata,
		r.Spender, r.MultiCapture, lines, r.Failure, r.BudgetCap, r.BudgetWindow, r.BudgetZone, r.Hash,
	}, nil
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func instant(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time
}

// rowScanner is what pgx.Row and pgx.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanEntry reads a row of sqlentry.Columns, of account's entries. A row
// that does not convert or decode is corrupt (credits.ErrCorrupt): row is
// one of pgx.Rows already read, whose Scan only converts.
func scanEntry(row rowScanner, account string) (credits.Entry, error) {
	e, _, err := scan(row, account, false)
	return e, err
}

// scanFeedEntry reads a row of sqlentry.Columns and the entry's xid as
// text.
func scanFeedEntry(row rowScanner) (credits.Entry, string, error) {
	return scan(row, "", true)
}

func scan(row rowScanner, account string, withXid bool) (credits.Entry, string, error) {
	var (
		r                            sqlentry.Row
		expiresAt, period, periodEnd pgtype.Timestamptz
	)
	var xid string
	dests := []any{&r.Account, &r.ID, &r.Kind, &r.Time, &r.Amount, &r.Held, &r.BalanceAfter,
		&r.Source, &r.Action, &r.Resolution, &r.Quantity, &r.PriceVersion,
		&r.Hold, &r.Lot, &r.Reverses, &r.Priority, &expiresAt, &period, &periodEnd,
		&r.Subscription, &r.Plan, &r.Carried, &r.Claim, &r.Notice, &r.Value, &r.Key, &r.RequestHash, &r.Metadata,
		&r.Spender, &r.MultiCapture, &r.Lines, &r.Failure, &r.BudgetCap, &r.BudgetWindow, &r.BudgetZone, &r.Hash}
	if withXid {
		dests = append(dests, &xid)
	}
	if err := row.Scan(dests...); err != nil {
		return credits.Entry{}, "", &credits.CorruptError{Account: account, Reason: "an entry row does not read", Err: err}
	}
	r.ExpiresAt, r.Period, r.PeriodEnd = instant(expiresAt), instant(period), instant(periodEnd)
	e, err := r.Entry()
	return e, xid, err
}
