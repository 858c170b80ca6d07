package sqliteledger

// The reads of entries: one by ID or by key, and pages of an account's
// history, on the pool of read-only connections, never waiting for the
// writer.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/sqlentry"
)

// Entry implements [credits.Backend]. It reads without waiting for
// writers.
func (b *Backend) Entry(ctx context.Context, account string, id int64) (credits.Entry, error) {
	e, err := readEntry(ctx, b.readEntry, account, id, "", account, id)
	if errors.Is(err, credits.ErrEntryNotFound) {
		err = b.checkMissing(ctx, account, id)
	}
	return readOne(account, e, err)
}

// EntryByKey implements [credits.Backend]. It reads without waiting for
// writers, through the unique index on (account, key).
func (b *Backend) EntryByKey(ctx context.Context, account, key string) (credits.Entry, error) {
	e, err := readEntry(ctx, b.readKey, account, 0, key, account, key)
	return readOne(account, e, err)
}

// readOne is what Entry and EntryByKey return for readEntry's answer.
func readOne(account string, e credits.Entry, err error) (credits.Entry, error) {
	if errors.Is(err, credits.ErrEntryNotFound) {
		return credits.Entry{}, credits.ErrEntryNotFound
	}
	if err != nil {
		return credits.Entry{}, fmt.Errorf("sqliteledger: read entry: %w", corrupt(account, err))
	}
	return e, nil
}

// Entries implements [credits.Backend]. It reads one consistent snapshot
// without waiting for writers. It walks the primary key (account, id) from
// q.After, checks the kinds and time range on the way, and stops once it
// has q.Limit entries: a page costs the entries it returns plus those it
// skips, never a sort.
func (b *Backend) Entries(ctx context.Context, account string, q credits.HistoryQuery) ([]credits.Entry, error) {
	var out []credits.Entry
	var err error
	if len(q.Kinds) == 0 && q.Since.IsZero() && q.Until.IsZero() && q.Spender == "" {
		query, args := entriesQuery(account, &q, 0, 0)
		out, err = b.denseEntries(ctx, account, q.After, q.Limit, query, args)
	} else {
		err = b.snapshot(ctx, func(tx *sql.Tx) error {
			// The bounds and the page from one snapshot: an entry
			// stored in between could be before Since.
			first, last, err := timeBounds(ctx, tx, account, &q)
			if err != nil || first > last {
				return err
			}
			query, args := entriesQuery(account, &q, first, last)
			if out, err = entries(ctx, tx, account, query, args); err != nil {
				return err
			}
			return sqlentry.CheckPage(out, account, q.After, false)
		})
		for i := 0; err == nil && i < len(out); i++ {
			e := &out[i]
			switch {
			case (!q.Since.IsZero() && e.Time.Before(q.Since)) || (!q.Until.IsZero() && !e.Time.Before(q.Until)):
				// The time bounds were taken as ID bounds.
				err = &credits.CorruptError{Account: account, Entry: e.ID, Reason: fmt.Sprintf("the entry's time %s is out of the account's time order", e.Time.Format(time.RFC3339Nano))}
			case !q.Match(e): // read for a kind stored as no kind (see entriesQuery)
				err = &credits.CorruptError{Account: account, Entry: e.ID, Reason: "the entry's kind is stored damaged"}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqliteledger: read history: %w", corrupt(account, err))
	}
	return out, nil
}

// timeBounds returns the IDs of the first and last of account's entries
// in q's time range (first > last if there are none; 1 and the greatest
// int64 without bounds), read in tx. An account's entry times never go
// back (see [credits.Entry]'s Time: the Ledger stamps an entry no earlier
// than the one before), so the entries at or after an instant are those
// from the first of them on: a binary search over the account's IDs, 1
// to its stored version, finds it in about log2(n) lookups of the
// primary key, with no index on time for every write to pay for.
// Entries checks the entries it returns against the bounds all the same.
func timeBounds(ctx context.Context, tx *sql.Tx, account string, q *credits.HistoryQuery) (first, last int64, err error) {
	first, last = 1, math.MaxInt64
	if q.Since.IsZero() && q.Until.IsZero() {
		return first, last, nil
	}
	version, err := storedVersion(ctx, tx, account)
	if err != nil {
		return 0, 0, err
	}
	// at returns the least ID whose entry is at or after t, version+1 if
	// none is.
	at := func(t time.Time) (int64, error) {
		lo, hi := int64(1), version+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			var micros sql.NullInt64
			err := tx.QueryRowContext(ctx, sqlEntryTime, account, mid).Scan(&micros)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, &credits.CorruptError{Account: account, Entry: mid, Reason: fmt.Sprintf("the entry is missing, the account's state is at version %d", version)}
			}
			if err != nil {
				return 0, err
			}
			if !micros.Valid {
				return 0, &credits.CorruptError{Account: account, Entry: mid, Reason: "the entry has no time"}
			}
			if micros.Int64 >= t.UnixMicro() {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return lo, nil
	}
	if !q.Since.IsZero() {
		if first, err = at(q.Since); err != nil {
			return 0, 0, err
		}
	}
	if !q.Until.IsZero() {
		if last, err = at(q.Until); err != nil {
			return 0, 0, err
		}
		last--
	}
	return first, last, nil
}

// sqlEntryTime reads the time of one entry, for timeBounds.
const sqlEntryTime = `SELECT time FROM entries WHERE account = ? AND id = ?`

// entries reads the entries query selects.
func entries(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, account, query string, args []any) ([]credits.Entry, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []credits.Entry
	for rows.Next() {
		e, err := entryRow(rows, account)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// entriesQuery builds the query for q, its time range already turned
// into the IDs first to last (see timeBounds; 0 and 0 for none). It walks
// the primary key (account, id) from the cursor or from first, whichever
// is later, in the order the history is read, checks the kind and spender
// filters on the way and stops at the limit or at last: a page costs the
// entries it returns plus those of other kinds or spenders it skips.
// Kinds other than charges have an index (see kindsQuery); charges, the
// bulk of a history, are found densely on the primary key. There is
// deliberately no index on spender, nor one on kind that charges pay
// for: each index on entries costs every write (one on (account, kind,
// id) made BenchmarkSQLiteCharge about 10% slower), while a filter that
// matches few of a long history's entries is rare. Time needs none:
// entry times follow IDs within an account, so a time range is a range
// of IDs.
func entriesQuery(account string, q *credits.HistoryQuery, first, last int64) (string, []any) {
	if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, credits.KindCharge) {
		return kindsQuery(account, q, first, last)
	}
	var sb strings.Builder
	// One lower bound on id: SQLite starts the walk at one of several,
	// not necessarily the greatest.
	args := []any{account, max(q.After, first-1)}
	sb.WriteString(`SELECT ` + sqlentry.Columns + ` FROM entries WHERE account = ? AND id > ?`)
	if last > 0 && last < math.MaxInt64 {
		sb.WriteString(` AND id <= ?`)
		args = append(args, last)
	}
	if len(q.Kinds) > 0 {
		// It leaves out the entries of the other kinds, rather than
		// keeping those of the kinds asked for: a row whose kind is
		// damaged (no kind's name, NULL, a BLOB) is read too, and
		// refused as corrupt, not silently left out.
		n := 0
		for _, k := range allKinds {
			if slices.Contains(q.Kinds, k) {
				continue
			}
			if n == 0 {
				sb.WriteString(` AND coalesce(kind IN (?`)
			} else {
				sb.WriteString(", ?")
			}
			args = append(args, k.String())
			n++
		}
		if n > 0 {
			sb.WriteString(`), 0) = 0`)
		}
	}
	if q.Spender != "" {
		sb.WriteString(` AND spender = ?`)
		args = append(args, q.Spender)
	}
	sb.WriteString(` ORDER BY id LIMIT ?`)
	args = append(args, q.Limit)
	return sb.String(), args
}

// kindsQuery builds the query for q when it asks for kinds and not for
// charges: one walk of the index entries_account_kind_id (migration 8,
// every kind but charges) per kind, from the cursor or from first,
// stopping at the limit or at last, the walks merged in ID order. A page
// costs the entries it reads, however long the history. Unlike the walk
// of the primary key, it does not come across rows whose kind is damaged
// (no kind's name): those are found by an unfiltered history, a history
// of charges, and Ledger.Verify.
func kindsQuery(account string, q *credits.HistoryQuery, first, last int64) (string, []any) {
	kinds := slices.Clone(q.Kinds)
	slices.Sort(kinds)
	kinds = slices.Compact(kinds) // one walk per kind: each entry once
	var sb strings.Builder
	var args []any
	if len(kinds) > 1 {
		sb.WriteString(`SELECT ` + sqlentry.Columns + ` FROM (`)
	}
	for i, k := range kinds {
		if i > 0 {
			sb.WriteString(` UNION ALL `)
		}
		if len(kinds) > 1 {
			sb.WriteString(`SELECT * FROM (`)
		}
		// kind <> 'charge' is the index's condition, spelled as it is
		// there, so that SQLite knows the index holds every row wanted;
		// INDEXED BY, because without statistics SQLite prefers the
		// primary key, whose order is the page's (and fails the query,
		// rather than walking the history, should the index be gone).
		sb.WriteString(`SELECT ` + sqlentry.Columns + ` FROM entries INDEXED BY entries_account_kind_id WHERE account = ? AND kind = ? AND kind <> 'charge' AND id > ?`)
		args = append(args, account, k.String(), max(q.After, first-1))
		if last > 0 && last < math.MaxInt64 {
			sb.WriteString(` AND id <= ?`)
			args = append(args, last)
		}
		if q.Spender != "" {
			sb.WriteString(` AND spender = ?`)
			args = append(args, q.Spender)
		}
		sb.WriteString(` ORDER BY id LIMIT ?`)
		args = append(args, q.Limit)
		if len(kinds) > 1 {
			sb.WriteString(`)`)
		}
	}
	if len(kinds) > 1 {
		sb.WriteString(`) ORDER BY id LIMIT ?`)
		args = append(args, q.Limit)
	}
	return sb.String(), args
}
