package credits

import (
	"context"
	"time"
)

// Op names a [Ledger] operation in an [Event].
type Op string

// The operations a Ledger reports to its observers.
const (
	OpGrant         Op = "grant"
	OpCharge        Op = "charge"
	OpHold          Op = "hold"
	OpCapture       Op = "capture"
	OpRelease       Op = "release"
	OpRefund        Op = "refund"
	OpClaimFreeTier Op = "claim_free_tier"
	OpRenew         Op = "renew"
	OpSweep         Op = "sweep"
	OpBalance       Op = "balance"
	OpEntry         Op = "entry"
	OpHistory       Op = "history"
	OpStatement     Op = "statement"
	OpFeed          Op = "feed"
	OpAccounts      Op = "accounts"
	OpConsume       Op = "consume" // a consumer's lease and position
)

// Event tells an [Observer] about one operation of a Ledger, once it has
// returned.
type Event struct {
	Op      Op
	Account string
	Key     string // a write's idempotency key ("" for reads, Renew and Sweep)

	// Entry is the entry a write returned: the new entry, or, when
	// Replayed, the first result of the same request. Zero for reads,
	// Renew, Sweep and failures.
	Entry Entry

	// Replayed reports a write whose key was already applied to the same
	// request: it changed nothing and returned the first result.
	Replayed bool

	Err      error         // what the operation returned; nil on success
	Start    time.Time     // when it started, by the wall clock (not Options.Now)
	Duration time.Duration // how long it took, by the wall clock
}

// Observer is told about operations of a [Ledger]: set one for every
// operation in [Options].Observer (metrics, tracing, audit logs), or for the
// operations of one call chain with [WithObserver] (say, an HTTP handler that
// reports a replayed write to its client). It is called on the goroutine
// that made the operation, after the operation returned; it must not call
// the Ledger, and should be quick.
type Observer func(ctx context.Context, ev Event)

type observerKey struct{}

// WithObserver returns a copy of ctx that carries obs: every operation of a
// [Ledger] made with the returned context (or one derived from it) reports
// to obs, after the ledger's own [Options].Observer and any observer ctx
// already carried.
func WithObserver(ctx context.Context, obs Observer) context.Context {
	if prev, ok := ctx.Value(observerKey{}).(Observer); ok && prev != nil {
		next := obs
		obs = func(ctx context.Context, ev Event) { prev(ctx, ev); next(ctx, ev) }
	}
	return context.WithValue(ctx, observerKey{}, obs)
}

// observation is one operation being watched: the zero value (no
// observer) costs nothing.
type observation struct {
	l        *Ledger
	ctx      context.Context
	ctxOb    Observer
	ev       Event
	replayed bool // set by the operation: its key was already applied
}

// begin starts watching an operation, if anyone observes it.
func (l *Ledger) begin(ctx context.Context, op Op, account, key string) observation {
	ctxOb, _ := ctx.Value(observerKey{}).(Observer)
	if l.observer == nil && ctxOb == nil {
		return observation{}
	}
	return observation{l: l, ctx: ctx, ctxOb: ctxOb, ev: Event{Op: op, Account: account, Key: key, Start: time.Now()}}
}

// end reports the operation's outcome to its observers.
func (o *observation) end(e Entry, err error) {
	if o.l == nil {
		return
	}
	o.ev.Duration = time.Since(o.ev.Start)
	o.ev.Replayed, o.ev.Err = o.replayed, err
	if err == nil {
		o.ev.Entry = e
	}
	if o.l.observer != nil {
		o.l.observer(o.ctx, o.ev)
	}
	if o.ctxOb != nil {
		o.ctxOb(o.ctx, o.ev)
	}
}
