package sqliteledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/avstudio/credits"
)

// Accounts implements [credits.Backend]. It reads without waiting for
// writers.
func (b *Backend) Accounts(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := b.reader.QueryContext(ctx, sqlAccounts, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqliteledger: list accounts: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("sqliteledger: list accounts: %w", err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteledger: list accounts: %w", err)
	}
	return out, nil
}

// Feed implements [credits.Backend]. Every entry is numbered (the column
// seq) by the write transaction that stores it, after the greatest number
// stored; that transaction holds the file's write lock, so the numbers
// follow commit order, and a reader's snapshot (WAL) holds every entry
// numbered below its greatest: reading by "seq > cursor" skips nothing.
// Its cursors are "s" and the last number read.
func (b *Backend) Feed(ctx context.Context, after credits.Cursor, limit int) ([]credits.Entry, credits.Cursor, error) {
	var from int64
	if after != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(string(after), "s"), 10, 64)
		if err != nil || !strings.HasPrefix(string(after), "s") || n < 0 {
			return nil, after, &credits.InputError{Field: "cursor", Value: string(after), Reason: "not a cursor of a SQLite ledger's feed"}
		}
		from = n
	}
	rows, err := b.readFeed.QueryContext(ctx, from, limit)
	if err != nil {
		return nil, after, fmt.Errorf("sqliteledger: read the feed: %w", err)
	}
	defer rows.Close()
	var out []credits.Entry
	last := from
	for rows.Next() {
		e, seq, err := scanFeedEntry(rows)
		if err != nil {
			return nil, after, fmt.Errorf("sqliteledger: read the feed: %w", err)
		}
		out = append(out, e)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("sqliteledger: read the feed: %w", err)
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	return out, credits.Cursor("s" + strconv.FormatInt(last, 10)), nil
}

// LoadConsumer implements [credits.Backend].
func (b *Backend) LoadConsumer(ctx context.Context, name string) (credits.ConsumerRecord, error) {
	rec := credits.ConsumerRecord{Name: name}
	var (
		cursor string
		until  sql.NullInt64
	)
	err := b.reader.QueryRowContext(ctx, sqlLoadConsumer, name).Scan(&cursor, &rec.Owner, &until, &rec.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, nil
	}
	if err != nil {
		return credits.ConsumerRecord{}, fmt.Errorf("sqliteledger: load consumer: %w", err)
	}
	rec.Cursor, rec.Until = credits.Cursor(cursor), instant(until)
	return rec, nil
}

// SaveConsumer implements [credits.Backend], in one statement on the
// write connection: insert the record, or replace the one stored at the
// version before.
func (b *Backend) SaveConsumer(ctx context.Context, rec credits.ConsumerRecord) error {
	if b.saveConsumer == nil {
		return fmt.Errorf("sqliteledger: save consumer %q: %w", rec.Name, ErrReadOnly)
	}
	res, err := b.saveConsumer.ExecContext(ctx, rec.Name, string(rec.Cursor), rec.Owner, micros(rec.Until), rec.Version)
	if err != nil {
		return fmt.Errorf("sqliteledger: save consumer: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqliteledger: save consumer: %w", err)
	} else if n != 1 {
		return credits.ErrConflict
	}
	return nil
}
