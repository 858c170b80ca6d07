package pgledger

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/avstudio/credits"
	"github.com/jackc/pgx/v5/pgtype"
)

// entryArgs returns e's column values in the order of entryColumns:
// instants in UTC (NULL for a zero ExpiresAt or Period), names as their
// stable text ("" for a zero Source, Action or Resolution), the request
// hash as the int64 with its bits, and metadata as a json object, or
// NULL when there is none.
func entryArgs(e *credits.Entry) ([]any, error) {
	if !e.Kind.Valid() {
		return nil, fmt.Errorf("entry %d: unknown kind %s", e.ID, e.Kind)
	}
	source, action, resolution := "", "", ""
	if e.Source != 0 {
		if !e.Source.Valid() {
			return nil, fmt.Errorf("entry %d: unknown source %s", e.ID, e.Source)
		}
		source = e.Source.String()
	}
	if e.Action != 0 {
		if !e.Action.Valid() {
			return nil, fmt.Errorf("entry %d: unknown action %s", e.ID, e.Action)
		}
		action = e.Action.String()
	}
	if e.Resolution != 0 {
		if !e.Resolution.Valid() {
			return nil, fmt.Errorf("entry %d: unknown resolution %s", e.ID, e.Resolution)
		}
		resolution = e.Resolution.String()
	}
	// Metadata goes as JSON text, which every query mode of pgx can send
	// (the simple protocol and QueryExecModeExec cannot encode a map).
	var metadata any
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("entry %d: metadata: %w", e.ID, err)
		}
		metadata = string(b)
	}
	return []any{
		e.Account, e.ID, e.Kind.String(), e.Time.UTC(),
		int64(e.Amount), int64(e.Held), int64(e.BalanceAfter),
		source, action, resolution, e.Quantity, e.PriceVersion,
		e.Hold, e.Lot, e.Reverses, e.Priority,
		nullTime(e.ExpiresAt), nullTime(e.Period),
		e.Key, int64(e.RequestHash), metadata,
	}, nil
}

// nullTime is t in UTC, or NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// rowScanner is what pgx.Row and pgx.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanEntry reads a row of entryColumns into e, the inverse of entryArgs:
// instants in UTC, NULL instants as the zero time, NULL metadata as nil.
func scanEntry(row rowScanner, e *credits.Entry) error {
	var (
		kind, source, action, resolution string
		at                               time.Time
		expiresAt, period                pgtype.Timestamptz
		requestHash                      int64
	)
	err := row.Scan(&e.Account, &e.ID, &kind, &at,
		(*int64)(&e.Amount), (*int64)(&e.Held), (*int64)(&e.BalanceAfter),
		&source, &action, &resolution, &e.Quantity, &e.PriceVersion,
		&e.Hold, &e.Lot, &e.Reverses, &e.Priority,
		&expiresAt, &period, &e.Key, &requestHash, &e.Metadata)
	if err != nil {
		return err
	}
	e.Time = at.UTC()
	e.RequestHash = uint64(requestHash)
	e.ExpiresAt, e.Period = time.Time{}, time.Time{}
	if expiresAt.Valid {
		e.ExpiresAt = expiresAt.Time.UTC()
	}
	if period.Valid {
		e.Period = period.Time.UTC()
	}
	if e.Kind, err = credits.ParseKind(kind); err != nil {
		return fmt.Errorf("entry %d: %w", e.ID, err)
	}
	e.Source, e.Action, e.Resolution = 0, 0, 0
	if source != "" {
		if e.Source, err = credits.ParseSource(source); err != nil {
			return fmt.Errorf("entry %d: %w", e.ID, err)
		}
	}
	if action != "" {
		if e.Action, err = credits.ParseAction(action); err != nil {
			return fmt.Errorf("entry %d: %w", e.ID, err)
		}
	}
	if resolution != "" {
		if e.Resolution, err = credits.ParseResolution(resolution); err != nil {
			return fmt.Errorf("entry %d: %w", e.ID, err)
		}
	}
	return nil
}
