package credits

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file is how a Ledger calls its Backend: every call goes through one
// of these methods, which check what the backend is handed and returned,
// in one place for every backend (see the Backend contract), and wrap the
// backend's failures in one form, a *BackendError.

// update runs decide atomically on the account through the backend. It
// checks the shape of what decide returns (entries of this account whose
// IDs continue the state's version one by one, the state left at the last
// of them), so that a backend can trust it. decide's own error comes back
// unchanged; any other failure is a *BackendError.
//
// A state stored in an older format (see AccountState.stale) is first
// rebuilt from the account's history, and decide runs on the rebuilt
// state, which the backend then stores.
func (l *Ledger) update(ctx context.Context, op Op, account, key string, decide Decision) error {
	return l.guarded(ctx, op, key, &guard{account: account, d: decisionFunc(decide)})
}

// write is update for a write at now, which adds the notices it causes
// (see Ledger.notices); with always, even if decide writes nothing. It
// returns the notices added.
func (l *Ledger) write(ctx context.Context, op Op, account, key string, now time.Time, always bool, decide Decision) ([]Entry, error) {
	g := &guard{account: account, d: decisionFunc(decide), notify: l, now: now, always: always}
	err := l.guarded(ctx, op, key, g)
	return g.noticed, err
}

// decider is what a guard runs: a Decision, or an operation that is its
// own (so that a write allocates no closure for it).
type decider interface {
	decide(s *AccountState, existing *Entry) ([]Entry, error)
}

type decisionFunc Decision

func (f decisionFunc) decide(s *AccountState, existing *Entry) ([]Entry, error) {
	return f(s, existing)
}

// guard is the Decision update hands a backend: d, with the checks around
// it.
type guard struct {
	account string
	d       decider
	rebuilt *AccountState // the stale state's rebuild, once made
	decided error         // what the last run of the decision returned
	wrote   bool          // the last run returned entries to store

	// notify, if not nil, is the Ledger whose notices a write at now adds
	// (see Ledger.notices): to a decision that writes, or, with always,
	// to any. noticed is what the last run added.
	notify  *Ledger
	now     time.Time
	always  bool
	noticed []Entry
}

// run is the guard's Decision.
func (g *guard) run(s *AccountState, existing *Entry) ([]Entry, error) {
	if s.stale {
		if g.rebuilt == nil || g.rebuilt.Version() != s.Version() {
			g.decided = errStale
			return nil, errStale
		}
		*s = *g.rebuilt.Clone()
	}
	before := s.Version()
	entries, err := g.d.decide(s, existing)
	if err == nil {
		err = checkDecision(g.account, before, s, entries)
	}
	g.noticed = nil
	if err == nil && g.notify != nil && (len(entries) > 0 || g.always) && !strings.HasPrefix(g.account, reservedPrefix) {
		n := len(entries)
		entries = g.notify.notices(s, g.account, g.now, entries)
		g.noticed = entries[n:]
	}
	g.decided, g.wrote = err, err == nil && len(entries) > 0
	return entries, err
}

// guarded is update with its guard made by the caller.
func (l *Ledger) guarded(ctx context.Context, op Op, key string, g *guard) error {
	for attempt := 0; ; attempt++ {
		g.decided = nil
		err := l.commit(ctx, g.account, key, g.run)
		if err == errStale && g.decided == errStale && attempt < 3 {
			// Rebuild outside the backend's lock, then try again; should
			// a write come in between, the versions differ and this
			// happens once more.
			stored, lerr := l.backend.Load(ctx, g.account)
			if lerr != nil {
				return l.backendErr(ctx, op, g.account, lerr)
			}
			if g.rebuilt, err = l.rebuild(ctx, op, g.account, stored.Version()); err != nil {
				return err
			}
			continue
		}
		if err == nil {
			if g.wrote {
				l.commits.committed()
			}
			return nil
		}
		if g.decided != nil && err == g.decided {
			return err
		}
		return l.backendErr(ctx, op, g.account, err)
	}
}

// errStale is update's decision refusing a stale state until it is
// rebuilt.
var errStale = errors.New("credits: the stored state is in an older format")

// rebuild folds the account's history up to entry version into a state.
func (l *Ledger) rebuild(ctx context.Context, op Op, account string, version int64) (*AccountState, error) {
	var history []Entry
	for after := int64(0); after < version; {
		page, err := l.entries(ctx, op, account, HistoryQuery{After: after, Limit: maxPage + 1})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.ID <= version {
				history = append(history, e)
			}
		}
		after = page[len(page)-1].ID
	}
	s, err := Rebuild(history)
	if err != nil {
		return nil, fmt.Errorf("credits: account %q: %w", account, err)
	}
	if s.Version() != version {
		return nil, fmt.Errorf("credits: account %q: its state is at version %d, its history ends at %d", account, version, s.Version())
	}
	return s, nil
}

// checkDecision reports a decision whose entries would not continue the
// account's history. Only a bug in the core could make one; the check
// keeps such a bug from reaching storage.
func checkDecision(account string, before int64, s *AccountState, entries []Entry) error {
	for i := range entries {
		e := &entries[i]
		if e.Account != account {
			return fmt.Errorf("credits: a decision on account %q made an entry of account %q", account, e.Account)
		}
		if want := before + int64(i) + 1; e.ID != want {
			return fmt.Errorf("credits: a decision on account %q made entry %d where entry %d comes next", account, e.ID, want)
		}
	}
	if want := before + int64(len(entries)); s.Version() != want {
		return fmt.Errorf("credits: a decision on account %q left its state at version %d, its entries at %d", account, s.Version(), want)
	}
	return nil
}

// load returns the account's stored state (the zero state for an account
// with no entries).
func (l *Ledger) load(ctx context.Context, op Op, account string) (*AccountState, error) {
	s, err := l.backend.Load(ctx, account)
	if err != nil {
		return nil, l.backendErr(ctx, op, account, err)
	}
	if s == nil {
		return nil, l.backendErr(ctx, op, account, errors.New("Load returned no state"))
	}
	if s.stale {
		return l.rebuild(ctx, op, account, s.Version())
	}
	return s, nil
}

// entry returns one entry of the account by ID.
func (l *Ledger) entry(ctx context.Context, op Op, account string, id int64) (Entry, error) {
	e, err := l.backend.Entry(ctx, account, id)
	switch {
	case errors.Is(err, ErrEntryNotFound):
		return Entry{}, fmt.Errorf("account %q has no entry %d: %w", account, id, ErrEntryNotFound)
	case err != nil:
		return Entry{}, l.backendErr(ctx, op, account, err)
	}
	return e, nil
}

// entryByKey returns the account's entry stored under key, reporting
// whether there is one.
func (l *Ledger) entryByKey(ctx context.Context, op Op, account, key string) (Entry, bool, error) {
	e, err := l.backend.EntryByKey(ctx, account, key)
	switch {
	case errors.Is(err, ErrEntryNotFound):
		return Entry{}, false, nil
	case err != nil:
		return Entry{}, false, l.backendErr(ctx, op, account, err)
	}
	return e, true, nil
}

// entries returns a page of the account's history; q must be valid (see
// checkQuery).
func (l *Ledger) entries(ctx context.Context, op Op, account string, q HistoryQuery) ([]Entry, error) {
	es, err := l.backend.Entries(ctx, account, q)
	if err != nil {
		return nil, l.backendErr(ctx, op, account, err)
	}
	return es, nil
}

// backendErr wraps a failure of the backend, making sure a cancelled or
// expired ctx shows through errors.Is even if the backend's error does not
// say so.
func (l *Ledger) backendErr(ctx context.Context, op Op, account string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return &BackendError{Op: op, Account: account, Err: err}
}

// accounts lists a page of account names.
func (l *Ledger) accounts(ctx context.Context, op Op, after string, limit int) ([]string, error) {
	names, err := l.backend.Accounts(ctx, after, limit)
	if err != nil {
		return nil, l.backendErr(ctx, op, "", err)
	}
	return names, nil
}

// feed reads a page of the backend's feed.
func (l *Ledger) feed(ctx context.Context, op Op, after Cursor, limit int) ([]Entry, Cursor, error) {
	es, next, err := l.backend.Feed(ctx, after, limit)
	switch {
	case errors.Is(err, ErrInvalidInput):
		return nil, after, err
	case err != nil:
		return nil, after, l.backendErr(ctx, op, "", err)
	}
	return es, next, nil
}

// loadConsumer reads a consumer's record.
func (l *Ledger) loadConsumer(ctx context.Context, name string) (ConsumerRecord, error) {
	rec, err := l.backend.LoadConsumer(ctx, name)
	if err != nil {
		return ConsumerRecord{}, l.backendErr(ctx, OpConsume, "", err)
	}
	rec.Name = name
	return rec, nil
}

// saveConsumer compares and swaps a consumer's record: ErrConflict if it
// changed since it was loaded.
func (l *Ledger) saveConsumer(ctx context.Context, rec ConsumerRecord) error {
	rec.Until = utcMicro(rec.Until)
	err := l.backend.SaveConsumer(ctx, rec)
	switch {
	case errors.Is(err, ErrConflict):
		return ErrConflict
	case err != nil:
		return l.backendErr(ctx, OpConsume, "", err)
	}
	return nil
}
