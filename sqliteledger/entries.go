package sqliteledger

import (
	"database/sql"
	"fmt"
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
	var metadata, lines any // NULL for none
	if r.Metadata != nil {
		metadata = string(r.Metadata)
	}
	if r.Lines != nil {
		lines = string(r.Lines)
	}
	multi := 0
	if r.MultiCapture {
		multi = 1
	}
	return []any{
		r.Account, r.ID, r.Kind, micros(r.Time), r.Amount, r.Held, r.BalanceAfter,
		r.Source, r.Action, r.Resolution, r.Quantity, r.PriceVersion,
		r.Hold, r.Lot, r.Reverses, int64(r.Priority), micros(r.ExpiresAt), micros(r.Period), micros(r.PeriodEnd),
		r.Subscription, r.Plan, r.Carried, r.Claim, r.Notice, r.Value, r.Key, r.RequestHash, metadata,
		r.Spender, multi, lines, r.Failure, r.BudgetCap, r.BudgetWindow, r.BudgetZone, r.Hash,
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
	var d rowDests
	var seq int64
	dests := d.dests()
	if withSeq {
		dests = append(dests, &seq)
	}
	if err := row.Scan(dests...); err != nil {
		return credits.Entry{}, 0, err
	}
	e, err := d.entry()
	return e, seq, err
}

// rowDests are the destinations one row of sqlentry.Columns is scanned
// into.
type rowDests struct {
	r                                sqlentry.Row
	at, expiresAt, period, periodEnd sql.NullInt64
	metadata, lines                  sql.NullString
}

// dests returns the destinations, in the order of sqlentry.Columns.
func (d *rowDests) dests() []any {
	r := &d.r
	return []any{&r.Account, &r.ID, &r.Kind, &d.at, &r.Amount, &r.Held, &r.BalanceAfter,
		&r.Source, &r.Action, &r.Resolution, &r.Quantity, &r.PriceVersion,
		&r.Hold, &r.Lot, &r.Reverses, &r.Priority, &d.expiresAt, &d.period, &d.periodEnd,
		&r.Subscription, &r.Plan, &r.Carried, &r.Claim, &r.Notice, &r.Value, &r.Key, &r.RequestHash, &d.metadata,
		&r.Spender, &r.MultiCapture, &d.lines, &r.Failure, &r.BudgetCap, &r.BudgetWindow, &r.BudgetZone, &r.Hash}
}

// entry decodes the scanned row.
func (d *rowDests) entry() (credits.Entry, error) {
	r := &d.r
	r.Time, r.ExpiresAt, r.Period, r.PeriodEnd = instant(d.at), instant(d.expiresAt), instant(d.period), instant(d.periodEnd)
	if d.metadata.Valid {
		r.Metadata = []byte(d.metadata.String)
	}
	if d.lines.Valid {
		r.Lines = []byte(d.lines.String)
	}
	return r.Entry()
}

// optionalRow scans the columns of an entry that may be absent: a LEFT
// JOIN that matched no entry gives NULL in every column, which the
// destinations of rowDests do not all take.
type optionalRow struct {
	rowDests
	cols  [64]nullable
	nulls uint64 // bit i: column i, one that cannot hold NULL, was NULL
}

// dests returns the destinations, in the order of sqlentry.Columns.
func (o *optionalRow) dests() []any {
	ds := o.rowDests.dests()
	for i, p := range ds {
		switch p.(type) {
		case *string, *int64, *int32, *bool:
			o.cols[i] = nullable{dst: p, bit: 1 << i, nulls: &o.nulls}
			ds[i] = &o.cols[i]
		}
	}
	return ds
}

// entry returns the scanned entry, nil if the row had none (its ID is
// NULL). A row with an ID and NULL in a column that cannot hold it is
// corrupt.
func (o *optionalRow) entry(account string) (*credits.Entry, error) {
	switch {
	case o.nulls&(1<<1) != 0: // the ID: no entry
		return nil, nil
	case o.nulls != 0:
		return nil, &credits.CorruptError{Account: account, Entry: o.r.ID, Reason: "an entry row does not read: NULL in a column that cannot hold it"}
	}
	e, err := o.rowDests.entry()
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// nullable is a destination that takes NULL, noting it in nulls, and
// anything else as database/sql converts it into dst.
type nullable struct {
	dst   any // *string, *int64, *int32 or *bool
	bit   uint64
	nulls *uint64
}

// Scan implements sql.Scanner.
func (n *nullable) Scan(src any) error {
	if src == nil {
		*n.nulls |= n.bit
		return nil
	}
	switch d := n.dst.(type) {
	case *string:
		return assign(d, src)
	case *int64:
		return assign(d, src)
	case *int32:
		return assign(d, src)
	case *bool:
		return assign(d, src)
	}
	return fmt.Errorf("a destination of type %T", n.dst)
}

// assign converts src into *d as database/sql's Scan does.
func assign[T any](d *T, src any) error {
	var v sql.Null[T]
	if err := v.Scan(src); err != nil {
		return err
	}
	*d = v.V
	return nil
}
