// Package sqlentry is the one encoding of a credits.Entry as a row of SQL
// columns, shared by the SQL backends (pgledger, sqliteledger), as
// internal/sqlmigrate is for their migrations: the columns and their
// order, names as their stable text (” for none), amounts as integers of
// micro-credits, the request fingerprint as the int64 with its bits,
// metadata and a job hold's estimate lines as JSON (NULL for none), a
// flag as a boolean, and instants as time.Time in
// UTC (the zero time for NULL). What differs between drivers, the SQL
// type of an instant and its NULL, stays in each backend.
package sqlentry

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// Columns are the columns of the entries table, in the order of Row's
// fields, of Row.Values and of the destinations a backend scans.
const Columns = "account, id, kind, time, amount, held, balance_after, source, action, resolution, quantity, " +
	"price_version, hold, lot, reverses, priority, expires_at, period, period_end, subscription, plan, carried, claim, " +
	"notice, value, key, request_hash, metadata, " +
	"spender, multi_capture, lines, failure, budget_cap, budget_window, budget_zone, hash"

// NumColumns is the number of Columns.
var NumColumns = strings.Count(Columns, ",") + 1

// Row is one entry as its columns hold it.
type Row struct {
	Account                      string
	ID                           int64
	Kind                         string
	Time                         time.Time
	Amount, Held, BalanceAfter   int64
	Source, Action, Resolution   string
	Quantity                     int64
	PriceVersion                 string
	Hold, Lot, Reverses          int64
	Priority                     int32
	ExpiresAt, Period, PeriodEnd time.Time // zero: NULL
	Subscription, Plan           string
	Carried                      int64
	Claim, Notice                string
	Value                        int64
	Key                          string
	RequestHash                  int64
	Metadata                     []byte // a JSON object; nil: NULL
	Spender                      string
	MultiCapture                 bool
	Lines                        []byte // a JSON array of estimate lines; nil: NULL
	Failure                      string
	BudgetCap                    int64
	BudgetWindow, BudgetZone     string
	Hash                         []byte // the chain hash, 32 bytes; nil: NULL, an entry written before the chain
}

// Encode returns e's row. It fails on what could not be read back exactly
// (an unknown kind or name, metadata that is not valid UTF-8), which the
// Ledger never hands a backend.
func Encode(e *credits.Entry) (Row, error) {
	r := Row{
		Account: e.Account, ID: e.ID, Time: e.Time.UTC(),
		Amount: int64(e.Amount), Held: int64(e.Held), BalanceAfter: int64(e.BalanceAfter),
		Quantity: e.Quantity, PriceVersion: e.PriceVersion,
		Hold: e.Hold, Lot: e.Lot, Reverses: e.Reverses, Priority: e.Priority,
		ExpiresAt: utc(e.ExpiresAt), Period: utc(e.Period), PeriodEnd: utc(e.PeriodEnd),
		Subscription: e.Subscription, Plan: e.Plan, Carried: int64(e.Carried), Claim: e.Claim,
		Value: int64(e.Value), Key: e.Key, RequestHash: int64(e.RequestHash),
		Spender: e.Spender, MultiCapture: e.MultiCapture, BudgetCap: int64(e.Cap), BudgetZone: e.Zone,
	}
	if !e.Hash.IsZero() {
		r.Hash = e.Hash[:]
	}
	var err error
	if e.Notice != 0 {
		if r.Notice, err = text(e.Notice, e.ID); err != nil {
			return Row{}, err
		}
	}
	if r.Kind, err = text(e.Kind, e.ID); err != nil {
		return Row{}, err
	}
	if e.Failure != 0 {
		if r.Failure, err = text(e.Failure, e.ID); err != nil {
			return Row{}, err
		}
	}
	if e.Window != 0 {
		if r.BudgetWindow, err = text(e.Window, e.ID); err != nil {
			return Row{}, err
		}
	}
	if len(e.Lines) > 0 {
		if r.Lines, err = json.Marshal(e.Lines); err != nil {
			return Row{}, fmt.Errorf("entry %d: lines: %w", e.ID, err)
		}
	}
	if e.Source != 0 {
		if r.Source, err = text(e.Source, e.ID); err != nil {
			return Row{}, err
		}
	}
	if e.Action != 0 {
		if r.Action, err = text(e.Action, e.ID); err != nil {
			return Row{}, err
		}
	}
	if e.Resolution != 0 {
		if r.Resolution, err = text(e.Resolution, e.ID); err != nil {
			return Row{}, err
		}
	}
	if len(e.Metadata) > 0 {
		if r.Metadata, err = json.Marshal(e.Metadata); err != nil {
			return Row{}, fmt.Errorf("entry %d: metadata: %w", e.ID, err)
		}
	}
	return r, nil
}

func text(v interface{ MarshalText() ([]byte, error) }, id int64) (string, error) {
	b, err := v.MarshalText()
	if err != nil {
		return "", fmt.Errorf("entry %d: %w", id, err)
	}
	return string(b), nil
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// Entry decodes the row. A name the package does not know, or metadata
// that is not a JSON object of strings, is a *credits.CorruptError (it
// matches credits.ErrCorrupt) naming the account, the entry and the
// column: the Ledger never stores such a row.
func (r *Row) Entry() (credits.Entry, error) {
	e := credits.Entry{
		Account: r.Account, ID: r.ID, Time: r.Time.UTC(),
		Amount: credits.Credits(r.Amount), Held: credits.Credits(r.Held), BalanceAfter: credits.Credits(r.BalanceAfter),
		Quantity: r.Quantity, PriceVersion: r.PriceVersion,
		Hold: r.Hold, Lot: r.Lot, Reverses: r.Reverses, Priority: r.Priority,
		ExpiresAt: utc(r.ExpiresAt), Period: utc(r.Period), PeriodEnd: utc(r.PeriodEnd),
		Subscription: r.Subscription, Plan: r.Plan, Carried: credits.Credits(r.Carried), Claim: r.Claim,
		Value: credits.Credits(r.Value), Key: r.Key, RequestHash: uint64(r.RequestHash),
		Spender: r.Spender, MultiCapture: r.MultiCapture, Cap: credits.Credits(r.BudgetCap), Zone: r.BudgetZone,
	}
	switch len(r.Hash) {
	case 0:
	case len(e.Hash):
		e.Hash = credits.Hash(r.Hash)
	default:
		return credits.Entry{}, r.corrupt("column hash", fmt.Errorf("%d bytes, want %d", len(r.Hash), len(e.Hash)))
	}
	var err error
	if r.Notice != "" {
		if e.Notice, err = credits.ParseNoticeKind(r.Notice); err != nil {
			return credits.Entry{}, r.corrupt("column notice", err)
		}
	}
	if e.Kind, err = credits.ParseKind(r.Kind); err != nil {
		return credits.Entry{}, r.corrupt("column kind", err)
	}
	if r.Failure != "" {
		if e.Failure, err = credits.ParseFailureKind(r.Failure); err != nil {
			return credits.Entry{}, r.corrupt("column failure", err)
		}
	}
	if r.BudgetWindow != "" {
		if e.Window, err = credits.ParseWindowUnit(r.BudgetWindow); err != nil {
			return credits.Entry{}, r.corrupt("column budget_window", err)
		}
	}
	if r.Lines != nil {
		if err := json.Unmarshal(r.Lines, &e.Lines); err != nil {
			return credits.Entry{}, r.corrupt("column lines", err)
		}
		if len(e.Lines) == 0 {
			e.Lines = nil
		}
	}
	if r.Source != "" {
		if e.Source, err = credits.ParseSource(r.Source); err != nil {
			return credits.Entry{}, r.corrupt("column source", err)
		}
	}
	if r.Action != "" {
		if e.Action, err = credits.ParseAction(r.Action); err != nil {
			return credits.Entry{}, r.corrupt("column action", err)
		}
	}
	if r.Resolution != "" {
		if e.Resolution, err = credits.ParseResolution(r.Resolution); err != nil {
			return credits.Entry{}, r.corrupt("column resolution", err)
		}
	}
	if r.Metadata != nil {
		if err := json.Unmarshal(r.Metadata, &e.Metadata); err != nil {
			return credits.Entry{}, r.corrupt("column metadata", err)
		}
		if len(e.Metadata) == 0 {
			e.Metadata = nil
		}
	}
	return e, nil
}

// corrupt reports the row's column that did not decode.
func (r *Row) corrupt(column string, err error) error {
	return &credits.CorruptError{Account: r.Account, Entry: r.ID, Reason: column + " does not decode", Err: err}
}

// Check reports, as a *credits.CorruptError, an entry read for account
// that is not the one asked for: of another account, with another ID than
// id (if id is not 0), or under another key than key (if key is not "").
// Only damaged storage returns one.
func Check(e *credits.Entry, account string, id int64, key string) error {
	switch {
	case e.Account != account:
		return &credits.CorruptError{Account: account, Entry: e.ID, Reason: fmt.Sprintf("the entry read for the account belongs to account %q", e.Account)}
	case id != 0 && e.ID != id:
		return &credits.CorruptError{Account: account, Entry: id, Reason: fmt.Sprintf("the entry read under ID %d has ID %d", id, e.ID)}
	case key != "" && e.Key != key:
		return &credits.CorruptError{Account: account, Entry: e.ID, Reason: fmt.Sprintf("the entry read under key %q has key %q", key, e.Key)}
	}
	return nil
}

// CheckPage reports, as a *credits.CorruptError, a page of account's
// history, read after the cursor after, that cannot be: an entry of
// another account, or IDs that do not ascend past after. An account's
// entries are numbered 1, 2, 3... with no gap, so a page read without a
// filter (dense) must run after+1, after+2...: a gap is a missing entry.
// (A filtered page skips entries; a missing one cannot be told there.)
func CheckPage(page []credits.Entry, account string, after int64, dense bool) error {
	prev := after
	for i := range page {
		e := &page[i]
		if err := Check(e, account, 0, ""); err != nil {
			return err
		}
		switch {
		case e.ID <= prev:
			return &credits.CorruptError{Account: account, Entry: e.ID, Reason: fmt.Sprintf("the history has entry %d after entry %d", e.ID, prev)}
		case dense && e.ID != prev+1:
			return &credits.CorruptError{Account: account, Entry: prev + 1, Reason: fmt.Sprintf("the history goes from entry %d to entry %d: the entries between are missing", prev, e.ID)}
		}
		prev = e.ID
	}
	return nil
}
