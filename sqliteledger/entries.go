package sqliteledger

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/avstudio/credits"
)

// entryColumns are the columns of the entries table, in the order of
// entryArgs and scanEntry.
const entryColumns = `account, id, kind, time, amount, held, balance_after, source, action, resolution, quantity,
	price_version, hold, lot, reverses, priority, expires_at, period, key, request_hash, metadata`

var entryPlaceholders = strings.TrimSuffix(strings.Repeat("?, ", strings.Count(entryColumns, ",")+1), ", ")

// entryArgs encodes e as the values of entryColumns. It refuses what
// could not be read back exactly: an unknown kind, source, action or
// resolution, or an instant finer than a microsecond.
func entryArgs(e *credits.Entry) ([]any, error) {
	kind, err := e.Kind.MarshalText()
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", e.ID, err)
	}
	source, err := e.Source.MarshalText()
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", e.ID, err)
	}
	var action []byte
	if e.Action != 0 {
		if action, err = e.Action.MarshalText(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", e.ID, err)
		}
	}
	resolution, err := e.Resolution.MarshalText()
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", e.ID, err)
	}
	tm, err := encodeTime(e.ID, "time", e.Time)
	if err != nil {
		return nil, err
	}
	expiresAt, err := encodeTime(e.ID, "expires_at", e.ExpiresAt)
	if err != nil {
		return nil, err
	}
	period, err := encodeTime(e.ID, "period", e.Period)
	if err != nil {
		return nil, err
	}
	var metadata any // NULL for nil
	if e.Metadata != nil {
		for k, v := range e.Metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("entry %d: metadata %q is not valid UTF-8", e.ID, k)
			}
		}
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("entry %d: metadata: %w", e.ID, err)
		}
		metadata = string(b)
	}
	return []any{
		e.Account, e.ID, string(kind), tm, int64(e.Amount), int64(e.Held), int64(e.BalanceAfter),
		string(source), string(action), string(resolution), e.Quantity,
		e.PriceVersion, e.Hold, e.Lot, e.Reverses, int64(e.Priority), expiresAt, period,
		e.Key, int64(e.RequestHash), metadata,
	}, nil
}

// encodeTime stores t as unix microseconds, or NULL for the zero time.
func encodeTime(id int64, field string, t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Nanosecond()%1000 != 0 {
		return nil, fmt.Errorf("entry %d: %s %s is finer than a microsecond", id, field, t.Format(time.RFC3339Nano))
	}
	return t.UnixMicro(), nil
}

func decodeTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// entryRow holds one row of entryColumns as SQL gives it.
type entryRow struct {
	account, kind, source, action, resolution, priceVersion, key                  string
	id, amount, held, balanceAfter, quantity, hold, lot, reverses, priority, hash int64
	time, expiresAt, period                                                       sql.NullInt64
	metadata                                                                      sql.NullString
}

// dests are the Scan destinations of entryColumns.
func (r *entryRow) dests() []any {
	return []any{&r.account, &r.id, &r.kind, &r.time, &r.amount, &r.held, &r.balanceAfter, &r.source, &r.action, &r.resolution,
		&r.quantity, &r.priceVersion, &r.hold, &r.lot, &r.reverses, &r.priority, &r.expiresAt, &r.period,
		&r.key, &r.hash, &r.metadata}
}

// scanEntry reads one row of entryColumns.
func scanEntry(row scanner) (credits.Entry, error) {
	var r entryRow
	if err := row.Scan(r.dests()...); err != nil {
		return credits.Entry{}, err
	}
	return r.entry()
}

// entry decodes the row.
func (r *entryRow) entry() (credits.Entry, error) {
	e := credits.Entry{
		Account: r.account, ID: r.id, Quantity: r.quantity, PriceVersion: r.priceVersion,
		Hold: r.hold, Lot: r.lot, Reverses: r.reverses, Key: r.key, RequestHash: uint64(r.hash),
		Amount: credits.Credits(r.amount), Held: credits.Credits(r.held), BalanceAfter: credits.Credits(r.balanceAfter),
		Time: decodeTime(r.time), ExpiresAt: decodeTime(r.expiresAt), Period: decodeTime(r.period),
	}
	var err error
	if e.Kind, err = credits.ParseKind(r.kind); err != nil {
		return credits.Entry{}, fmt.Errorf("entry %d: %w", e.ID, err)
	}
	if r.source != "" {
		if e.Source, err = credits.ParseSource(r.source); err != nil {
			return credits.Entry{}, fmt.Errorf("entry %d: %w", e.ID, err)
		}
	}
	if r.action != "" {
		if e.Action, err = credits.ParseAction(r.action); err != nil {
			return credits.Entry{}, fmt.Errorf("entry %d: %w", e.ID, err)
		}
	}
	if r.resolution != "" {
		if e.Resolution, err = credits.ParseResolution(r.resolution); err != nil {
			return credits.Entry{}, fmt.Errorf("entry %d: %w", e.ID, err)
		}
	}
	if r.priority < math.MinInt32 || r.priority > math.MaxInt32 {
		return credits.Entry{}, fmt.Errorf("entry %d: priority %d out of range", e.ID, r.priority)
	}
	e.Priority = int32(r.priority)
	if r.metadata.Valid {
		if err := json.Unmarshal([]byte(r.metadata.String), &e.Metadata); err != nil {
			return credits.Entry{}, fmt.Errorf("entry %d: metadata: %w", e.ID, err)
		}
	}
	return e, nil
}
