package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// testStateMachine drives random sequences of operations against b and
// the reference model. Every rapid case gets accounts and claim keys of
// its own (prefixed with the case number), a new clock and a new ledger,
// so one backend serves all cases.
func testStateMachine(t *testing.T, b credits.Backend) {
	cases := 0
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		m := newMachine(b, fmt.Sprintf("sm%d/", cases))
		m.subscribeSome(rt)
		rt.Repeat(m.actions())
	})
}

// machine is one state-machine case: the ledger under test, the model it
// must agree with, and what was sent so far.
type machine struct {
	ctx       context.Context
	backend   credits.Backend
	clock     *Clock
	ledger    *credits.Ledger
	model     *model
	accounts  []string
	claimKeys []string
	sent      []request
	returned  map[string]map[int64]credits.Entry // account -> ID -> the entry an operation returned
	keys      int
	failed    bool                     // the last operation failed
	subs      map[string]*subscription // account -> its subscription, if any
	subCount  int
	jobs      []*machineJob
}

// overdraftLimit is the overdraft of the case's third account.
const overdraftLimit = 5 * credits.Credit

func newMachine(b credits.Backend, prefix string) *machine {
	m := &machine{
		ctx:       context.Background(),
		backend:   b,
		clock:     NewClock(start),
		accounts:  []string{prefix + "alice", prefix + "bøb 🙂", prefix + "客户-overdraft"},
		claimKeys: []string{prefix + "ana@example.com", prefix + "ёжик@例え.jp"},
		returned:  make(map[string]map[int64]credits.Entry),
		subs:      make(map[string]*subscription),
	}
	overdraft := map[string]credits.Credits{m.accounts[2]: overdraftLimit}
	m.model = newModel(overdraft)
	m.ledger = newLedger(b, m.clock, func(account string) credits.Credits { return overdraft[account] })
	return m
}

func (m *machine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"grant":         m.grant,
		"charge_action": m.chargeAction,
		"charge_raw":    m.chargeRaw,
		"hold":          m.hold,
		"capture":       m.capture,
		"release":       m.release,
		"refund":        m.refund,
		"claim":         m.claim,
		"retry":         m.retry,
		"conflict":      m.conflict,
		"clock":         m.advance,
		"sweep":         m.sweep,
		"invalid":       m.invalidInput,
		"subscribe":     m.subscribe,
		"grant_sub":     m.grantSubscriptionCredits,
		"period_end":    m.clockToPeriodEnd,
		"renew":         m.renew,
		"renew_again":   m.renew,
		"change_plan":   m.changePlan,
		"cancel":        m.cancel,
		"renew_past":    m.renewConflict,
		"statement":     m.statement,
		"budget":        m.budget,
		"usage":         m.usage,
		"start_job":     m.startJob,
		"complete_step": m.completeStep,
		"complete_more": m.completeStep,
		"start_another": m.startJob,
		"fail_job":      m.failJob,
		"retry_step":    m.retryStep,
		"resume_job":    m.resumeJob,
		"":              m.check,
	}
}

// Drawing requests.

func (m *machine) account(t *rapid.T) string {
	return rapid.SampledFrom(m.accounts).Draw(t, "account")
}

func (m *machine) key(t *rapid.T) string {
	m.keys++
	return fmt.Sprintf("k%d%s", m.keys, rapid.SampledFrom([]string{"", "-ключ", "-🔑"}).Draw(t, "key"))
}

func amount(t *rapid.T, label string) credits.Credits {
	return amountUpTo(t, label, 12)
}

// amountUpTo draws whole credits up to n, or a fraction of a few credits.
func amountUpTo(t *rapid.T, label string, n int64) credits.Credits {
	if rapid.Bool().Draw(t, label+" whole") {
		return credits.Credits(rapid.Int64Range(1, n).Draw(t, label)) * credits.Credit
	}
	return credits.Credits(rapid.Int64Range(1, 9_999_999).Draw(t, label))
}

func note(t *rapid.T) string {
	return rapid.SampledFrom([]string{"", "", "job 42", "ünïcødé ✓"}).Draw(t, "note")
}

// later is an instant after now, at whole microseconds.
func (m *machine) later(t *rapid.T, label string) time.Time {
	d := time.Duration(rapid.Int64Range(1, 4*3600).Draw(t, label)) * time.Second
	return m.ledger.Now().Add(d)
}

func (m *machine) grant(t *rapid.T) {
	r := request{op: opGrant, account: m.account(t), key: m.key(t), amount: amountUpTo(t, "amount", 60), note: note(t),
		source:   rapid.SampledFrom([]credits.Source{credits.SourceTopUp, credits.SourceSubscription, credits.SourceAdjustment, credits.SourceRefund}).Draw(t, "source"),
		priority: rapid.SampledFrom([]int32{0, 0, 0, 1, 3, -1}).Draw(t, "priority")}
	if rapid.Bool().Draw(t, "expires") {
		r.expiresAt = m.later(t, "expires in")
	}
	if r.source == credits.SourceSubscription {
		now := m.ledger.Now()
		r.period = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	m.step(t, r)
}

func (m *machine) chargeAction(t *rapid.T) {
	r := request{op: opCharge, account: m.account(t), key: m.key(t), note: note(t), spender: m.spender(t),
		action:   rapid.SampledFrom(credits.Actions()).Draw(t, "action"),
		quantity: rapid.Int64Range(0, 2).Draw(t, "quantity"),
		version:  rapid.SampledFrom([]string{"", "", v1Name, v2Name, "no-such-version"}).Draw(t, "version")}
	if r.action == credits.VideoGeneration {
		r.resolution = rapid.SampledFrom([]credits.Resolution{0, credits.Res720p, credits.Res1080p, credits.Res4K}).Draw(t, "resolution")
	}
	m.step(t, r)
}

func (m *machine) chargeRaw(t *rapid.T) {
	m.step(t, request{op: opCharge, account: m.account(t), key: m.key(t), amount: amount(t, "amount"), note: note(t), spender: m.spender(t)})
}

func (m *machine) hold(t *rapid.T) {
	r := request{op: opHold, account: m.account(t), key: m.key(t), amount: amount(t, "amount"), note: note(t),
		spender: m.spender(t), multi: rapid.Bool().Draw(t, "multi-capture")}
	if rapid.Bool().Draw(t, "deadline given") {
		r.expiresAt = m.later(t, "deadline in")
	}
	m.step(t, r)
}

// pick draws the ID of one of the account's entries of the given kinds,
// or now and then of any entry or of none at all.
func (m *machine) pick(t *rapid.T, account string, kinds ...credits.Kind) int64 {
	entries := m.model.account(account).entries
	var ids []int64
	for _, e := range entries {
		if slices.Contains(kinds, e.Kind) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 && rapid.IntRange(0, 4).Draw(t, "odd target") != 0 {
		t.Skip("no target of that kind")
	}
	if len(ids) == 0 || rapid.IntRange(0, 9).Draw(t, "odd target") == 0 {
		return rapid.Int64Range(1, int64(len(entries))+2).Draw(t, "any target")
	}
	return rapid.SampledFrom(ids).Draw(t, "target")
}

func (m *machine) capture(t *rapid.T) {
	account := m.account(t)
	r := request{op: opCapture, account: account, key: m.key(t), note: note(t), target: m.pick(t, account, credits.KindHold),
		final: rapid.IntRange(0, 2).Draw(t, "final") == 0}
	if m.model.jobHold(account, r.target) {
		t.Skip("a job run's hold: its steps capture it")
	}
	held := credits.Credit
	if r.target <= int64(len(m.model.account(account).entries)) {
		held = max(m.model.account(account).entries[r.target-1].Held, 1)
		// What is left of an open hold, if it was captured before.
		for _, h := range m.model.account(account).settled(m.ledger.Now()).holds {
			if h.id == r.target && rapid.Bool().Draw(t, "of what is left") {
				held = h.amount
			}
		}
	}
	switch rapid.IntRange(0, 4).Draw(t, "how much") {
	case 0:
		r.amount = held
	case 1:
		r.amount = held + 1
	default:
		r.amount = credits.Credits(rapid.Int64Range(1, int64(held)).Draw(t, "part"))
	}
	m.step(t, r)
}

func (m *machine) release(t *rapid.T) {
	account := m.account(t)
	m.step(t, request{op: opRelease, account: account, key: m.key(t), note: note(t), target: m.pick(t, account, credits.KindHold)})
}

func (m *machine) refund(t *rapid.T) {
	account := m.account(t)
	r := request{op: opRefund, account: account, key: m.key(t), note: note(t), target: m.pick(t, account, credits.KindCharge, credits.KindCapture)}
	switch rapid.IntRange(0, 3).Draw(t, "how much") {
	case 0:
		r.amount = 0 // all that is left
	case 1:
		// Past what is left of the charge.
		a := m.model.account(account)
		if r.target <= int64(len(a.entries)) {
			r.amount = -a.entries[r.target-1].Amount - a.refunded[r.target] + 1
		}
		r.amount = max(r.amount, 1)
	default:
		r.amount = amount(t, "amount")
	}
	m.step(t, r)
}

func (m *machine) claim(t *rapid.T) {
	m.step(t, request{op: opClaim, account: m.account(t), key: rapid.SampledFrom(append([]string{""}, m.claimKeys...)).Draw(t, "claim key")})
}

// retry sends an earlier request again, unchanged.
func (m *machine) retry(t *rapid.T) {
	if len(m.sent) == 0 {
		t.Skip("nothing sent yet")
	}
	m.step(t, rapid.SampledFrom(m.sent).Draw(t, "retried"))
}

// conflict sends another request under the key of one that succeeded.
func (m *machine) conflict(t *rapid.T) {
	var done []request
	for _, r := range m.sent {
		if r.op == opClaim {
			continue
		}
		if k, ok := m.model.account(r.account).keys[r.key]; ok && k.req == r {
			done = append(done, r)
		}
	}
	if len(done) == 0 {
		t.Skip("no key taken yet")
	}
	r := rapid.SampledFrom(done).Draw(t, "first")
	if rapid.Bool().Draw(t, "other kind") && r.op != opCharge {
		r = request{op: opCharge, account: r.account, key: r.key, amount: 1}
	} else {
		r.note += ", changed"
	}
	m.step(t, r)
}

func (m *machine) advance(t *rapid.T) {
	d := time.Duration(rapid.Int64Range(1, 3*3600).Draw(t, "seconds")) * time.Second
	if rapid.Bool().Draw(t, "odd microseconds") {
		d += time.Duration(rapid.Int64Range(1, 999_999).Draw(t, "microseconds")) * time.Microsecond
	}
	m.clock.Advance(d)
}

func (m *machine) sweep(t *rapid.T) {
	account := m.account(t)
	now := m.ledger.Now()
	before := len(m.model.account(account).entries)
	want := m.model.sweep(account, now)
	got, err := m.ledger.Sweep(m.ctx, account)
	m.failed = false
	if err != nil {
		broke(t, ruleOutcome, "Sweep(%q): %v", account, err)
	}
	if diff := cmp.Diff(want, got, entryCmpNoRH...); diff != "" {
		rule := ruleOutcome
		if before == 0 {
			rule = ruleUnknown
		}
		broke(t, rule, "Sweep(%q) at %s after entry %d: entries differ from the model (-want +got):\n%s", account, now, before, diff)
	}
	for _, e := range got {
		m.remember(e)
	}
}

// invalidInput sends a request the ledger must refuse as invalid input.
func (m *machine) invalidInput(t *rapid.T) {
	account := m.account(t)
	key := m.key(t)
	r := rapid.SampledFrom([]request{
		{op: opGrant, account: account, key: key, amount: 0, source: credits.SourceTopUp},
		{op: opGrant, account: account, key: key, amount: credits.Credit, source: credits.SourceTopUp, bigMeta: true},
		{op: opCharge, account: account, key: key, amount: -credits.Credit},
		{op: opCharge, account: account, key: "", amount: credits.Credit},
		{op: opHold, account: account, key: key, amount: 0},
		{op: opCapture, account: account, key: key, amount: 0, target: 1},
		{op: opRelease, account: account, key: key, target: 0},
		{op: opRefund, account: account, key: key, amount: -1, target: 1},
		{op: opCharge, account: account, key: key, amount: credits.Credit, spender: "key_*"},
		{op: opHold, account: account, key: key, amount: credits.Credit, spender: "*"},
	}).Draw(t, "invalid request")
	m.step(t, r)
}

// send makes the request through the ledger under test.
func (m *machine) send(r request) (credits.Entry, error) {
	md := r.metadata()
	switch r.op {
	case opGrant:
		return m.ledger.Grant(m.ctx, r.account, credits.GrantRequest{Key: r.key, Amount: r.amount, Source: r.source, ExpiresAt: r.expiresAt, Priority: r.priority, Period: r.period, Metadata: md})
	case opCharge:
		return m.ledger.Charge(m.ctx, r.account, credits.ChargeRequest{Key: r.key, Action: r.action, Resolution: r.resolution, Quantity: r.quantity,
			PriceVersion: r.version, Amount: r.amount, Spender: r.spender, Metadata: md})
	case opHold:
		return m.ledger.Hold(m.ctx, r.account, credits.HoldRequest{Key: r.key, Amount: r.amount, Deadline: r.expiresAt, Spender: r.spender, MultiCapture: r.multi, Metadata: md})
	case opCapture:
		return m.ledger.Capture(m.ctx, r.account, credits.CaptureRequest{Key: r.key, Hold: r.target, Amount: r.amount, Final: r.final, Metadata: md})
	case opBudget:
		br := credits.BudgetRequest{Key: r.key, Spender: r.spender, Remove: r.remove, Metadata: md}
		if !r.remove {
			br.Cap, br.Window = r.capped, credits.Window{Unit: r.window, Subscription: r.sub}
			if r.zone != "" {
				br.Window.Location = zoneNamed(r.zone)
			}
		}
		return m.ledger.SetBudget(m.ctx, r.account, br)
	case opRelease:
		return m.ledger.Release(m.ctx, r.account, credits.ReleaseRequest{Key: r.key, Hold: r.target, Metadata: md})
	case opRefund:
		return m.ledger.Refund(m.ctx, r.account, credits.RefundRequest{Key: r.key, Entry: r.target, Amount: r.amount, Metadata: md})
	case opClaim:
		return m.ledger.ClaimFreeTier(m.ctx, r.account, r.key)
	}
	panic("ledgertest: unknown operation")
}

// step sends r and checks the answer against the model's.
func (m *machine) step(t *rapid.T, r request) {
	t.Helper()
	now := m.ledger.Now()
	want := m.model.do(r, now)
	got, err := m.send(r)
	m.sent = append(m.sent, r)
	m.failed = want.err != nil
	if want.err != nil {
		rule := ruleOutcome
		switch want.err {
		case credits.ErrIdempotencyConflict:
			rule = ruleConflict
		case credits.ErrBudgetExceeded:
			rule = ruleBudgetCap
		}
		if err == nil {
			broke(t, rule, "%s at %s: succeeded with entry %d, want an error matching %q\n%s", r, now, got.ID, want.err, m.historyOf(r.account))
		}
		if !errors.Is(err, want.err) {
			broke(t, rule, "%s at %s: got error %q, want one matching %q", r, now, err, want.err)
		}
		var ie *credits.InsufficientCreditsError
		if want.err == credits.ErrInsufficientCredits && (!errors.As(err, &ie) || ie.Shortfall != want.shortfall) {
			broke(t, rule, "%s: got %v, want a *credits.InsufficientCreditsError with shortfall %s", r, err, want.shortfall)
		}
		if want.over != nil {
			checkOver(t, r, err, want.over)
		}
		return
	}
	rule := ruleOutcome
	if want.replay {
		rule = ruleReplay
	}
	if errors.Is(err, credits.ErrBudgetExceeded) {
		rule = ruleBudgetCap
	}
	if err != nil {
		broke(t, rule, "%s at %s: %v\n%s", r, now, err, m.historyOf(r.account))
	}
	if want.replay {
		first, ok := m.returned[r.account][got.ID]
		if !ok {
			broke(t, ruleReplay, "%s: the retry returned entry %d, want the first result, entry %d", r, got.ID, want.entry.ID)
		}
		if diff := cmp.Diff(first, got, entryCmp...); diff != "" {
			broke(t, ruleReplay, "%s: the retry's entry differs from the first result (-first +retry):\n%s", r, diff)
		}
		return
	}
	if diff := cmp.Diff(want.entry, got, entryCmpNoRH...); diff != "" {
		broke(t, rule, "%s at %s: the entry differs from the model's (-want +got):\n%s\nhistory:\n%s", r, now, diff, m.historyOf(r.account))
	}
	m.remember(got)
	m.sawGrant(r, got)
}

func (m *machine) remember(e credits.Entry) {
	if m.returned[e.Account] == nil {
		m.returned[e.Account] = make(map[int64]credits.Entry)
	}
	m.returned[e.Account][e.ID] = e
}

func (m *machine) historyOf(account string) string {
	return "model history of " + account + ":\n" + describe(m.model.account(account).entries)
}

// check verifies every invariant on every account of the case.
func (m *machine) check(t *rapid.T) {
	t.Helper()
	for _, account := range m.accounts {
		m.checkAccount(t, account)
	}
}

func (m *machine) checkAccount(t *rapid.T, account string) {
	t.Helper()
	a := m.model.account(account)
	now := m.ledger.Now()
	hist, err := history(m.ctx, t, m.ledger, account, credits.HistoryQuery{}, 7)
	if len(a.entries) == 0 {
		// No entry yet: every read sees an empty account.
		checkEmptyAccount(m.ctx, t, m.ledger, m.backend, account, hist, err)
		return
	}
	if err != nil {
		broke(t, ruleOutcome, "History(%q): %v", account, err)
	}
	checkHistory(t, account, hist, m.model.overdraft[account])

	// The stored state is what the history folds into.
	rebuilt, err := credits.Rebuild(hist)
	if err != nil {
		broke(t, ruleRebuild, "account %q: %v\nhistory:\n%s", account, err, describe(hist))
	}
	stored, err := m.backend.Load(m.ctx, account)
	if err != nil {
		broke(t, ruleRebuild, "account %q: Load: %v", account, err)
	}
	if !rebuilt.Equal(stored) {
		broke(t, ruleRebuild, "account %q: the stored state (version %d) differs from Rebuild of its %d entries (version %d)",
			account, stored.Version(), len(hist), rebuilt.Version())
	}
	// And Verify, which checks all of this, agrees.
	check, err := m.ledger.Verify(m.ctx, account)
	if err != nil || len(check.Problems) > 0 || check.Entries != int64(len(hist)) || check.Head != hist[len(hist)-1].Hash {
		broke(t, ruleVerify, "account %q: Verify of a sound account found %d entries, head %s, %v, problems: %v", account, check.Entries, check.Head, err, check.Err())
	}

	// The history is the model's, entry by entry.
	if diff := cmp.Diff(a.entries, hist, entryCmpNoRH...); diff != "" {
		rule := ruleHistoryIsModel
		for i := range min(len(a.entries), len(hist)) {
			if !cmp.Equal(a.entries[i], hist[i], entryCmpNoRH...) {
				rule = ruleForDiff(a.entries[i], hist[i], rule)
				break
			}
		}
		if m.failed && len(hist) != len(a.entries) {
			rule = ruleFailedChangesNone
		}
		broke(t, rule, "account %q: history differs from the model's (-model +history):\n%s", account, diff)
	}
	for _, e := range hist {
		if r, ok := m.returned[account][e.ID]; ok {
			if diff := cmp.Diff(r, e, entryCmp...); diff != "" {
				broke(t, ruleReadBack, "account %q, entry %d: (-returned +read back):\n%s", account, e.ID, diff)
			}
		}
	}
	wg, ws, we := totals(a.entries)
	hg, hs, he := totals(hist)
	if wg != hg || ws != hs || we != he {
		broke(t, ruleConservation, "account %q: history has granted %s, spent %s, expired %s; the operations made %s, %s, %s", account, hg, hs, he, wg, ws, we)
	}

	// The balance a read sees, expirations due by now included.
	b, err := m.ledger.Balance(m.ctx, account)
	if err != nil {
		broke(t, ruleBalanceIsModel, "Balance(%q): %v", account, err)
	}
	s := a.settled(now)
	if b.Total != s.balance() || b.Held != s.held() || b.Available != b.Total-b.Held || b.Version != int64(len(hist)) {
		rule := ruleBalanceIsModel
		if b.Total != s.balance() && b.Held == s.held() && b.Version == int64(len(hist)) {
			// The history and the stored state are the model's (checked
			// above): what differs is what expires by now, so the lots
			// hold other credits than spending them in order leaves.
			rule = ruleSpendFirst
		}
		broke(t, rule, "Balance(%q) at %s = total %s, held %s, available %s, version %d; want %s, %s, %s, %d\nhistory:\n%s",
			account, now, b.Total, b.Held, b.Available, b.Version, s.balance(), s.held(), s.balance()-s.held(), len(hist), describe(hist))
	}
	if b.Available < -m.model.overdraft[account] {
		broke(t, ruleNoOverdraw, "Balance(%q): available %s with an overdraft of %s", account, b.Available, m.model.overdraft[account])
	}

	if s := m.subs[account]; s != nil {
		m.checkSubscription(t, s, hist)
	}
	m.checkStatements(t, account, b.Total)
}

// ruleForDiff names the rule an entry that differs from the model's
// breaks. Where either is the expiration of a lot, the lots were not spent
// in their order (one kept credits the model had spent, or the other way
// round), so credits that could have been spent first expired, or will;
// anything else breaks fallback.
func ruleForDiff(want, got credits.Entry, fallback string) string {
	if isLotExpiry(want) || isLotExpiry(got) {
		return ruleSpendFirst
	}
	return fallback
}

func isLotExpiry(e credits.Entry) bool { return e.Kind == credits.KindExpire && e.Lot != 0 }

// checkHistory checks the invariants that a history must keep by itself,
// whatever the operations were.
func checkHistory(t failer, account string, hist []credits.Entry, overdraft credits.Credits) {
	t.Helper()
	var balance, held credits.Credits
	keys := make(map[string]int64)
	byID := make(map[int64]*credits.Entry)
	refunded := make(map[int64]credits.Credits)
	closed := make(map[int64]int64)         // hold -> the entry that closed it
	left := make(map[int64]credits.Credits) // open hold -> what is left of it
	var prev credits.Hash
	for i := range hist {
		e := &hist[i]
		if e.ID != int64(i)+1 {
			broke(t, rulePages, "account %q: entry %d is at position %d of the history\n%s", account, e.ID, i+1, describe(hist))
		}
		if want := credits.HashEntry(prev, e); e.Hash != want {
			broke(t, ruleChain, "account %q: entry %d has hash %s, its fields and the entry before it hash to %s\n%s", account, e.ID, e.Hash, want, describe(hist))
		}
		prev = e.Hash
		if e.Account != account {
			broke(t, ruleReadBack, "account %q: entry %d says account %q", account, e.ID, e.Account)
		}
		byID[e.ID] = e
		balance += e.Amount
		held += e.Held
		if e.BalanceAfter != balance {
			broke(t, ruleBalanceIsSum, "account %q: entry %d says balance %s, the history adds up to %s\n%s", account, e.ID, e.BalanceAfter, balance, describe(hist))
		}
		if balance-held < -overdraft && (e.Kind == credits.KindCharge || e.Kind == credits.KindHold) {
			broke(t, ruleNoOverdraw, "account %q: entry %d leaves %s available with an overdraft of %s\n%s", account, e.ID, balance-held, overdraft, describe(hist))
		}
		if e.Key != "" {
			if first, ok := keys[e.Key]; ok {
				broke(t, ruleKeyOnce, "account %q: key %q made entries %d and %d\n%s", account, e.Key, first, e.ID, describe(hist))
			}
			keys[e.Key] = e.ID
		}
		switch e.Kind {
		case credits.KindRollover:
			if e.Amount > 0 {
				broke(t, ruleRolloverNoCredits, "account %q: rollover %d adds %s\n%s", account, e.ID, e.Amount, describe(hist))
			}
		case credits.KindRefund:
			target := byID[e.Reverses]
			refunded[e.Reverses] += e.Amount
			if target == nil || (target.Kind != credits.KindCharge && target.Kind != credits.KindCapture) || refunded[e.Reverses] > -target.Amount {
				broke(t, ruleRefundBound, "account %q: refund %d brings the refunds of entry %d to %s\n%s", account, e.ID, e.Reverses, refunded[e.Reverses], describe(hist))
			}
			if e.Spender != target.Spender {
				broke(t, ruleSpenderCarried, "account %q: refund %d has spender %q, the entry it refunds %q", account, e.ID, e.Spender, target.Spender)
			}
		case credits.KindHold:
			left[e.ID] = e.Held
		case credits.KindCapture, credits.KindRelease, credits.KindExpire:
			if e.Hold == 0 {
				break
			}
			h := byID[e.Hold]
			if h == nil || h.Kind != credits.KindHold {
				broke(t, ruleCaptureBound, "account %q: %s %d closes %d, which is not an earlier hold", account, e.Kind, e.ID, e.Hold)
			}
			if first, ok := closed[e.Hold]; ok {
				broke(t, ruleCaptureBound, "account %q: hold %d closed by entry %d, then %s %d\n%s", account, e.Hold, first, e.Kind, e.ID, describe(hist))
			}
			// A capture takes at most what it frees of the hold, and
			// frees at most what is left; a release or a lapse, and any
			// capture of a hold that is not multi-capture, frees all that
			// is left.
			rest := left[e.Hold]
			if -e.Amount > -e.Held || -e.Held > rest || ((e.Kind != credits.KindCapture || !h.MultiCapture) && -e.Held != rest) {
				broke(t, ruleCaptureBound, "account %q: %s %d takes %s and frees %s of hold %d, of which %s was left (it held %s)\n%s",
					account, e.Kind, e.ID, -e.Amount, -e.Held, e.Hold, rest, h.Held, describe(hist))
			}
			if left[e.Hold] = rest + e.Held; left[e.Hold] == 0 {
				closed[e.Hold] = e.ID
			}
			if e.Spender != h.Spender {
				broke(t, ruleSpenderCarried, "account %q: %s %d of hold %d has spender %q, the hold %q", account, e.Kind, e.ID, e.Hold, e.Spender, h.Spender)
			}
		}
	}
	granted, spent, expired := totals(hist)
	if granted != spent+expired+balance {
		broke(t, ruleConservation, "account %q: granted %s != spent %s + expired %s + balance %s", account, granted, spent, expired, balance)
	}
}
