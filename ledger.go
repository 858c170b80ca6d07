package credits

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Kind is the kind of a ledger entry. Each has a stable text name used in
// JSON, SQL and the command line.
type Kind uint8

// The kinds of ledger entries.
const (
	KindGrant    Kind = iota + 1 // grant: credits added to the account, as a new lot
	KindCharge                   // charge: credits spent on an action or a raw amount
	KindRefund                   // refund: credits given back for a charge or capture
	KindHold                     // hold: credits reserved for work in flight
	KindCapture                  // capture: a hold closed by spending all or part of it
	KindRelease                  // release: a hold closed without spending it
	KindExpire                   // expire: a lot's credits or a hold's deadline ran out
	KindRollover                 // rollover: a period ended; the policy let some credits expire
	KindClaim                    // claim: a free-tier claim key taken (on a claim record)

	numKinds = iota + 1
)

var kindNames = [numKinds]string{
	KindGrant: "grant", KindCharge: "charge", KindRefund: "refund", KindHold: "hold",
	KindCapture: "capture", KindRelease: "release", KindExpire: "expire",
	KindRollover: "rollover", KindClaim: "claim",
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k > 0 && k < numKinds }

// String returns the stable text name of k, such as "charge".
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	for k := Kind(1); k < numKinds; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, inputErr("kind", s, "unknown entry kind")
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, inputErr("kind", k.String(), "unknown entry kind")
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	*k = v
	return err
}

// Source says where granted credits came from. The zero value is not a
// source.
type Source uint8

// The sources of granted credits.
const (
	SourceFreeTier     Source = iota + 1 // free_tier: the one-time free credits
	SourceSubscription                   // subscription: a billing period's credits
	SourceTopUp                          // topup: credits bought on top
	SourceRefund                         // refund: credits given back
	SourceAdjustment                     // adjustment: a manual correction
	SourceRollover                       // rollover: leftovers carried into a new lot at a period's end

	numSources = iota + 1
)

var sourceNames = [numSources]string{
	SourceFreeTier: "free_tier", SourceSubscription: "subscription", SourceTopUp: "topup",
	SourceRefund: "refund", SourceAdjustment: "adjustment", SourceRollover: "rollover",
}

// Valid reports whether s is one of the defined sources.
func (s Source) Valid() bool { return s > 0 && s < numSources }

// String returns the stable text name of s, such as "topup"; "" for zero.
func (s Source) String() string {
	if s == 0 {
		return ""
	}
	if s.Valid() {
		return sourceNames[s]
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// ParseSource returns the source named s.
func ParseSource(s string) (Source, error) {
	for v := Source(1); v < numSources; v++ {
		if sourceNames[v] == s {
			return v, nil
		}
	}
	return 0, inputErr("source", s, "unknown source (want free_tier, subscription, topup, refund, adjustment or rollover)")
}

// MarshalText implements encoding.TextMarshaler.
func (s Source) MarshalText() ([]byte, error) {
	if s != 0 && !s.Valid() {
		return nil, inputErr("source", s.String(), "unknown source")
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Source) UnmarshalText(b []byte) error {
	v, err := ParseSource(string(b))
	*s = v
	return err
}

// Entry is one immutable line of an account's history. Entries are only
// ever appended; the account's balance is always the sum of their Amounts.
type Entry struct {
	Account string    `json:"account"`
	ID      int64     `json:"id"`   // position in the account's history: 1, 2, 3...
	Kind    Kind      `json:"kind"` // what happened
	Time    time.Time `json:"time"` // when, in UTC, to the microsecond; never earlier than the entry before

	Amount       Credits `json:"amount"`          // signed change to the balance
	Held         Credits `json:"held,omitempty"`  // signed change to the credits on hold
	BalanceAfter Credits `json:"balance_after"`   // the balance once this entry is applied
	Source       Source  `json:"source,omitzero"` // grant: where the credits came from; rollover: which lots

	Action       Action     `json:"action,omitzero"`         // charge: the action priced
	Resolution   Resolution `json:"resolution,omitzero"`     // charge: the video resolution, if any
	Quantity     int64      `json:"quantity,omitempty"`      // charge: units of the action
	PriceVersion string     `json:"price_version,omitempty"` // charge: the price table used

	Hold      int64     `json:"hold,omitempty"`      // hold, capture, release, expire: the hold (its hold entry's ID)
	Lot       int64     `json:"lot,omitempty"`       // expire: the lot that expired; rollover: the lot leftovers were carried into, or 0
	Reverses  int64     `json:"reverses,omitempty"`  // refund: the charge or capture refunded
	Priority  int32     `json:"priority,omitempty"`  // grant, rollover: the new lot's spending priority
	ExpiresAt time.Time `json:"expires_at,omitzero"` // grant, rollover: when the new lot expires; hold: its deadline
	Period    time.Time `json:"period,omitzero"`     // subscription grant, rollover: start of the billing period

	Key         string            `json:"key,omitempty"`          // the idempotency key of the request that made it; "" for entries the ledger made itself
	RequestHash uint64            `json:"request_hash,omitempty"` // fingerprint of that request, to tell a retry from a conflict
	Metadata    map[string]string `json:"metadata,omitempty"`     // the caller's notes
}

// Backend stores accounts for a [Ledger]: each account's state and its
// append-only entries. It carries no business rules: what an operation
// does is decided by the Ledger, in a [Decision] the backend runs.
//
// Every method may be called concurrently, for the same account or for
// different ones. ctx bounds any I/O; a cancelled context returns an
// error and leaves the account as it was.
//
// The package ledgertest checks an implementation: ledgertest.Run(t, open).
type Backend interface {
	// Load returns the account's current state, as last stored by Update.
	// The caller may change it freely. An account with no entries is
	// reported as an error wrapping ErrUnknownAccount.
	Load(ctx context.Context, account string) (*AccountState, error)

	// Update runs one decision atomically against one account. It loads
	// the account's state (the zero AccountState for an account with no
	// entries) and, if key is not empty, the entry stored under key (nil if
	// none), and calls decide with them. If decide returns an error, Update
	// stores nothing and returns that error unchanged. Otherwise it appends
	// the entries decide returned (possibly none) and stores the state as
	// decide left it, together: either both are durable or neither is.
	//
	// Updates of one account are serialized: each decision sees the state
	// the previous one left. Updates of different accounts should not wait
	// for each other: a backend with one global lock is correct, but every
	// account then waits for the busiest. decide may be called more than once if the backend
	// retries after a conflict; it is pure apart from its effect on the
	// state. It must not be called with a state or key entry that another
	// writer could change before Update returns. Neither decide nor the
	// entries it returns may be used after Update returns: the Ledger
	// reuses them.
	Update(ctx context.Context, account, key string, decide Decision) error

	// Entry returns the account's entry with the given ID, or an error
	// wrapping ErrEntryNotFound.
	Entry(ctx context.Context, account string, id int64) (Entry, error)

	// Entries returns the account's entries that match q, in ID order,
	// at most q.Limit of them (q.Limit is always set, 1 to 1001). An account
	// with no entries has none; that is not an error.
	Entries(ctx context.Context, account string, q HistoryQuery) ([]Entry, error)
}

// Decision decides one operation on one account. Given the account's
// state and the entry already stored under the operation's idempotency key
// (nil if none), it returns the entries to append, IDs and balances set,
// having applied them to state; or an error, having left state untouched.
// Entries with a non-empty Key are unique per account and key; at most one
// entry of a decision carries the key.
type Decision func(state *AccountState, existing *Entry) ([]Entry, error)

// HistoryQuery selects entries of one account's history.
type HistoryQuery struct {
	After int64     // only entries with a greater ID: the cursor (0 = from the start)
	Limit int       // at most this many (0 = 100; at most 1000)
	Kinds []Kind    // only these kinds (none = all)
	Since time.Time // only entries at or after Since (zero = no bound)
	Until time.Time // only entries before Until (zero = no bound)
}

// Match reports whether e passes the query's filters (kinds and time
// range; not the cursor or limit). Backends may use it to filter.
func (q *HistoryQuery) Match(e *Entry) bool {
	if len(q.Kinds) > 0 {
		found := false
		for _, k := range q.Kinds {
			if k == e.Kind {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !e.Time.Before(q.Until) {
		return false
	}
	return true
}

// Options configures a [Ledger]. The zero value is ready to use.
type Options struct {
	// Prices prices charges made by action. Nil means DefaultPriceBook().
	Prices *PriceBook

	// Now is the ledger's clock. Nil means time.Now. Tests pass their own
	// to move time. Instants are kept in UTC to the microsecond, so that
	// every backend stores them exactly.
	Now func() time.Time

	// Overdraft returns how far below zero an account's available credits
	// may go. Nil means no account may overdraw.
	Overdraft func(account string) Credits

	// HoldTTL is how long a hold lasts when its request gives no
	// deadline. Zero means one hour.
	HoldTTL time.Duration

	// FreeTier is how many credits ClaimFreeTier grants. Zero means 30,
	// the R-Credits free tier.
	FreeTier Credits
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
}

// NewLedger returns a Ledger that keeps its accounts in b.
func NewLedger(b Backend, opts Options) *Ledger {
	l := &Ledger{backend: b, prices: opts.Prices, now: opts.Now, overdraft: opts.Overdraft, holdTTL: opts.HoldTTL, freeTier: opts.FreeTier}
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

// GrantRequest adds credits to an account as a new lot.
type GrantRequest struct {
	Key       string            // idempotency key (required)
	Amount    Credits           // more than zero
	Source    Source            // required
	ExpiresAt time.Time         // when the lot's unspent credits expire (zero = never)
	Priority  int32             // lots of higher priority are spent first (default 0)
	Period    time.Time         // the billing period a subscription grant belongs to (optional)
	Metadata  map[string]string // the caller's notes
}

// ChargeRequest spends credits on an action, priced through the ledger's
// price book, or a raw amount.
type ChargeRequest struct {
	Key        string     // idempotency key (required)
	Action     Action     // the action to price; zero for a raw Amount
	Resolution Resolution // video_generation only (zero = 720p)
	Quantity   int64      // units of the action (0 = 1)
	// PriceVersion prices the charge with that table (say, the one an
	// estimate showed the user) instead of the one in force now.
	PriceVersion string
	Amount       Credits // a raw amount, only when Action is zero
	Metadata     map[string]string
}

// HoldRequest reserves credits for work in flight.
type HoldRequest struct {
	Key      string    // idempotency key (required)
	Amount   Credits   // more than zero
	Deadline time.Time // when the hold lapses by itself (zero = now + Options.HoldTTL)
	Metadata map[string]string
}

// CaptureRequest closes a hold by spending Amount of it; the rest goes back.
type CaptureRequest struct {
	Key      string  // idempotency key (required)
	Hold     int64   // the hold's ID (its hold entry's ID)
	Amount   Credits // more than zero and at most the hold's amount
	Metadata map[string]string
}

// ReleaseRequest closes a hold without spending it.
type ReleaseRequest struct {
	Key      string // idempotency key (required)
	Hold     int64  // the hold's ID
	Metadata map[string]string
}

// RefundRequest gives back credits for a charge or a capture. The refunds
// of one charge never add up to more than it.
type RefundRequest struct {
	Key      string  // idempotency key (required)
	Entry    int64   // the charge or capture entry to refund
	Amount   Credits // how much (0 = all that is left to refund)
	Metadata map[string]string
}

// Balance is an account's credits at an instant.
type Balance struct {
	Account   string    `json:"account"`
	Total     Credits   `json:"total"`     // the sum of the account's entries, expirations due by AsOf included
	Held      Credits   `json:"held"`      // reserved by open holds
	Available Credits   `json:"available"` // Total - Held: what a charge or hold may take (plus any overdraft)
	AsOf      time.Time `json:"as_of"`
	Version   int64     `json:"version"` // the ID of the last stored entry
}

// Grant adds credits to an account.
func (l *Ledger) Grant(ctx context.Context, account string, r GrantRequest) (Entry, error) {
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if r.Amount <= 0 {
		return Entry{}, inputErr("amount", r.Amount.String(), "must be more than zero")
	}
	if !r.Source.Valid() {
		return Entry{}, inputErr("source", r.Source.String(), "must be a known source")
	}
	e := Entry{Kind: KindGrant, Amount: r.Amount, Source: r.Source, ExpiresAt: utcMicro(r.ExpiresAt),
		Priority: r.Priority, Period: utcMicro(r.Period), Metadata: r.Metadata}
	e.RequestHash = requestHash(&e)
	// The expiry is checked after the key: a retry after the lot expired
	// still gets the first result.
	check := func(_ *AccountState, e *Entry) error {
		if !e.ExpiresAt.IsZero() && !e.ExpiresAt.After(e.Time) {
			return inputErr("expires_at", r.ExpiresAt.Format(time.RFC3339Nano), "must be in the future")
		}
		return nil
	}
	return l.run(ctx, account, r.Key, l.Now(), e, check)
}

// Charge spends credits on an action or a raw amount. It fails with
// ErrInsufficientCredits, changing nothing, if the account cannot cover it.
func (l *Ledger) Charge(ctx context.Context, account string, r ChargeRequest) (Entry, error) {
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	now := l.Now()
	e := Entry{Kind: KindCharge, Metadata: r.Metadata}
	if r.Action == 0 {
		if r.Resolution != 0 || r.Quantity != 0 || r.PriceVersion != "" {
			return Entry{}, inputErr("action", "", "resolution, quantity and price version need an action")
		}
		if r.Amount <= 0 {
			return Entry{}, inputErr("amount", r.Amount.String(), "must be more than zero (or give an action)")
		}
		e.Amount = -r.Amount
	} else {
		if r.Amount != 0 {
			return Entry{}, inputErr("amount", r.Amount.String(), "a charge priced by action takes no raw amount")
		}
		table, err := l.table(now, r.PriceVersion)
		if err != nil {
			return Entry{}, err
		}
		q, err := table.Quote(r.Action, QuoteOptions{Resolution: r.Resolution, Quantity: r.Quantity})
		if err != nil {
			return Entry{}, err
		}
		e.Action, e.Resolution, e.Quantity, e.PriceVersion = q.Action, q.Resolution, q.Quantity, q.PriceVersion
		e.Amount = -q.Total
	}
	// The fingerprint is of the request, not the price: a retry of "one
	// chat message" is the same request even if it lands on new prices.
	e.RequestHash = requestHash(&Entry{Kind: KindCharge, Action: r.Action, Resolution: r.Resolution, Quantity: r.Quantity,
		PriceVersion: r.PriceVersion, Amount: -r.Amount, Metadata: r.Metadata})
	return l.run(ctx, account, r.Key, now, e, nil)
}

func (l *Ledger) table(now time.Time, version string) (*PriceTable, error) {
	if version != "" {
		return l.prices.Version(version)
	}
	return l.prices.At(now)
}

// Hold reserves credits for work in flight: they stay in the balance but
// are no longer available. The entry's ID is the hold's ID, for Capture
// and Release. A hold not closed by its deadline lapses by itself.
func (l *Ledger) Hold(ctx context.Context, account string, r HoldRequest) (Entry, error) {
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if r.Amount <= 0 {
		return Entry{}, inputErr("amount", r.Amount.String(), "must be more than zero")
	}
	now := l.Now()
	deadline := utcMicro(r.Deadline)
	if deadline.IsZero() {
		deadline = now.Add(l.holdTTL)
	}
	e := Entry{Kind: KindHold, Held: r.Amount, ExpiresAt: deadline, Metadata: r.Metadata}
	e.RequestHash = requestHash(&Entry{Kind: KindHold, Held: r.Amount, ExpiresAt: utcMicro(r.Deadline), Metadata: r.Metadata})
	// The deadline is checked after the key: a retry after the hold
	// lapsed still gets the first result.
	check := func(_ *AccountState, e *Entry) error {
		if !e.ExpiresAt.After(e.Time) {
			return inputErr("deadline", r.Deadline.Format(time.RFC3339Nano), "must be in the future")
		}
		return nil
	}
	return l.run(ctx, account, r.Key, now, e, check)
}

// Capture closes a hold, spending Amount of it and giving the rest back.
func (l *Ledger) Capture(ctx context.Context, account string, r CaptureRequest) (Entry, error) {
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if r.Amount <= 0 {
		return Entry{}, inputErr("amount", r.Amount.String(), "must be more than zero (use Release to spend nothing)")
	}
	e := Entry{Kind: KindCapture, Hold: r.Hold, Amount: -r.Amount, Metadata: r.Metadata}
	e.RequestHash = requestHash(&e)
	return l.closeHold(ctx, account, r.Key, e)
}

// Release closes a hold without spending it.
func (l *Ledger) Release(ctx context.Context, account string, r ReleaseRequest) (Entry, error) {
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	e := Entry{Kind: KindRelease, Hold: r.Hold, Metadata: r.Metadata}
	e.RequestHash = requestHash(&e)
	return l.closeHold(ctx, account, r.Key, e)
}

func (l *Ledger) closeHold(ctx context.Context, account, key string, e Entry) (Entry, error) {
	if e.Hold <= 0 {
		return Entry{}, inputErr("hold", fmt.Sprint(e.Hold), "must be a hold's ID")
	}
	check := func(s *AccountState, e *Entry) error {
		i := s.holdIndex(e.Hold)
		if i < 0 {
			return errNoOpenHold
		}
		// A hold past its deadline is not here: settling recorded its lapse.
		h := &s.holds[i]
		if -e.Amount > h.Amount {
			return inputErr("amount", (-e.Amount).String(), fmt.Sprintf("exceeds the %s held by hold %d", h.Amount, e.Hold))
		}
		e.Held = -h.Amount
		return nil
	}
	r, err := l.run(ctx, account, key, l.Now(), e, check)
	if err == errNoOpenHold {
		// Told apart outside the atomic step: a decision must not call
		// the backend.
		err = l.missingHold(ctx, account, e.Hold)
	}
	return r, err
}

var errNoOpenHold = errors.New("no open hold")

// missingHold tells a hold that never was from one already closed.
func (l *Ledger) missingHold(ctx context.Context, account string, id int64) error {
	he, err := l.backend.Entry(ctx, account, id)
	if errors.Is(err, ErrEntryNotFound) || (err == nil && he.Kind != KindHold) {
		return fmt.Errorf("account %q has no hold %d: %w", account, id, ErrHoldNotFound)
	}
	if err != nil {
		return err
	}
	if !l.Now().Before(he.ExpiresAt) {
		return fmt.Errorf("hold %d of account %q was closed or lapsed at its deadline %s: %w", id, account, he.ExpiresAt.Format(time.RFC3339), ErrHoldClosed)
	}
	return fmt.Errorf("hold %d of account %q was captured or released: %w", id, account, ErrHoldClosed)
}

// Refund gives back credits for a charge or a capture, as a new lot that
// never expires. Refunds of one entry never add up to more than it took.
func (l *Ledger) Refund(ctx context.Context, account string, r RefundRequest) (Entry, error) {
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if r.Amount < 0 {
		return Entry{}, inputErr("amount", r.Amount.String(), "must not be negative")
	}
	if r.Entry <= 0 {
		return Entry{}, inputErr("entry", fmt.Sprint(r.Entry), "must be a charge's or capture's ID")
	}
	// Entries never change, so the charge can be read outside the atomic
	// step; what was refunded of it so far is read inside.
	target, err := l.backend.Entry(ctx, account, r.Entry)
	if errors.Is(err, ErrEntryNotFound) {
		return Entry{}, fmt.Errorf("account %q has no entry %d to refund: %w", account, r.Entry, ErrNotRefundable)
	} else if err != nil {
		return Entry{}, err
	}
	if (target.Kind != KindCharge && target.Kind != KindCapture) || target.Amount >= 0 {
		return Entry{}, fmt.Errorf("entry %d of account %q is a %s, not a charge or capture: %w", r.Entry, account, target.Kind, ErrNotRefundable)
	}
	e := Entry{Kind: KindRefund, Reverses: r.Entry, Amount: r.Amount, Metadata: r.Metadata}
	e.RequestHash = requestHash(&e)
	check := func(s *AccountState, e *Entry) error {
		left := -target.Amount - s.refunded[r.Entry]
		if r.Amount == 0 {
			e.Amount = left
		}
		if e.Amount > left || left == 0 {
			return fmt.Errorf("refund of %s for entry %d of account %q: only %s of its %s is left to refund: %w",
				e.Amount, r.Entry, account, left, -target.Amount, ErrNotRefundable)
		}
		return nil
	}
	return l.run(ctx, account, r.Key, l.Now(), e, check)
}

// Sweep records the expirations that are due on the account: lapsed holds
// and expired lots. Reads already account for them; Sweep writes them
// down. Every other operation sweeps too, so calling it is optional.
func (l *Ledger) Sweep(ctx context.Context, account string) ([]Entry, error) {
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	now := l.Now()
	var out []Entry
	err := l.backend.Update(ctx, account, "", func(s *AccountState, _ *Entry) ([]Entry, error) {
		if s.lastID == 0 {
			return nil, fmt.Errorf("account %q: %w", account, ErrUnknownAccount)
		}
		out = settle(s, account, s.writeTime(now))
		return out, nil
	})
	return out, err
}

// settle appends and applies the entries due at now.
func settle(s *AccountState, account string, now time.Time) []Entry {
	if !s.hasDue(now) {
		return nil
	}
	due := s.due(now)
	for i := range due {
		stamp(s, &due[i], account, now)
		s.apply(&due[i])
		due[i].BalanceAfter = s.balance()
	}
	return due
}

func stamp(s *AccountState, e *Entry, account string, now time.Time) {
	e.Account, e.ID, e.Time = account, s.lastID+1, now
}

// run is every write operation: in one atomic step it replays a retried
// request, or settles what is due, checks the request against the
// settled state, and appends its entry. check (may be nil) inspects the
// settled state and may complete the entry (its Time is set); it must not
// change the state.
func (l *Ledger) run(ctx context.Context, account, key string, now time.Time, e Entry, check func(*AccountState, *Entry) error) (Entry, error) {
	e.Key = key
	o := operations.Get().(*operation)
	o.l, o.account, o.now, o.req, o.check = l, account, now, e, check
	err := l.backend.Update(ctx, account, key, o.decision)
	result := o.result
	o.release()
	if err != nil {
		return Entry{}, err
	}
	return result, nil
}

// operations recycles operations, so that a write allocates nothing of
// its own. This relies on the Backend contract: a Decision, and the
// entries it returns, are used only until Update returns.
var operations = sync.Pool{New: func() any {
	o := new(operation)
	o.decision = o.decide // bound once: a method value passed to Update allocates
	return o
}}

// release clears o, so that the pool keeps no caller's data alive, and
// returns it to the pool.
func (o *operation) release() {
	*o = operation{decision: o.decision}
	operations.Put(o)
}

// operation is one write in flight: the request, and the Decision that
// the backend runs for it. It is recycled (see operations), so a charge
// allocates nothing of its own.
type operation struct {
	l        *Ledger
	account  string
	now      time.Time
	req      Entry // the entry the request asks for; no ID, time or balance yet
	check    func(*AccountState, *Entry) error
	result   Entry
	buf      [1]Entry
	decision Decision // o.decide, bound once
}

// decide is the operation's [Decision].
func (o *operation) decide(s *AccountState, existing *Entry) ([]Entry, error) {
	if existing != nil {
		if existing.RequestHash != o.req.RequestHash {
			return nil, &IdempotencyConflictError{Account: o.account, Key: o.req.Key, EntryID: existing.ID}
		}
		// The stored entry may be the backend's own (the memory
		// backend's is): the caller gets a copy.
		o.result = *existing
		o.result.Metadata = maps.Clone(existing.Metadata)
		return nil, nil
	}
	now := s.writeTime(o.now)
	work := s
	if s.hasDue(now) {
		work = s.Clone() // settle on a copy: a refused request changes nothing
	}
	due := settle(work, o.account, now)
	// The entry is built in o.result, which is already on the heap: a
	// local would escape through o.check and cost an allocation.
	op := &o.result
	*op = o.req
	stamp(work, op, o.account, now)
	if o.check != nil {
		if err := o.check(work, op); err != nil {
			return nil, err
		}
	}
	if err := o.l.checkFunds(work, o.account, op); err != nil {
		return nil, err
	}
	if op.Amount > 0 {
		// Credits coming in must not wrap the balance around.
		if _, err := work.balance().Add(op.Amount); err != nil {
			return nil, fmt.Errorf("account %q: %w", o.account, err)
		}
	}
	work.apply(op)
	op.BalanceAfter = work.balance()
	if work != s {
		*s = *work
	}
	if len(due) == 0 {
		o.buf[0] = *op
		return o.buf[:], nil
	}
	return append(due, *op), nil
}

// checkFunds refuses a charge or hold that would take the account's
// available credits below its overdraft limit.
func (l *Ledger) checkFunds(s *AccountState, account string, e *Entry) error {
	var need Credits
	switch e.Kind {
	case KindCharge:
		need = -e.Amount
	case KindHold:
		need = e.Held
	default:
		return nil
	}
	avail := s.spendable(e.Time)
	if l.overdraft != nil {
		avail += l.overdraft(account)
	}
	if need > avail {
		return &InsufficientCreditsError{Account: account, Requested: need, Available: max(avail, 0), Shortfall: need - max(avail, 0)}
	}
	return nil
}

// Balance returns the account's credits now. Expirations due by now are
// counted even if no write has recorded them yet. An account with no
// entries is ErrUnknownAccount.
func (l *Ledger) Balance(ctx context.Context, account string) (Balance, error) {
	if err := checkAccount(account); err != nil {
		return Balance{}, err
	}
	s, err := l.backend.Load(ctx, account)
	if err != nil {
		return Balance{}, err
	}
	now := l.Now()
	version := s.lastID
	settle(s, account, now)
	total, held := s.balance(), s.held()
	return Balance{Account: account, Total: total, Held: held, Available: total - held, AsOf: now, Version: version}, nil
}

// Entry returns one entry of the account's history.
func (l *Ledger) Entry(ctx context.Context, account string, id int64) (Entry, error) {
	if err := checkAccount(account); err != nil {
		return Entry{}, err
	}
	return l.backend.Entry(ctx, account, id)
}

// Page is one page of an account's history.
type Page struct {
	Entries []Entry
	// Next is the cursor of the next page (its HistoryQuery.After), or 0
	// when this page is the last.
	Next int64
}

// History returns a page of the account's history, oldest first. Pages
// are stable: entries are only appended, so following Next visits every
// entry that matches exactly once, even while writes go on.
func (l *Ledger) History(ctx context.Context, account string, q HistoryQuery) (Page, error) {
	if err := checkAccount(account); err != nil {
		return Page{}, err
	}
	switch {
	case q.Limit < 0 || q.Limit > 1000:
		return Page{}, inputErr("limit", fmt.Sprint(q.Limit), "must be 0 to 1000")
	case q.Limit == 0:
		q.Limit = 100
	}
	if q.After < 0 {
		return Page{}, inputErr("after", fmt.Sprint(q.After), "must not be negative")
	}
	for _, k := range q.Kinds {
		if !k.Valid() {
			return Page{}, inputErr("kinds", k.String(), "unknown entry kind")
		}
	}
	limit := q.Limit
	q.Limit++
	entries, err := l.backend.Entries(ctx, account, q)
	if err != nil {
		return Page{}, err
	}
	if len(entries) == 0 && q.After == 0 {
		if _, err := l.backend.Load(ctx, account); err != nil {
			return Page{}, err
		}
	}
	p := Page{Entries: entries}
	if len(entries) > limit {
		p.Entries = entries[:limit]
		p.Next = entries[limit-1].ID
	}
	return p, nil
}

// ClaimFreeTier grants the one-time free credits (30 unless
// Options.FreeTier says otherwise): once per account, and, if claim is not
// empty, once per claim key across all accounts, so that one person (say,
// one normalized email address) cannot claim twice through two accounts.
// Claiming again with the same account and claim key returns the first
// grant; any other second claim fails with ErrAlreadyClaimed.
//
// The claim key is recorded before the credits are granted. If the grant
// then fails (a crash, a cancelled context), retrying the same claim
// finishes it; the key is never lost to the account that took it.
func (l *Ledger) ClaimFreeTier(ctx context.Context, account, claim string) (Entry, error) {
	if err := checkAccount(account); err != nil {
		return Entry{}, err
	}
	if claim != "" {
		if err := checkText("claim", claim, maxKeyLen); err != nil {
			return Entry{}, err
		}
	}
	grant := Entry{Kind: KindGrant, Amount: l.freeTier, Source: SourceFreeTier, Metadata: map[string]string{"claim": claim}}
	if claim == "" {
		grant.Metadata = nil
	}
	grant.RequestHash = requestHash(&grant)

	// Look before claiming the key: an account that has its free credits
	// must not take a claim key it can never use.
	var done *Entry
	err := l.backend.Update(ctx, account, freeTierKey, func(_ *AccountState, existing *Entry) ([]Entry, error) {
		if existing != nil {
			if existing.RequestHash != grant.RequestHash {
				return nil, fmt.Errorf("account %q claimed its free tier in entry %d: %w", account, existing.ID, ErrAlreadyClaimed)
			}
			e := *existing
			e.Metadata = maps.Clone(existing.Metadata)
			done = &e
		}
		return nil, nil
	})
	if err != nil {
		return Entry{}, err
	}
	if done != nil {
		return *done, nil
	}
	if claim != "" {
		rec := Entry{Kind: KindClaim, Metadata: map[string]string{"account": account}}
		rec.RequestHash = requestHash(&rec)
		_, err := l.run(ctx, claimAccountPrefix+claim, "claim", l.Now(), rec, nil)
		if errors.Is(err, ErrIdempotencyConflict) {
			return Entry{}, fmt.Errorf("claim key %q was used by another account: %w", claim, ErrAlreadyClaimed)
		}
		if err != nil {
			return Entry{}, err
		}
	}
	e, err := l.run(ctx, account, freeTierKey, l.Now(), grant, nil)
	if errors.Is(err, ErrIdempotencyConflict) {
		return Entry{}, fmt.Errorf("account %q already claimed its free tier: %w", account, ErrAlreadyClaimed)
	}
	return e, err
}

// Keys and accounts that begin with '$' belong to the ledger itself.
const (
	reservedPrefix     = "$"
	freeTierKey        = "$free_tier"
	claimAccountPrefix = "$claim:"
)

const (
	maxAccountLen   = 200
	maxKeyLen       = 255
	maxMetadataKeys = 16
	maxMetadataKey  = 64
	maxMetadataVal  = 512
)

func checkAccount(account string) error {
	if err := checkText("account", account, maxAccountLen); err != nil {
		return err
	}
	if strings.HasPrefix(account, reservedPrefix) {
		return inputErr("account", account, "names beginning with '$' are reserved")
	}
	return nil
}

func checkCommon(account, key string, md map[string]string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if key == "" {
		return inputErr("key", "", "an idempotency key is required")
	}
	if err := checkText("key", key, maxKeyLen); err != nil {
		return err
	}
	if strings.HasPrefix(key, reservedPrefix) {
		return inputErr("key", key, "keys beginning with '$' are reserved")
	}
	if len(md) > maxMetadataKeys {
		return inputErr("metadata", "", fmt.Sprintf("has %d keys, at most %d allowed", len(md), maxMetadataKeys))
	}
	for k, v := range md {
		if err := checkText("metadata key", k, maxMetadataKey); err != nil {
			return err
		}
		if len(v) > maxMetadataVal || !utf8.ValidString(v) {
			return inputErr("metadata["+k+"]", v, fmt.Sprintf("must be valid UTF-8 of at most %d bytes", maxMetadataVal))
		}
	}
	return nil
}

// checkText accepts 1 to max bytes of UTF-8 with no control characters.
func checkText(field, s string, max int) error {
	switch {
	case s == "":
		return inputErr(field, "", "must not be empty")
	case len(s) > max:
		return inputErr(field, s, fmt.Sprintf("longer than %d bytes", max))
	case !utf8.ValidString(s):
		return inputErr(field, s, "must be valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return inputErr(field, s, "must not contain control characters")
		}
	}
	return nil
}

func utcMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// requestHash fingerprints what a request asked for (FNV-1a, 64 bits): a
// retry has the same fingerprint, another request under the same key
// almost surely not. Metadata counts, in any order.
func requestHash(e *Entry) uint64 {
	h := newFNV()
	h = h.u64(uint64(e.Kind)).u64(uint64(e.Amount)).u64(uint64(e.Held)).u64(uint64(e.Source))
	h = h.u64(uint64(e.Action)).u64(uint64(e.Resolution)).u64(uint64(e.Quantity)).str(e.PriceVersion)
	h = h.u64(uint64(e.Hold)).u64(uint64(e.Lot)).u64(uint64(e.Reverses)).u64(uint64(e.Priority))
	h = h.time(e.ExpiresAt).time(e.Period)
	var md uint64
	for k, v := range e.Metadata {
		md += uint64(newFNV().str(k).str(v))
	}
	return uint64(h.u64(md))
}

type fnv uint64

func newFNV() fnv { return 14695981039346656037 }

func (h fnv) u64(v uint64) fnv {
	for i := 0; i < 8; i++ {
		h ^= fnv(v & 0xff)
		h *= 1099511628211
		v >>= 8
	}
	return h
}

func (h fnv) str(s string) fnv {
	h = h.u64(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h ^= fnv(s[i])
		h *= 1099511628211
	}
	return h
}

func (h fnv) time(t time.Time) fnv {
	if t.IsZero() {
		return h.u64(0)
	}
	return h.u64(uint64(t.UnixMicro()))
}
