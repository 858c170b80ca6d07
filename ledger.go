package credits

import (
	"context"
	"fmt"
	"time"
)

// Options configures a [Ledger]. The zero value is ready to use.
type Options struct {
	// Prices prices charges made by action. Nil means DefaultPriceBook().
	Prices *PriceBook

	// Now is the ledger's clock. Nil means time.Now. Tests pass their own
	// to move time. Instants are kept in UTC to the microsecond, so that
	// every backend stores them exactly.
	Now func() time.Time

	// Overdraft returns how far below zero an account's available credits
	// may go: MaxCredits for no limit, zero (or less) for none. Nil means
	// no account may overdraw.
	Overdraft func(account string) Credits

	// HoldTTL is how long a hold lasts when its request gives no
	// deadline. Zero means one hour.
	HoldTTL time.Duration

	// FreeTier is how many credits ClaimFreeTier grants. Zero means 30,
	// the R-Credits free tier.
	FreeTier Credits

	// Observer, if not nil, is told about every operation once it
	// returns (see [Observer]).
	Observer Observer

	// LowBalance, if not nil, returns an account's low-balance threshold
	// (zero or less: none): a write that leaves its available credits
	// below it also writes a low_balance notice, once, until they are
	// back at it (see [NoticeLowBalance]).
	LowBalance func(account string) Credits

	// NoBatching turns group commit off: each write is then a transaction
	// of its own (see the package documentation, "Group commit"). Batching
	// is on by default.
	NoBatching bool

	// ExpiringNotice, if more than zero, is how long before a lot's
	// credits expire a write (or Sweep, see [Ledger.SweepAll]) writes an
	// expiring notice for it, once per lot (see [NoticeExpiring]).
	ExpiringNotice time.Duration
}

// Ledger keeps accounts of credits on a [Backend]: grants, charges, holds,
// captures, releases, refunds and expiry, each idempotent, each leaving
// the account as it was if it fails. It holds every rule of the ledger;
// the backend only stores. A Ledger is safe for concurrent use.
type Ledger struct {
	backend   Backend
	prices    *PriceBook
	now       func() time.Time
	overdraft func(string) Credits
	holdTTL   time.Duration
	freeTier  Credits
	observer  Observer
	commits   commits // wakes this Ledger's consumers when it stores entries

	lowBalance     func(string) Credits
	expiringNotice time.Duration
	noBatching     bool
	lanes          lanes // group commit: the writes queued behind one in flight
}

// Validate reports whether the options are usable: an [*InputError]
// names the field at fault (a negative HoldTTL or FreeTier).
func (o Options) Validate() error {
	if o.HoldTTL < 0 {
		return inputErr("hold_ttl", o.HoldTTL.String(), "must not be negative")
	}
	if o.FreeTier < 0 {
		return inputErr("free_tier", o.FreeTier.String(), "must not be negative")
	}
	if o.ExpiringNotice < 0 {
		return inputErr("expiring_notice", o.ExpiringNotice.String(), "must not be negative")
	}
	return nil
}

// NewLedger returns a Ledger that keeps its accounts in b. It panics if b
// is nil or opts is not valid (see [Options.Validate], which a service
// that reads its options from configuration calls first).
func NewLedger(b Backend, opts Options) *Ledger {
	if b == nil {
		panic("credits: NewLedger with a nil Backend")
	}
	if err := opts.Validate(); err != nil {
		panic("credits: NewLedger: invalid Options: " + err.Error())
	}
	l := &Ledger{backend: b, prices: opts.Prices, now: opts.Now, overdraft: opts.Overdraft, holdTTL: opts.HoldTTL, freeTier: opts.FreeTier, observer: opts.Observer,
		lowBalance: opts.LowBalance, expiringNotice: opts.ExpiringNotice, noBatching: opts.NoBatching}
	if ow, ok := b.(OneWriter); ok && ow.OneWriter() {
		l.lanes.one = true
	}
	if l.prices == nil {
		l.prices = DefaultPriceBook()
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.holdTTL == 0 {
		l.holdTTL = time.Hour
	}
	if l.freeTier == 0 {
		l.freeTier = 30 * Credit
	}
	return l
}

// Prices returns the price book the ledger charges with.
func (l *Ledger) Prices() *PriceBook { return l.prices }

// Now returns the ledger's clock reading, in UTC, to the microsecond.
func (l *Ledger) Now() time.Time { return l.now().UTC().Truncate(time.Microsecond) }

// Balance is an account's credits at an instant.
type Balance struct {
	Account   string    `json:"account"`
	Total     Credits   `json:"total"`     // the sum of the account's entries, expirations due by AsOf included
	Held      Credits   `json:"held"`      // reserved by open holds
	Available Credits   `json:"available"` // Total - Held: what a charge or hold may take (plus any overdraft)
	AsOf      time.Time `json:"as_of"`
	Version   int64     `json:"version"` // the ID of the last stored entry
}

// Balance returns the account's credits now. Expirations due by now are
// counted even if no write has recorded them yet. An account with no
// entries has a zero balance.
func (l *Ledger) Balance(ctx context.Context, account string) (_ Balance, err error) {
	ob := l.begin(ctx, OpBalance, account, "")
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return Balance{}, err
	}
	s, err := l.load(ctx, OpBalance, account)
	if err != nil {
		return Balance{}, err
	}
	now := l.Now()
	version := s.lastID
	settle(s, account, now)
	total, held := s.balance(), s.held()
	return Balance{Account: account, Total: total, Held: held, Available: total - held, AsOf: now, Version: version}, nil
}

// Entry returns one entry of the account's history: an error wrapping
// ErrEntryNotFound if the account has no entry with that ID.
func (l *Ledger) Entry(ctx context.Context, account string, id int64) (_ Entry, err error) {
	ob := l.begin(ctx, OpEntry, account, "")
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return Entry{}, err
	}
	return l.entry(ctx, OpEntry, account, id)
}

// EntryByKey returns the entry that the write made with idempotency key
// key stored (an error wrapping ErrEntryNotFound if there is none): what
// became of a request whose answer was lost. It reads without locking.
func (l *Ledger) EntryByKey(ctx context.Context, account, key string) (_ Entry, err error) {
	ob := l.begin(ctx, OpEntry, account, key)
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return Entry{}, err
	}
	if err := checkText("key", key, maxKeyLen); err != nil {
		return Entry{}, err
	}
	e, ok, err := l.entryByKey(ctx, OpEntry, account, key)
	if err == nil && !ok {
		err = fmt.Errorf("account %q has no entry under key %q: %w", account, key, ErrEntryNotFound)
	}
	return e, err
}

// Page is one page of an account's history.
type Page struct {
	Entries []Entry
	// Next is the cursor of the next page (its HistoryQuery.After), or 0
	// when this page is the last.
	Next int64
}

// maxPage is the most entries a page of history holds.
const maxPage = 1000

// History returns a page of the account's history, oldest first. Pages
// are stable: entries are only appended, so following Next visits every
// entry that matches exactly once, even while writes go on. An account
// with no entries has an empty history.
func (l *Ledger) History(ctx context.Context, account string, q HistoryQuery) (_ Page, err error) {
	ob := l.begin(ctx, OpHistory, account, "")
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return Page{}, err
	}
	if err := checkQuery(&q); err != nil {
		return Page{}, err
	}
	limit := q.Limit
	q.Limit++
	entries, err := l.entries(ctx, OpHistory, account, q)
	if err != nil {
		return Page{}, err
	}
	p := Page{Entries: entries}
	if len(entries) > limit {
		p.Entries = entries[:limit]
		p.Next = entries[limit-1].ID
	}
	return p, nil
}
