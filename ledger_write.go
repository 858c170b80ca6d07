package credits

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/avstudio/credits/internal/fnv"
)

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
	// Spender names who spends (an API key, a member, an agent): the
	// charge is held to the spender's budgets (see [Ledger.SetBudget])
	// and listed under it in statements and History. "" for none; else
	// 1 to 255 bytes, no control characters, no '*', not beginning with
	// '$'.
	Spender  string
	Metadata map[string]string
}

// HoldRequest reserves credits for work in flight.
type HoldRequest struct {
	Key      string    // idempotency key (required)
	Amount   Credits   // more than zero
	Deadline time.Time // when the hold lapses by itself (zero = now + Options.HoldTTL)
	Spender  string    // who the hold is for, as [ChargeRequest.Spender]: it counts against the spender's budgets while open
	// MultiCapture lets the hold be captured several times, each capture
	// at most what is left of it, until a capture with Final (or one that
	// takes all that is left), a release or its deadline closes it. A
	// hold without it closes at its first capture, as holds always did.
	MultiCapture bool
	Metadata     map[string]string
}

// CaptureRequest spends Amount of an open hold. A capture closes the hold,
// giving the rest back, unless the hold is a multi-capture one (see
// [HoldRequest.MultiCapture]): such a hold stays open with the rest until
// a capture with Final, or one that takes all that is left.
type CaptureRequest struct {
	Key    string  // idempotency key (required)
	Hold   int64   // the hold's ID (its hold entry's ID)
	Amount Credits // more than zero and at most what is left of the hold
	// Final closes a multi-capture hold with this capture: the rest goes
	// back. (A hold without MultiCapture closes at any capture.)
	Final    bool
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

// Grant adds credits to an account.
func (l *Ledger) Grant(ctx context.Context, account string, r GrantRequest) (res Entry, err error) {
	ob := l.begin(ctx, OpGrant, account, r.Key)
	defer func() { ob.end(res, err) }()
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if r.Amount <= 0 {
		return Entry{}, inputErr("amount", r.Amount.String(), "must be more than zero")
	}
	if !r.Source.Valid() {
		return Entry{}, inputErr("source", r.Source.String(), "must be a known source")
	}
	if err := checkInstant("expires_at", r.ExpiresAt); err != nil {
		return Entry{}, err
	}
	if err := checkInstant("period", r.Period); err != nil {
		return Entry{}, err
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
	return l.run(ctx, &ob, OpGrant, account, r.Key, l.Now(), e, check)
}

// Charge spends credits on an action or a raw amount. It fails with
// ErrInsufficientCredits, changing nothing, if the account cannot cover it.
func (l *Ledger) Charge(ctx context.Context, account string, r ChargeRequest) (res Entry, err error) {
	ob := l.begin(ctx, OpCharge, account, r.Key)
	defer func() { ob.end(res, err) }()
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
	if err := checkSpender("spender", r.Spender); err != nil {
		return Entry{}, err
	}
	e.Spender = r.Spender
	// The fingerprint is of the request, not the price: a retry of "one
	// chat message" is the same request even if it lands on new prices.
	e.RequestHash = requestHash(&Entry{Kind: KindCharge, Action: r.Action, Resolution: r.Resolution, Quantity: r.Quantity,
		PriceVersion: r.PriceVersion, Amount: -r.Amount, Spender: r.Spender, Metadata: r.Metadata})
	return l.run(ctx, &ob, OpCharge, account, r.Key, now, e, nil)
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
func (l *Ledger) Hold(ctx context.Context, account string, r HoldRequest) (res Entry, err error) {
	ob := l.begin(ctx, OpHold, account, r.Key)
	defer func() { ob.end(res, err) }()
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if r.Amount <= 0 {
		return Entry{}, inputErr("amount", r.Amount.String(), "must be more than zero")
	}
	if err := checkInstant("deadline", r.Deadline); err != nil {
		return Entry{}, err
	}
	if err := checkSpender("spender", r.Spender); err != nil {
		return Entry{}, err
	}
	now := l.Now()
	deadline := utcMicro(r.Deadline)
	if deadline.IsZero() {
		deadline = now.Add(l.holdTTL)
	}
	e := Entry{Kind: KindHold, Held: r.Amount, ExpiresAt: deadline, Spender: r.Spender, MultiCapture: r.MultiCapture, Metadata: r.Metadata}
	e.RequestHash = requestHash(&Entry{Kind: KindHold, Held: r.Amount, ExpiresAt: utcMicro(r.Deadline), Spender: r.Spender,
		MultiCapture: r.MultiCapture, Metadata: r.Metadata})
	return l.hold(ctx, &ob, OpHold, account, r.Key, r.Deadline, now, e)
}

// hold makes the hold entry e (of Hold, or of a job run): the deadline
// given (zero: none was) is checked after the key.
func (l *Ledger) hold(ctx context.Context, ob *observation, op Op, account, key string, given, now time.Time, e Entry) (Entry, error) {
	// The deadline is checked after the key: a retry after the hold
	// lapsed still gets the first result.
	check := func(_ *AccountState, e *Entry) error {
		if !e.ExpiresAt.After(e.Time) {
			return inputErr("deadline", given.Format(time.RFC3339Nano), "must be in the future")
		}
		return nil
	}
	return l.run(ctx, ob, op, account, key, now, e, check)
}

// Capture spends Amount of an open hold. It closes the hold, giving the
// rest back, unless the hold is a multi-capture one and the capture is
// neither Final nor all that is left (see [CaptureRequest]). The entry's
// Held is what the capture takes off the hold: Amount, or all that was
// left of it when it closes.
func (l *Ledger) Capture(ctx context.Context, account string, r CaptureRequest) (res Entry, err error) {
	ob := l.begin(ctx, OpCapture, account, r.Key)
	defer func() { ob.end(res, err) }()
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	if r.Amount <= 0 {
		return Entry{}, inputErr("amount", r.Amount.String(), "must be more than zero (use Release to spend nothing)")
	}
	e := Entry{Kind: KindCapture, Hold: r.Hold, Amount: -r.Amount, Metadata: r.Metadata}
	e.RequestHash = requestHash(&e)
	if r.Final {
		e.RequestHash = fnv.New().U64(e.RequestHash).Str("final").Sum64()
	}
	return l.closeHold(ctx, &ob, OpCapture, account, r.Key, e, r.Final)
}

// Release closes a hold without spending it.
func (l *Ledger) Release(ctx context.Context, account string, r ReleaseRequest) (res Entry, err error) {
	ob := l.begin(ctx, OpRelease, account, r.Key)
	defer func() { ob.end(res, err) }()
	if err := checkCommon(account, r.Key, r.Metadata); err != nil {
		return Entry{}, err
	}
	e := Entry{Kind: KindRelease, Hold: r.Hold, Metadata: r.Metadata}
	e.RequestHash = requestHash(&e)
	return l.closeHold(ctx, &ob, OpRelease, account, r.Key, e, true)
}

// closeHold captures (e.Amount) or releases an open hold; final closes a
// multi-capture hold. The entry carries the hold's spender.
func (l *Ledger) closeHold(ctx context.Context, ob *observation, op Op, account, key string, e Entry, final bool) (Entry, error) {
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
		e.Spender, e.Held = h.Spender, -h.Amount
		if h.Multi && !final {
			e.Held = e.Amount // what it takes; all that is left closes the hold
		}
		return nil
	}
	r, err := l.run(ctx, ob, op, account, key, l.Now(), e, check)
	if err == errNoOpenHold {
		// Told apart outside the atomic step: a decision must not call
		// the backend.
		err = l.missingHold(ctx, op, account, e.Hold)
	}
	return r, err
}

var errNoOpenHold = errors.New("no open hold")

// missingHold tells a hold that never was from one already closed.
func (l *Ledger) missingHold(ctx context.Context, op Op, account string, id int64) error {
	he, err := l.entry(ctx, op, account, id)
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
// A refund of an entry the account does not have fails with
// ErrEntryNotFound; of one that is not a charge or capture, or has nothing
// left to refund, with ErrNotRefundable.
func (l *Ledger) Refund(ctx context.Context, account string, r RefundRequest) (res Entry, err error) {
	ob := l.begin(ctx, OpRefund, account, r.Key)
	defer func() { ob.end(res, err) }()
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
	target, err := l.entry(ctx, OpRefund, account, r.Entry)
	if err != nil {
		return Entry{}, err
	}
	if (target.Kind != KindCharge && target.Kind != KindCapture) || target.Amount >= 0 {
		return Entry{}, fmt.Errorf("entry %d of account %q is a %s, not a charge or capture: %w", r.Entry, account, target.Kind, ErrNotRefundable)
	}
	e := Entry{Kind: KindRefund, Reverses: r.Entry, Amount: r.Amount, Metadata: r.Metadata}
	e.RequestHash = requestHash(&e)
	e.Spender = target.Spender
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
	return l.run(ctx, &ob, OpRefund, account, r.Key, l.Now(), e, check)
}

// Sweep records the expirations that are due on the account: lapsed holds
// and expired lots, each stamped with the instant it took effect. Reads
// already account for them; Sweep writes them down. Every other write
// sweeps too, so calling it is optional. An account with no entries has
// nothing to sweep.
func (l *Ledger) Sweep(ctx context.Context, account string) (_ []Entry, err error) {
	ob := l.begin(ctx, OpSweep, account, "")
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return nil, err
	}
	now := l.Now()
	return l.write(ctx, OpSweep, account, "", now, true, func(s *AccountState, _ *Entry) ([]Entry, error) {
		return settle(s, account, s.writeTime(now)), nil
	})
}

// SweepAll sweeps every account (see [Ledger.Sweep] and
// [Ledger.Accounts]): the expirations due, lapsed holds, and the notices
// time alone makes due (credits expiring within Options.ExpiringNotice).
// Run it from a scheduler, say every few minutes, for those to be written
// (and reach the feed) on time even for accounts nothing else writes. It
// returns how many entries it wrote. Its cost grows with the number of
// accounts; every sweep is its own atomic step, so it may run while the
// ledger is in use, and a failure stops it with the sweeps before it kept.
func (l *Ledger) SweepAll(ctx context.Context) (int, error) {
	n := 0
	after := ""
	for {
		names, err := l.Accounts(ctx, after, maxPage)
		if err != nil {
			return n, err
		}
		for _, name := range names {
			es, err := l.Sweep(ctx, name)
			n += len(es)
			if err != nil {
				return n, err
			}
		}
		if len(names) < maxPage {
			return n, nil
		}
		after = names[len(names)-1]
	}
}

// settle appends and applies the entries due by now (see
// AccountState.due), each stamped with the instant it took effect.
func settle(s *AccountState, account string, now time.Time) []Entry {
	if !s.hasDue(now) {
		return nil
	}
	due := s.due(now)
	for i := range due {
		due[i].Account, due[i].ID = account, s.lastID+1
		s.apply(&due[i])
		due[i].BalanceAfter = s.balance()
	}
	return due
}

// stamp makes e s's next entry at now. Credits coming in (a grant or a
// refund) are placed too: the lot they join, if one is alike in every
// way a rule looks at, is recorded in e.Lot (see AccountState.mergeTarget).
func stamp(s *AccountState, e *Entry, account string, now time.Time) {
	e.Account, e.ID, e.Time = account, s.lastID+1, now
	switch e.Kind {
	case KindGrant:
		e.Lot = s.mergeTarget(e.Source, e.Priority, e.ExpiresAt, now)
	case KindRefund:
		e.Lot = s.mergeTarget(SourceRefund, 0, time.Time{}, now)
	}
}

// run is every write operation but the free tier and renewals: in one
// atomic step it replays a retried request, or settles what is due, checks
// the request against the settled state, and appends its entry. check (may
// be nil) inspects the settled state and may complete the entry (its Time
// is set); it must not change the state. ob, if not nil, learns whether
// the write was a replay.
func (l *Ledger) run(ctx context.Context, ob *observation, op Op, account, key string, now time.Time, e Entry, check func(*AccountState, *Entry) error) (Entry, error) {
	e.Key = key
	o := &operation{l: l, now: now, req: e, check: check}
	o.guard = guard{account: account, d: o, notify: l, now: now}
	if err := l.guarded(ctx, op, key, &o.guard); err != nil {
		return Entry{}, err
	}
	if ob != nil {
		ob.replayed = o.replayed
	}
	if !o.replayed {
		// The entry as stored, its chain hash set: settled entries may
		// come before it, notices after.
		o.result[0].Hash = o.written[o.result[0].ID-o.written[0].ID].Hash
	}
	return o.result[0], nil
}

// operation is one write in flight: the request, and the Decision that
// the backend runs for it (through its guard). Its result is built in
// place, so that a write allocates the operation and the Decision it
// hands the backend, and nothing else.
type operation struct {
	guard
	l        *Ledger
	now      time.Time
	req      Entry // the entry the request asks for; no ID, time or balance yet
	check    func(*AccountState, *Entry) error
	result   [1]Entry // the entry made (or replayed); also the entries a write that settles nothing returns
	replayed bool     // result is the entry already stored under the key
}

// decide is the operation's [Decision].
func (o *operation) decide(s *AccountState, existing *Entry) ([]Entry, error) {
	account := o.account
	if existing != nil {
		if existing.RequestHash != o.req.RequestHash {
			return nil, &IdempotencyConflictError{Account: account, Key: o.req.Key, EntryID: existing.ID}
		}
		o.result[0], o.replayed = *existing, true
		return nil, nil
	}
	now := s.writeTime(o.now)
	work := s
	if s.hasDue(now) {
		work = s.Clone() // settle on a copy: a refused request changes nothing
	}
	due := settle(work, account, now)
	e := &o.result[0]
	*e = o.req
	stamp(work, e, account, now)
	if o.check != nil {
		if err := o.check(work, e); err != nil {
			return nil, err
		}
	}
	if err := o.l.checkFunds(work, account, e); err != nil {
		return nil, err
	}
	if e.Spender != "" && (e.Kind == KindCharge || e.Kind == KindHold) {
		if err := work.checkBudgets(account, e.Spender, -e.Amount+e.Held, e.Time); err != nil {
			return nil, err
		}
	}
	if e.Amount > 0 {
		// Credits coming in must not wrap the balance around.
		if _, err := work.balance().Add(e.Amount); err != nil {
			return nil, fmt.Errorf("account %q: %w", account, err)
		}
	}
	work.apply(e)
	e.BalanceAfter = work.balance()
	if work != s {
		*s = *work
	}
	if len(due) == 0 {
		return o.result[:], nil
	}
	return append(due, *e), nil
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
		// An overdraft of MaxCredits is "unlimited": the sum saturates
		// instead of wrapping around. A negative one is no overdraft.
		if od := l.overdraft(account); od > 0 {
			if sum, err := avail.Add(od); err == nil {
				avail = sum
			} else {
				avail = MaxCredits
			}
		}
	}
	if need > avail {
		return &InsufficientCreditsError{Account: account, Requested: need, Available: max(avail, 0), Shortfall: need - max(avail, 0)}
	}
	return nil
}
