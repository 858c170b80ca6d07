package ledgertest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// The reference model: what the ledger's rules say an account holds after
// a sequence of requests, written from the design (lots spent in one
// order, holds that draw from lots and give back to them, expiry,
// refunds, an overdraft, idempotency keys) with plain slices, maps and
// integers. It shares no code with the core's AccountState, so that a
// mistake made in one is caught by the other.

// opKind is the operation a request asks for.
type opKind uint8

const (
	opGrant opKind = iota + 1
	opCharge
	opHold
	opCapture
	opRelease
	opRefund
	opClaim
	opBudget
	opStartJob
	opCompleteStep
	opFailJob
	opRetryStep
)

func (k opKind) String() string {
	return [...]string{"?", "grant", "charge", "hold", "capture", "release", "refund", "claim", "budget",
		"start_job", "complete_step", "fail_job", "retry_step"}[k]
}

// request is one operation as a caller sends it. Two requests under one
// idempotency key are "the same request" exactly when they are == (the
// fields the caller gave, not what the ledger derived from them).
type request struct {
	op      opKind
	account string
	key     string // the idempotency key; the claim key for opClaim

	amount     credits.Credits // grant, raw charge, hold, capture, refund (0 = all that is left)
	source     credits.Source
	expiresAt  time.Time // grant: lot expiry; hold: deadline (zero = now + TTL)
	priority   int32
	period     time.Time
	action     credits.Action
	resolution credits.Resolution
	quantity   int64
	version    string // charge: price version ("" = in force now)
	target     int64  // capture, release: the hold; refund: the entry
	note       string // metadata {"note": note}, none if ""
	bigMeta    bool   // metadata over the limit of keys: always invalid input

	spender string // charge, hold, start_job: the spender; budget: its scope
	multi   bool   // hold: MultiCapture
	final   bool   // capture: Final

	// budget: the cap and window, or a removal
	capped credits.Credits
	window credits.WindowUnit
	zone   string // an IANA name, "" for UTC
	sub    string // billing_period: the subscription
	remove bool

	// job runs: key is the job's key
	estimate int                 // start_job: the index of the estimate in jobEstimates
	step     credits.JobStep     // complete_step, retry_step; fail_job: the failure's step
	failure  credits.FailureKind // fail_job
}

func (r request) metadata() map[string]string {
	if r.bigMeta {
		m := make(map[string]string)
		for i := range 17 {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	if r.note == "" {
		return nil
	}
	return map[string]string{"note": r.note}
}

func (r request) String() string {
	s := fmt.Sprintf("%s %q key=%q", r.op, r.account, r.key)
	if r.amount != 0 {
		s += " amount=" + r.amount.String()
	}
	if r.action != 0 {
		s += fmt.Sprintf(" action=%s res=%s qty=%d version=%q", r.action, r.resolution, r.quantity, r.version)
	}
	if r.source != 0 {
		s += " source=" + r.source.String()
	}
	if !r.expiresAt.IsZero() {
		s += " expires=" + r.expiresAt.Format("15:04:05")
	}
	if r.priority != 0 {
		s += fmt.Sprint(" priority=", r.priority)
	}
	if r.target != 0 {
		s += fmt.Sprint(" target=", r.target)
	}
	if r.note != "" {
		s += fmt.Sprintf(" note=%q", r.note)
	}
	if r.spender != "" || r.op == opBudget {
		s += fmt.Sprintf(" spender=%q", r.spender)
	}
	if r.multi {
		s += " multi"
	}
	if r.final {
		s += " final"
	}
	if r.op == opBudget {
		s += fmt.Sprintf(" cap=%s window=%s zone=%q sub=%q remove=%v", r.capped, r.window, r.zone, r.sub, r.remove)
	}
	if r.op >= opStartJob {
		s += fmt.Sprintf(" estimate=%d step=%s failure=%s", r.estimate, r.step, r.failure)
	}
	if r.bigMeta {
		s += " metadata=17 keys"
	}
	return s
}

// outcome is what the model says a request does: the entry it returns, or
// the error it fails with (a sentinel for errors.Is) and, for
// ErrInsufficientCredits, the shortfall.
type outcome struct {
	entry     credits.Entry
	err       error
	shortfall credits.Credits
	over      *credits.BudgetExceededError // ErrBudgetExceeded: the details the error must carry
	replay    bool                         // the entry is the first result of the same request
}

// model is every account of one state-machine case, and the claim keys.
type model struct {
	accounts  map[string]*mAccount
	claims    map[string]string // claim key -> the account that took it
	overdraft map[string]credits.Credits
	ttl       time.Duration
	jobs      map[[2]string]*mJob // (account, key) -> the job run started under it
}

type mLot struct {
	id                  int64
	source              credits.Source
	priority            int32
	expiresAt           time.Time
	remaining, reserved credits.Credits
}

type mDraw struct {
	lot    int64 // 0: the part of the hold the overdraft covers
	amount credits.Credits
}

type mHold struct {
	id       int64
	amount   credits.Credits // what is left of it
	deadline time.Time
	draws    []mDraw
	spender  string
	multi    bool
}

type mKey struct {
	req   request
	entry int64
}

// mAccount is one account: its history as the model predicts it, and
// what that history leaves.
type mAccount struct {
	name     string
	entries  []credits.Entry
	lots     []mLot  // every lot, in spending order
	holds    []mHold // the open holds, oldest first
	debt     credits.Credits
	refunded map[int64]credits.Credits // charge or capture ID -> refunded so far
	keys     map[string]mKey
	claimed  *request        // the free-tier claim that succeeded
	budgets  []mBudget       // by scope
	sums     map[string]mSum // the budgets' running sums, by name
}

func newModel(overdraft map[string]credits.Credits) *model {
	return &model{accounts: make(map[string]*mAccount), claims: make(map[string]string), overdraft: overdraft, ttl: holdTTL, jobs: make(map[[2]string]*mJob)}
}

func (m *model) account(name string) *mAccount {
	a := m.accounts[name]
	if a == nil {
		a = &mAccount{name: name, refunded: make(map[int64]credits.Credits), keys: make(map[string]mKey), sums: make(map[string]mSum)}
		m.accounts[name] = a
	}
	return a
}

func (a *mAccount) clone() *mAccount {
	c := *a
	c.entries = slices.Clone(a.entries)
	c.lots = slices.Clone(a.lots)
	c.holds = make([]mHold, len(a.holds))
	for i, h := range a.holds {
		h.draws = slices.Clone(h.draws)
		c.holds[i] = h
	}
	c.refunded = maps.Clone(a.refunded)
	c.keys = maps.Clone(a.keys)
	c.budgets = slices.Clone(a.budgets)
	c.sums = maps.Clone(a.sums)
	return &c
}

func isExpired(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

// lotFirst is the spending order: higher priority, then sooner expiry (a
// lot that never expires last), then older.
func lotFirst(x, y mLot) int {
	switch {
	case x.priority != y.priority:
		if x.priority > y.priority {
			return -1
		}
		return 1
	case !x.expiresAt.Equal(y.expiresAt):
		if x.expiresAt.IsZero() {
			return 1
		}
		if y.expiresAt.IsZero() {
			return -1
		}
		return x.expiresAt.Compare(y.expiresAt)
	}
	return int(x.id - y.id)
}

func (a *mAccount) balance() credits.Credits {
	var b credits.Credits
	for _, l := range a.lots {
		b += l.remaining + l.reserved
	}
	return b - a.debt
}

func (a *mAccount) held() credits.Credits {
	var h credits.Credits
	for _, x := range a.holds {
		h += x.amount
	}
	return h
}

// spendable is what a charge or hold may take before the overdraft.
func (a *mAccount) spendable(now time.Time) credits.Credits {
	s := -a.debt
	for _, l := range a.lots {
		if !isExpired(l.expiresAt, now) {
			s += l.remaining
		}
	}
	for _, h := range a.holds {
		for _, d := range h.draws {
			if d.lot == 0 {
				s -= d.amount
			}
		}
	}
	return s
}

func (a *mAccount) nextID() int64 { return int64(len(a.entries)) + 1 }

// record appends e (its effect already applied) as the next entry.
func (a *mAccount) record(e credits.Entry, now time.Time) credits.Entry {
	e.Account, e.ID, e.Time, e.BalanceAfter = a.name, a.nextID(), now, a.balance()
	a.entries = append(a.entries, e)
	return e
}

func (a *mAccount) lot(id int64) *mLot {
	for i := range a.lots {
		if a.lots[i].id == id {
			return &a.lots[i]
		}
	}
	return nil
}

// creditsIn is credits of a grant or refund at now coming in as lot l:
// they pay the debt first, and the rest goes into the oldest lot that
// holds credits and that no rule can tell apart from l (the same source,
// priority and expiry, not expired), else makes lot l. It returns the lot
// they joined (an entry's Lot), 0 for a new one.
func (a *mAccount) creditsIn(l mLot, now time.Time) int64 {
	var into *mLot
	if !isExpired(l.expiresAt, now) {
		for i := range a.lots {
			x := &a.lots[i]
			if x.remaining+x.reserved > 0 && x.source == l.source && x.priority == l.priority && x.expiresAt.Equal(l.expiresAt) {
				into = x
				break
			}
		}
	}
	if into == nil {
		a.addCredits(l)
		return 0
	}
	pay := min(a.debt, l.remaining)
	a.debt -= pay
	into.remaining += l.remaining - pay
	return into.id
}

// addCredits pays the debt first and puts the rest in a new lot.
func (a *mAccount) addCredits(l mLot) {
	pay := min(a.debt, l.remaining)
	a.debt -= pay
	l.remaining -= pay
	a.lots = append(a.lots, l)
	slices.SortFunc(a.lots, lotFirst)
}

func (a *mAccount) spend(amount credits.Credits, now time.Time) {
	for i := range a.lots {
		l := &a.lots[i]
		if isExpired(l.expiresAt, now) {
			continue
		}
		take := min(l.remaining, amount)
		l.remaining -= take
		amount -= take
	}
	a.debt += amount
}

func (a *mAccount) reserve(amount credits.Credits, now time.Time) []mDraw {
	var draws []mDraw
	for i := range a.lots {
		l := &a.lots[i]
		if amount == 0 {
			break
		}
		if isExpired(l.expiresAt, now) || l.remaining == 0 {
			continue
		}
		take := min(l.remaining, amount)
		l.remaining -= take
		l.reserved += take
		amount -= take
		draws = append(draws, mDraw{l.id, take})
	}
	if amount > 0 {
		draws = append(draws, mDraw{0, amount})
	}
	return draws
}

// captureSome spends amount of hold id, its draws in order, and leaves
// the hold open with the rest.
func (a *mAccount) captureSome(id int64, amount credits.Credits) {
	h := &a.holds[slices.IndexFunc(a.holds, func(h mHold) bool { return h.id == id })]
	h.amount -= amount
	var left []mDraw
	for _, d := range h.draws {
		take := min(d.amount, amount)
		amount -= take
		d.amount -= take
		if d.lot == 0 {
			a.debt += take
		} else {
			a.lot(d.lot).reserved -= take
		}
		if d.amount > 0 {
			left = append(left, d)
		}
	}
	h.draws = left
}

// closeHold spends capture of hold id, its draws in order, and gives the
// rest back to the lots it came from.
func (a *mAccount) closeHold(id int64, capture credits.Credits) {
	i := slices.IndexFunc(a.holds, func(h mHold) bool { return h.id == id })
	for _, d := range a.holds[i].draws {
		take := min(d.amount, capture)
		capture -= take
		if d.lot == 0 {
			a.debt += take
			continue
		}
		l := a.lot(d.lot)
		l.reserved -= d.amount
		l.remaining += d.amount - take
	}
	a.holds = slices.Delete(a.holds, i, i+1)
}

// subscriptionCredits returns the credits of the account's unexpired
// subscription lots at now: unreserved (what a rollover or a cap counts)
// and reserved by open holds.
func (a *mAccount) subscriptionCredits(now time.Time) (left, reserved credits.Credits) {
	for _, l := range a.lots {
		if l.source == credits.SourceSubscription && !isExpired(l.expiresAt, now) {
			left += l.remaining
			reserved += l.reserved
		}
	}
	return left, reserved
}

// rollover applies a rollover at now: drop credits leave the unexpired
// subscription lots, in spending order; then, if carry, what is left
// unreserved in those lots moves into a new lot of source rollover with
// the given priority and expiry (paying any debt first, like every credit
// coming in). It returns the credits carried. The caller checks that drop
// is at most what those lots hold.
func (a *mAccount) rollover(drop credits.Credits, carry bool, priority int32, expiresAt, now time.Time) (carried credits.Credits) {
	for i := range a.lots {
		l := &a.lots[i]
		if l.source != credits.SourceSubscription || isExpired(l.expiresAt, now) {
			continue
		}
		take := min(l.remaining, drop)
		l.remaining -= take
		drop -= take
		if carry {
			carried += l.remaining
			l.remaining = 0
		}
	}
	if carried > 0 {
		a.addCredits(mLot{id: a.nextID(), source: credits.SourceRollover, priority: priority, expiresAt: expiresAt, remaining: carried})
	}
	return carried
}

// settle records what time alone has done by now, event by event in the
// order of their instants, each entry stamped with the instant it took
// effect: a hold lapses at its deadline and gives its credits back; a
// lot's credits expire at its expiry, or, for credits that came back to it
// after it expired, at the instant they came back (the last entry, or a
// lapse). At one instant holds lapse first (soonest deadline, then
// oldest), then lots expire (in spending order).
func (a *mAccount) settle(now time.Time) []credits.Entry {
	first := len(a.entries)
	var lapsing []mHold
	for _, h := range a.holds {
		if !now.Before(h.deadline) {
			lapsing = append(lapsing, h)
		}
	}
	slices.SortStableFunc(lapsing, func(x, y mHold) int { return x.deadline.Compare(y.deadline) })
	var since time.Time // no credits came back to a lot later than this
	if n := len(a.entries); n > 0 {
		since = a.entries[n-1].Time
	}
	for k := 0; ; k++ {
		type expiry struct {
			lot *mLot
			at  time.Time
		}
		var expiring []expiry
		for i := range a.lots {
			l := &a.lots[i]
			if l.remaining == 0 || l.expiresAt.IsZero() {
				continue
			}
			if (k < len(lapsing) && l.expiresAt.Before(lapsing[k].deadline)) || (k == len(lapsing) && isExpired(l.expiresAt, now)) {
				at := l.expiresAt
				if at.Before(since) {
					at = since
				}
				expiring = append(expiring, expiry{l, at})
			}
		}
		slices.SortStableFunc(expiring, func(x, y expiry) int { return x.at.Compare(y.at) })
		for _, x := range expiring {
			gone := x.lot.remaining
			x.lot.remaining = 0
			a.record(credits.Entry{Kind: credits.KindExpire, Lot: x.lot.id, Amount: -gone}, x.at)
		}
		if k == len(lapsing) {
			break
		}
		h := lapsing[k]
		a.closeHold(h.id, 0)
		a.record(credits.Entry{Kind: credits.KindExpire, Hold: h.id, Held: -h.amount, Spender: h.spender}, h.deadline)
		since = h.deadline
	}
	return slices.Clone(a.entries[first:])
}

// settled returns the account as a read at now sees it.
func (a *mAccount) settled(now time.Time) *mAccount {
	c := a.clone()
	c.settle(now)
	return c
}

// do applies r at now to the model and says what the ledger must answer.
// A request that fails leaves the model as it was.
func (m *model) do(r request, now time.Time) outcome {
	if r.op == opClaim {
		return m.claim(r, now)
	}
	if r.op >= opStartJob {
		panic("ledgertest: job runs go through model.job")
	}
	if invalid(r) {
		return outcome{err: credits.ErrInvalidInput}
	}
	stored := m.account(r.account)
	if r.op == opRefund {
		// The target is looked up before the key.
		if r.target < 1 || r.target > int64(len(stored.entries)) {
			return outcome{err: credits.ErrEntryNotFound}
		}
		t := stored.entries[r.target-1]
		if (t.Kind != credits.KindCharge && t.Kind != credits.KindCapture) || t.Amount >= 0 {
			return outcome{err: credits.ErrNotRefundable}
		}
	}
	if r.op == opCharge && r.version != "" && r.version != v1Name && r.version != v2Name {
		// The price table is looked up before the key.
		return outcome{err: credits.ErrUnknownPriceVersion}
	}
	if k, ok := stored.keys[r.key]; ok {
		if k.req != r {
			return outcome{err: credits.ErrIdempotencyConflict}
		}
		return outcome{entry: stored.entries[k.entry-1], replay: true}
	}
	a := stored.clone()
	a.settle(now)
	e := credits.Entry{Key: r.key, Metadata: r.metadata(), Spender: r.spender}
	switch r.op {
	case opGrant:
		if !r.expiresAt.IsZero() && !r.expiresAt.After(now) {
			return outcome{err: credits.ErrInvalidInput}
		}
		e.Kind, e.Amount, e.Source, e.ExpiresAt, e.Priority, e.Period = credits.KindGrant, r.amount, r.source, r.expiresAt, r.priority, r.period
		e.Lot = a.creditsIn(mLot{id: a.nextID(), source: r.source, priority: r.priority, expiresAt: r.expiresAt, remaining: r.amount}, now)
	case opCharge:
		e.Kind, e.Amount = credits.KindCharge, -r.amount
		if r.action != 0 {
			version := r.version
			if version == "" {
				version = v1Name
				if !now.Before(v2From) {
					version = v2Name
				}
			}
			q := max(r.quantity, 1)
			res := r.resolution
			if r.action == credits.VideoGeneration && res == 0 {
				res = credits.Res720p
			}
			e.Action, e.Resolution, e.Quantity, e.PriceVersion = r.action, res, q, version
			e.Amount = -unitPrice(version, r.action, res) * credits.Credits(q)
		}
		if sf := m.shortfall(a, -e.Amount, now); sf > 0 {
			return outcome{err: credits.ErrInsufficientCredits, shortfall: sf}
		}
		if over := a.overBudget(r.spender, -e.Amount, now); over != nil {
			return outcome{err: credits.ErrBudgetExceeded, over: over}
		}
		a.spend(-e.Amount, now)
		a.addSpent(r.spender, -e.Amount, now)
	case opHold:
		deadline := r.expiresAt
		if deadline.IsZero() {
			deadline = now.Add(m.ttl)
		} else if !deadline.After(now) {
			return outcome{err: credits.ErrInvalidInput}
		}
		e.Kind, e.Held, e.ExpiresAt, e.MultiCapture = credits.KindHold, r.amount, deadline, r.multi
		if sf := m.shortfall(a, r.amount, now); sf > 0 {
			return outcome{err: credits.ErrInsufficientCredits, shortfall: sf}
		}
		if over := a.overBudget(r.spender, r.amount, now); over != nil {
			return outcome{err: credits.ErrBudgetExceeded, over: over}
		}
		a.holds = append(a.holds, mHold{id: a.nextID(), amount: r.amount, deadline: deadline, draws: a.reserve(r.amount, now), spender: r.spender, multi: r.multi})
	case opCapture, opRelease:
		i := slices.IndexFunc(a.holds, func(h mHold) bool { return h.id == r.target })
		if i < 0 {
			if r.target <= int64(len(stored.entries)) && stored.entries[r.target-1].Kind == credits.KindHold {
				return outcome{err: credits.ErrHoldClosed}
			}
			return outcome{err: credits.ErrHoldNotFound}
		}
		h := a.holds[i]
		if r.amount > h.amount {
			return outcome{err: credits.ErrInvalidInput}
		}
		e.Kind, e.Hold, e.Held, e.Amount, e.Spender = credits.KindCapture, h.id, -h.amount, -r.amount, h.spender
		if r.op == opRelease {
			e.Kind = credits.KindRelease
		}
		if r.op == opCapture && h.multi && !r.final && r.amount < h.amount {
			e.Held = -r.amount
			a.captureSome(h.id, r.amount)
		} else {
			a.closeHold(h.id, r.amount)
		}
		if r.op == opCapture {
			a.addSpent(h.spender, r.amount, now)
		}
	case opRefund:
		charged := -stored.entries[r.target-1].Amount
		left := charged - a.refunded[r.target]
		amount := r.amount
		if amount == 0 {
			amount = left
		}
		if left == 0 || amount > left {
			return outcome{err: credits.ErrNotRefundable}
		}
		e.Kind, e.Reverses, e.Amount, e.Spender = credits.KindRefund, r.target, amount, stored.entries[r.target-1].Spender
		a.refunded[r.target] += amount
		e.Lot = a.creditsIn(mLot{id: a.nextID(), source: credits.SourceRefund, remaining: amount}, now)
	case opBudget:
		if r.remove && a.budgetIndex(r.spender) < 0 {
			return outcome{err: credits.ErrInvalidInput}
		}
		e.Kind = credits.KindBudget
		if !r.remove {
			e.Cap, e.Window, e.Zone, e.Subscription = r.capped, r.window, r.zone, r.sub
		}
		a.applyBudget(e, a.nextID(), now)
	}
	e = a.record(e, now)
	a.keys[r.key] = mKey{r, e.ID}
	*stored = *a
	return outcome{entry: e}
}

// shortfall is how much of need the account cannot cover (0 if it can).
func (m *model) shortfall(a *mAccount, need credits.Credits, now time.Time) credits.Credits {
	avail := a.spendable(now) + m.overdraft[a.name]
	if need <= avail {
		return 0
	}
	return need - max(avail, 0)
}

// claim is ClaimFreeTier(r.account, r.key): 30 credits once per account
// and once per claim key.
func (m *model) claim(r request, now time.Time) outcome {
	const freeTierKey = "$free_tier"
	a := m.account(r.account)
	if a.claimed != nil {
		if *a.claimed != r {
			return outcome{err: credits.ErrAlreadyClaimed}
		}
		return outcome{entry: a.entries[a.keys[freeTierKey].entry-1], replay: true}
	}
	if owner, ok := m.claims[r.key]; ok && r.key != "" && owner != r.account {
		return outcome{err: credits.ErrAlreadyClaimed}
	}
	if r.key != "" {
		m.claims[r.key] = r.account
	}
	a.settle(now)
	e := credits.Entry{Kind: credits.KindGrant, Amount: 30 * credits.Credit, Source: credits.SourceFreeTier, Key: freeTierKey, Claim: r.key}
	e.Lot = a.creditsIn(mLot{id: a.nextID(), source: credits.SourceFreeTier, remaining: e.Amount}, now)
	e = a.record(e, now)
	a.keys[freeTierKey] = mKey{r, e.ID}
	claimed := r
	a.claimed = &claimed
	return outcome{entry: e}
}

// sweep is Sweep(account) at now: what is due (nothing, for an account
// with no entries).
func (m *model) sweep(account string, now time.Time) []credits.Entry {
	return m.account(account).settle(now)
}

// invalid reports the requests the ledger refuses before looking at the
// account. The suite only makes invalid requests of these few kinds.
func invalid(r request) bool {
	if r.bigMeta || r.key == "" || strings.ContainsRune(r.spender, '*') && r.op != opBudget {
		return true
	}
	switch r.op {
	case opGrant, opHold:
		return r.amount <= 0
	case opCharge:
		return r.action == 0 && r.amount <= 0
	case opCapture:
		return r.amount <= 0 || r.target <= 0
	case opRelease:
		return r.target <= 0
	case opRefund:
		return r.amount < 0 || r.target <= 0
	}
	return false
}

// totals sums a history by what the entries did: granted (grants and
// refunds, which give credits back), spent (charges and captures) and
// expired (expiry and rollover).
func totals(entries []credits.Entry) (granted, spent, expired credits.Credits) {
	for _, e := range entries {
		switch e.Kind {
		case credits.KindGrant, credits.KindRefund:
			granted += e.Amount
		case credits.KindCharge, credits.KindCapture:
			spent -= e.Amount
		case credits.KindExpire, credits.KindRollover:
			expired -= e.Amount
		}
	}
	return
}
