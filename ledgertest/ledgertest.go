// Package ledgertest checks that a [credits.Backend] keeps accounts the way
// the ledger's rules need, in the style of testing/fstest and
// testing/slogtest: a storage backend of any kind calls [Run] from one of
// its tests, and every rule it breaks is reported by name, such as
//
//	rule: a replayed idempotency key returns the first result and changes nothing
//
// The rules are those the ledger promises (see the credits package doc and
// the doc comments of [credits.Ledger]'s methods): the balance is the sum
// of the history; granted = spent + expired + balance; available credits
// never go below minus the overdraft; no idempotency key is applied twice;
// refunds never exceed their charge; a capture never exceeds what is left
// of its hold; no spender goes over a budget's cap, however many write at
// once; a job run pays each step once and a failure by its policy;
// [credits.Rebuild] of the history equals the state the backend stores; a
// failed operation changes nothing; and concurrent operations leave what
// some serial order of them would. And those of subscriptions
// ([credits.Ledger.Renew] and [credits.RolloverPolicy]): each period that
// has started is granted exactly once with its plan's credits, however
// many callers renew at once; its credits expire as the plan's policy
// says; a cap holds once a period has ended; rollovers add no credits,
// leave at most the cap and carry within [Min, Max]; nothing that could be
// spent first expires; renewing with a changed past is
// ErrIdempotencyConflict and changes nothing; and statements add up, chain
// from one period to the next, and close the current period at the
// balance.
//
// Run drives the backend through a [credits.Ledger], so it checks the
// backend together with the rules in the core; the rules themselves are
// the same for every backend, so what differs, and what a failure points
// at, is the backend.
package ledgertest

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shopspring/decimal"
)

// Run checks the backends that open returns against every rule of the
// ledger. open must return a new, empty backend on every call; it is
// called once per subtest that needs one (eight times in all, never
// concurrently) with that subtest's t, on which it may register cleanups
// (t.Cleanup) and report its own failures. Run's subtests are:
//
//   - statemachine: a pgregory.net/rapid state machine that drives random
//     sequences of grants (some expiring, some with priority), charges by
//     action and raw, holds with deadlines, partial and full captures,
//     releases, refunds (partial, full and past the charge), retries with
//     the same key, the same key with another request, free-tier claims
//     with shared claim keys, clock moves and sweeps over several
//     accounts (one with an overdraft), against a reference model written
//     independently of the core, and checks every invariant after every
//     step. Accounts may have a subscription (random plans of every
//     rollover policy, anchors on the 29th to 31st and Feb 29, in UTC or
//     America/New_York): the clock crosses period ends, Renew runs (now
//     and then from several goroutines at once), plans change, the
//     subscription is cancelled and resumed, a renewal with a changed past
//     is refused, and statements are read over random periods. Charges
//     and holds name spenders (API keys, an agent); budgets are set,
//     changed and removed for a spender, a group ("key_*", "*") or the
//     default, per day, week or month in UTC, America/New_York or
//     Asia/Kolkata, or per billing period, and the clock crosses their
//     windows; Usage is read; holds may be multi-capture, captured in
//     parts or with Final; job runs start, complete steps, fail by either
//     policy, retry (holding again after a lapse) and are rebuilt with
//     Ledger.Job as after a crash. Each rapid case uses accounts of its
//     own in the one backend. Its number of cases is rapid's flag: go
//     test -rapid.checks=1000.
//   - concurrency: 64 goroutines charging, holding, capturing and
//     releasing on one account, then on many; the same idempotency key
//     sent from 16 goroutines at once; one claim key claimed from 16
//     accounts at once; 64 goroutines charging, holding and capturing in
//     parts for one spender with a cap; 16 job runs of one API key at once.
//   - history: pagination with small limits while writes go on, filters by
//     kind, time range and spender, entries by ID, unknown accounts and
//     entries.
//   - roundtrip: entries read back equal what the operations returned, to
//     the microsecond and in UTC, with metadata at its size limits,
//     Unicode account names and keys, and every field of every kind set.
//   - feed: 8 writers on 12 accounts while 3 readers follow the feed of
//     every entry in small pages: each sees every stored entry exactly
//     once, each account's in ID order, and nothing else.
//   - consumers: two instances of one consumer never handle at once and
//     together hand every entry over once; a failed batch comes again; a
//     consumer restarted, or taken over from a hung instance once its
//     lease ends, goes on from its stored position.
//   - context: a cancelled context fails and changes nothing.
//
// Run uses its own clock and price book (it passes them in
// [credits.Options] to [credits.NewLedger]), so a backend's results do not
// depend on the time of day. Failures name the rule broken; the state
// machine also prints the steps that led there, shrunk by rapid, and the
// flag that replays them (rapid saves the failing case under
// testdata/rapid/ of the calling package; -rapid.nofailfile turns that
// off).
//
// The state machine runs rapid's -rapid.checks cases (100 unless the flag
// is given), or, if the flag is not given, the number an option sets:
// [Checks] lets a backend whose cases are slow (a file synced on every
// write, a server, a race-detector build) keep its default run short,
// while -rapid.checks=1000 still raises it for a deep run. A case takes
// about 20 ms on the memory backend, and on SQLite (synchronous FULL) or
// PostgreSQL on the same machine about 60 and 130 ms; the race detector
// makes SQLite's pure-Go engine about 25 times slower.
func Run(t *testing.T, open func(t *testing.T) credits.Backend, opts ...Option) {
	t.Helper()
	if open == nil {
		t.Fatal("ledgertest.Run: open is nil")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	t.Run("statemachine", func(t *testing.T) {
		defer withChecks(t, o.checks)()
		testStateMachine(t, open(t))
	})
	t.Run("concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("feed", func(t *testing.T) { testFeed(t, open(t)) })
	t.Run("consumers", func(t *testing.T) { testConsumers(t, open(t)) })
	t.Run("history", func(t *testing.T) { testHistory(t, open(t)) })
	t.Run("roundtrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("context", func(t *testing.T) { testContext(t, open(t)) })
}

// An Option changes how [Run] checks a backend.
type Option func(*options)

type options struct {
	checks int // state-machine cases when -rapid.checks is not given; 0: rapid's default
}

// Checks sets how many cases the state machine runs when the test binary
// is not given -rapid.checks: a slow backend's default effort. A positive
// n only; -rapid.checks, when given, wins.
func Checks(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.checks = n
		}
	}
}

// rapidChecksGiven reports whether -rapid.checks was given on the command
// line (looked at once, before withChecks sets it).
var rapidChecksGiven = sync.OnceValue(func() bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	return given
})

// withChecks sets rapid's number of cases to n for one test, unless n is
// 0 or -rapid.checks was given, and returns the function that restores it.
func withChecks(t *testing.T, n int) func() {
	given := rapidChecksGiven()
	f := flag.Lookup("rapid.checks")
	if n == 0 || given || f == nil {
		return func() {}
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatalf("ledgertest: -rapid.checks=%d: %v", n, err)
	}
	t.Logf("ledgertest: %d state-machine cases (the backend's default; -rapid.checks raises it)", n)
	return func() { _ = f.Value.Set(old) }
}

// The rules the suite checks, as its failures name them.
const (
	ruleHistoryIsModel    = "the history is exactly the entries the operations returned, in order"
	ruleFailedChangesNone = "a failed operation changes nothing"
	ruleBalanceIsSum      = "the balance is the sum of the history"
	ruleBalanceIsModel    = "the balance (total, held, available) is what the operations left"
	ruleConservation      = "granted = spent + expired + balance (refunds count as granted)"
	ruleNoOverdraw        = "available credits never go below minus the overdraft"
	ruleKeyOnce           = "no idempotency key is applied twice"
	ruleReplay            = "a replayed idempotency key returns the first result and changes nothing"
	ruleConflict          = "the same idempotency key with a different request is ErrIdempotencyConflict"
	ruleRefundBound       = "refunds never exceed their charge"
	ruleCaptureBound      = "a capture never exceeds what is left of its hold, and a hold closes once"
	ruleRebuild           = "Rebuild(history) equals the state the backend stores"
	ruleOutcome           = "each operation succeeds or fails as the ledger's rules say, with the right error"
	ruleReadBack          = "an entry reads back exactly as the operation returned it"
	ruleChain             = "every entry carries the chain hash of its fields and the entry before it"
	ruleVerify            = "Verify finds nothing wrong with a sound account"
	ruleUTC               = "entry times read back in UTC, to the microsecond"
	ruleUnknown           = "an account with no entries has an empty history, a zero balance and the zero state; a missing entry is ErrEntryNotFound"
	ruleEntryByKey        = "EntryByKey returns the entry the account stored under the key, or ErrEntryNotFound"
	rulePages             = "following History's cursor visits every matching entry exactly once, in order"
	ruleFilters           = "History's kind, time and spender filters return exactly the matching entries, whatever the precision and zone of the bounds"
	ruleSerial            = "concurrent operations leave the state of some serial order of them"
	ruleSameKeyConcurrent = "one idempotency key sent concurrently is applied once, and every sender gets its entry"
	ruleClaimOnce         = "a free-tier claim key is taken by one account only"
	ruleClaimKeyFree      = "a claim that does not end in a grant does not use up its claim key"

	// The rules of the feed and its consumers.
	ruleFeedOnce          = "following the feed's cursor visits every stored entry exactly once"
	ruleFeedOrder         = "the feed gives each account's entries in ID order"
	ruleFeedCommitted     = "the feed gives only stored entries, each as Entry reads it, once its write returned"
	ruleFeedCursor        = "a cursor the backend did not make is ErrInvalidInput"
	ruleConsumerCAS       = "SaveConsumer stores a record only over the version before it, else ErrConflict"
	ruleConsumerExclusive = "two instances of one consumer never handle batches at the same time"
	ruleConsumerOnce      = "instances of a consumer that do not fail hand every entry over once"
	ruleConsumerRetry     = "a batch whose handler failed is handed over again"
	ruleConsumerResume    = "a consumer restarted or taken over goes on from its stored position, skipping nothing"
	ruleCancelled         = "a cancelled context fails and changes nothing"
	ruleAliasing          = "an entry returned to the caller shares no memory with the stored history"
	ruleLoadIsCallers     = "the state Load returns is the caller's: changing it changes nothing stored"

	// The rules of spenders, budgets, multi-capture and job runs.
	ruleSpenderCarried   = "captures, releases and lapses of a hold carry its spender; a refund, the refunded entry's"
	ruleBudgetCap        = "a charge or hold that would take a spender over a budget's cap fails with ErrBudgetExceeded, and no other does"
	ruleBudgetError      = "a *BudgetExceededError names the spender, the budget, its cap and window, what is spent and held in it, and when it resets"
	ruleUsage            = "Usage reports each budget of a spender: what is spent and held in its window, its cap, what remains and when it resets"
	ruleBudgetConcurrent = "concurrent charges, holds and job runs of one spender never take it over its cap"
	ruleJobSteps         = "a job run captures each step's lines once, at its estimate's prices, and a failure pays what its policy says"
	ruleJobResume        = "Ledger.Job rebuilds a job run from the entries alone"

	// The rules of subscriptions, rollover and statements.
	ruleRenewOnce         = "each period that has started is granted exactly once, with its plan's credits, however many callers renew at once"
	ruleRenewShape        = "a renewal step records what is due, then the ended period's rollover, then the period's grant, under one key"
	ruleGrantExpiry       = "a period's credits expire as its plan says: what may roll over per its policy, what may be over the cap at the period's end"
	ruleCap               = "a cap holds: after a period's end, unexpired subscription credits <= cap + credits held at the renewal"
	ruleRolloverCap       = "a capped rollover leaves exactly min(leftover, cap) of the unspent subscription credits"
	ruleCarry             = "a carry moves the leftover, within [Min, Max] (or none below Min), into one lot of the carry's priority and expiry; the rest expires"
	ruleRolloverNoCredits = "rollover entries never add credits"
	ruleSpendFirst        = "nothing that could be spent first expires: lots pay in spending order (priority, soonest expiry, oldest)"
	rulePastConflict      = "renewing with a changed past is ErrIdempotencyConflict and changes nothing"
	ruleStatementSum      = "a statement adds up: opening + granted + refunded - spent - expired == closing"
	ruleStatementChain    = "consecutive statements chain: each period's closing is the next one's opening"
	ruleStatementNow      = "the current period's statement closes at Balance().Total"
	ruleStatementLines    = "a statement's lines are the history's entries in its period, and what is due by now in the current one"
)

// failer is what both *testing.T and *rapid.T offer.
type failer interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// broke reports a broken rule and stops the test.
func broke(t failer, rule, format string, args ...any) {
	t.Helper()
	t.Fatalf("rule: %s\n%s", rule, fmt.Sprintf(format, args...))
}

// brokeOn reports a broken rule and lets the test go on.
func brokeOn(t failer, rule, format string, args ...any) {
	t.Helper()
	t.Errorf("rule: %s\n%s", rule, fmt.Sprintf(format, args...))
}

// Clock is a settable clock for a ledger's [credits.Options.Now], safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until moved.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start is where the suite's clocks begin: within the first price table,
// with nanoseconds the ledger must drop.
var start = time.Date(2026, 3, 1, 9, 30, 0, 123_456_789, time.UTC)

// The suite's price book: every action priced, two versions (the second
// in force from v2From, with fractional prices and multipliers), so that a
// charge's price and version are the suite's own, not the default table's.
const (
	v1Name = "ledgertest-v1"
	v2Name = "ledgertest-v2"
)

var v2From = start.Add(6 * time.Hour)

// unitPrice is the suite's price of one unit of a at table version v
// (v1Name or v2Name) and resolution r, computed here independently of
// the core's pricing: v1 prices action n at n credits (upload_image is
// free) with multipliers 1, 2, 4; v2 adds half a credit to every price
// but upload_image, with multipliers 1, 1.5, 3.
func unitPrice(v string, a credits.Action, r credits.Resolution) credits.Credits {
	base := credits.Credits(a) * credits.Credit
	if a == credits.UploadImage {
		base = 0
	} else if v == v2Name {
		base += credits.Credit / 2
	}
	if a != credits.VideoGeneration {
		return base
	}
	switch {
	case r == credits.Res1080p && v == v1Name:
		return base * 2
	case r == credits.Res1080p:
		return base * 3 / 2
	case r == credits.Res4K && v == v1Name:
		return base * 4
	case r == credits.Res4K:
		return base * 3
	}
	return base
}

var priceBook = sync.OnceValue(func() *credits.PriceBook {
	table := func(v string, from time.Time, mult map[credits.Resolution]string) *credits.PriceTable {
		prices := make(map[credits.Action]credits.Credits)
		for _, a := range credits.Actions() {
			prices[a] = unitPrice(v, a, 0)
		}
		t, err := credits.NewPriceTable(v, from, prices, decimals(mult))
		if err != nil {
			panic(fmt.Sprintf("ledgertest: price table %s: %v", v, err))
		}
		return t
	}
	b, err := credits.NewPriceBook(
		table(v1Name, start.Add(-24*time.Hour), map[credits.Resolution]string{credits.Res720p: "1", credits.Res1080p: "2", credits.Res4K: "4"}),
		table(v2Name, v2From, map[credits.Resolution]string{credits.Res720p: "1", credits.Res1080p: "1.5", credits.Res4K: "3"}),
	)
	if err != nil {
		panic(fmt.Sprintf("ledgertest: price book: %v", err))
	}
	return b
})

// newLedger returns a ledger on b with the suite's clock, prices, hold TTL
// and overdraft (overdraft may be nil).
func newLedger(b credits.Backend, c *Clock, overdraft func(string) credits.Credits) *credits.Ledger {
	return credits.NewLedger(b, credits.Options{Prices: priceBook(), Now: c.Now, Overdraft: overdraft, HoldTTL: holdTTL})
}

const holdTTL = 90 * time.Minute

// entryCmp compares entries the way a reader sees them: nil and empty
// metadata are the same; RequestHash, the core's own fingerprint, is
// compared only where the suite reads back what a backend stored.
var (
	entryCmp = []cmp.Option{cmpopts.EquateEmpty()}
	// The model knows neither request fingerprints nor, since they cover
	// them, chain hashes; checkHistory checks the chain instead.
	entryCmpNoRH = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.IgnoreFields(credits.Entry{}, "RequestHash", "Hash")}
)

// history reads the account's whole history through the ledger, in pages
// of pageSize, checking the cursor on the way.
func history(ctx context.Context, t failer, l *credits.Ledger, account string, q credits.HistoryQuery, pageSize int) ([]credits.Entry, error) {
	t.Helper()
	q.Limit = pageSize
	var all []credits.Entry
	for page := 0; ; page++ {
		p, err := l.History(ctx, account, q)
		if err != nil {
			return all, err
		}
		if len(p.Entries) > pageSize {
			broke(t, rulePages, "account %q: a page of limit %d has %d entries", account, pageSize, len(p.Entries))
		}
		for i := range p.Entries {
			if p.Entries[i].ID <= q.After {
				broke(t, rulePages, "account %q: the page after %d holds entry %d", account, q.After, p.Entries[i].ID)
			}
			if len(all) > 0 && p.Entries[i].ID <= all[len(all)-1].ID {
				broke(t, rulePages, "account %q: entry %d comes after entry %d", account, p.Entries[i].ID, all[len(all)-1].ID)
			}
			all = append(all, p.Entries[i])
		}
		if p.Next == 0 {
			return all, nil
		}
		if len(p.Entries) == 0 || p.Next != p.Entries[len(p.Entries)-1].ID {
			broke(t, rulePages, "account %q: cursor %d does not follow the page's last entry", account, p.Next)
		}
		q.After = p.Next
		if page > 1_000_000 {
			broke(t, rulePages, "account %q: pages never end", account)
		}
	}
}

// describe prints a history for a failure message, one entry a line.
func describe(entries []credits.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "  %d %s amount=%s held=%s after=%s", e.ID, e.Kind, e.Amount, e.Held, e.BalanceAfter)
		if e.Hold != 0 {
			fmt.Fprintf(&b, " hold=%d", e.Hold)
		}
		if e.Source != 0 {
			fmt.Fprintf(&b, " source=%s", e.Source)
		}
		if e.Lot != 0 {
			fmt.Fprintf(&b, " lot=%d", e.Lot)
		}
		if e.Priority != 0 {
			fmt.Fprintf(&b, " priority=%d", e.Priority)
		}
		if !e.ExpiresAt.IsZero() {
			fmt.Fprintf(&b, " expires=%s", e.ExpiresAt.Format(time.RFC3339Nano))
		}
		if !e.Period.IsZero() {
			fmt.Fprintf(&b, " period=%s", e.Period.Format(time.RFC3339Nano))
		}
		if e.Carried != 0 {
			fmt.Fprintf(&b, " carried=%s", e.Carried)
		}
		if e.Subscription != "" {
			fmt.Fprintf(&b, " sub=%q", e.Subscription)
		}
		if e.Claim != "" {
			fmt.Fprintf(&b, " claim=%q", e.Claim)
		}
		if e.Reverses != 0 {
			fmt.Fprintf(&b, " reverses=%d", e.Reverses)
		}
		if e.Spender != "" || e.Kind == credits.KindBudget {
			fmt.Fprintf(&b, " spender=%q", e.Spender)
		}
		if e.MultiCapture {
			b.WriteString(" multi")
		}
		if e.Action != 0 && e.Kind == credits.KindCapture {
			fmt.Fprintf(&b, " action=%s", e.Action)
		}
		if e.Kind == credits.KindBudget {
			fmt.Fprintf(&b, " cap=%s window=%s zone=%q", e.Cap, e.Window, e.Zone)
		}
		if e.Failure != 0 {
			fmt.Fprintf(&b, " failure=%s", e.Failure)
		}
		if e.Key != "" {
			fmt.Fprintf(&b, " key=%q", e.Key)
		}
		fmt.Fprintf(&b, " at %s\n", e.Time.Format("2006-01-02T15:04:05.000000"))
	}
	return b.String()
}

// decimals parses the multipliers of a price table.
func decimals(m map[credits.Resolution]string) map[credits.Resolution]decimal.Decimal {
	out := make(map[credits.Resolution]decimal.Decimal, len(m))
	for r, s := range m {
		out[r] = decimal.RequireFromString(s)
	}
	return out
}
