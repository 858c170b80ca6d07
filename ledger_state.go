package credits

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// AccountState is the current state of one account, folded from its
// entries: the lots its credits sit in, its open holds and its overdraft
// debt. It is what a [Backend] loads and stores next to the entries, so no
// operation has to re-read the account's history.
//
// A Backend treats it as opaque: it stores the bytes of
// [AccountState.MarshalBinary] and restores them with
// [AccountState.UnmarshalBinary], and uses [AccountState.Version] if it
// wants optimistic concurrency. Only the core reads or changes what is
// inside. The zero value is the state of an account with no entries.
//
// An AccountState is not safe for concurrent use.
type AccountState struct {
	lastID    int64
	lastTime  time.Time // the time of the last entry: entry times never go back
	debt      Credits   // overdraft in use: credits spent beyond every lot (>= 0)
	lots      []lot     // in spending order (see lotBefore)
	holds     []hold    // open holds, oldest first
	refunded  map[int64]Credits
	subs      []subMark // the last period granted of each subscription, by ID (few: a plain slice)
	claimedBy string    // on a claim record ($claim:KEY): the account that holds the key
	lowAt     Credits   // the threshold of the last low_balance notice, until available credits are back at it; 0: armed
	topUps    topUps    // what AutoTopUp did
	budgets   []budget  // the budgets in force, by scope (see budget.go)
	spends    []spend   // the running sums of the budgets' current windows, by name
	lastHash  Hash      // the chain hash of the last entry (zero before the chain, see chain.go)
	prevHash  Hash      // the chain hash of the entry before it

	// stale marks a state decoded from an older format, which lacks what
	// the core has folded since: the Ledger rebuilds it from the history
	// before using it (see Ledger.update).
	stale bool

	// Derived from the lots and holds, never stored: kept up to date at
	// every change of them (see derive and checkTotals), so that the
	// balance, what is spendable and whether a lot is due are O(1).
	remaining Credits   // the sum of the lots' Remaining
	reserved  Credits   // the sum of the lots' Reserved
	heldSum   Credits   // the sum of the open holds' Amount
	uncovered Credits   // the sum of the open holds' draws from lot 0 (the overdraft)
	nextExp   time.Time // the soonest ExpiresAt of a lot with Remaining > 0 (zero: none expires)
	expStale  bool      // a lot expiring at nextExp ran out: nextExp must be found again
	emptied   bool      // a lot may hold nothing any more: prune has work
}

// topUps is what an AutoTopUp did on the account: how many top-ups it
// granted in the calendar month (UTC) of the last one, and how many
// times in a row it failed to charge since a top-up of any kind.
type topUps struct {
	Month    int `json:"month,omitempty"` // year*100 + month of the last auto top-up
	Count    int `json:"count,omitempty"` // auto top-ups in that month
	Failures int `json:"failures,omitempty"`
}

// subMark is the last period granted of one subscription: a renewal must
// grant the period that starts where it ends.
type subMark struct {
	ID    string    `json:"id"` // the subscription's
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"` // zero for a grant written before grants recorded their period's end
	Entry int64     `json:"entry"`        // the grant's entry
}

// lot is the credits of one grant (or refund, or rollover). Remaining is
// spendable; Reserved is drawn by open holds and comes back to this lot if
// a hold is released.
type lot struct {
	ID        int64     `json:"id"`
	Source    Source    `json:"source"`
	Priority  int32     `json:"priority,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Remaining Credits   `json:"remaining"`
	Reserved  Credits   `json:"reserved,omitempty"`
	Warned    bool      `json:"warned,omitempty"` // an expiring notice was written for it
}

// hold is an open hold: the credits it still reserves, lot by lot (a
// multi-capture hold's captures so far are gone from Amount and Draws). A
// draw from lot 0 is the part of the hold that the overdraft covers: it
// is debt only once captured.
type hold struct {
	ID       int64     `json:"id"`
	Amount   Credits   `json:"amount"`
	Deadline time.Time `json:"deadline"`
	Draws    []draw    `json:"draws"`
	Spender  string    `json:"spender,omitempty"`
	Multi    bool      `json:"multi,omitempty"` // a multi-capture hold
}

type draw struct {
	Lot    int64   `json:"lot"`
	Amount Credits `json:"amount"`
}

// writeTime is the time a write at now records: now, or the time of the
// last entry if the clock reads earlier (another instance's clock, or a
// write that read the clock before a concurrent one committed). So an
// account's entries are in time order as well as ID order.
func (s *AccountState) writeTime(now time.Time) time.Time {
	if now.Before(s.lastTime) {
		return s.lastTime
	}
	return now
}

// Version is the ID of the account's last entry: 0 for a new account. It
// grows by one for every entry appended.
func (s *AccountState) Version() int64 { return s.lastID }

// balance is what the account holds: its lots, held or not, less its debt.
func (s *AccountState) balance() Credits { return s.remaining + s.reserved - s.debt }

// held is the sum of the open holds.
func (s *AccountState) held() Credits { return s.heldSum }

// unfunded is the part of the open holds that the overdraft covers.
func (s *AccountState) unfunded() Credits { return s.uncovered }

// spendable is what a charge or hold may take without any overdraft:
// the unexpired, unreserved credits of every lot, less debt and the
// overdraft-covered parts of open holds. The state must be settled at now.
func (s *AccountState) spendable(now time.Time) Credits {
	sp := s.remaining
	if expired(s.nextExp, now) {
		// Some lot's credits are past their expiry (a state not settled
		// at now): count the lots.
		sp = 0
		for i := range s.lots {
			if !expired(s.lots[i].ExpiresAt, now) {
				sp += s.lots[i].Remaining
			}
		}
	}
	return sp - s.debt - s.unfunded()
}

// derive works out the totals and the soonest expiry from the lots and
// holds: for a state decoded or built without apply.
func (s *AccountState) derive() {
	s.remaining, s.reserved, s.heldSum, s.uncovered = 0, 0, 0, 0
	for i := range s.lots {
		s.remaining += s.lots[i].Remaining
		s.reserved += s.lots[i].Reserved
	}
	for i := range s.holds {
		s.heldSum += s.holds[i].Amount
		for _, d := range s.holds[i].Draws {
			if d.Lot == 0 {
				s.uncovered += d.Amount
			}
		}
	}
	s.findNextExp()
	s.emptied = true
}

// findNextExp finds the soonest expiry of a lot with credits left.
func (s *AccountState) findNextExp() {
	s.nextExp, s.expStale = time.Time{}, false
	for i := range s.lots {
		if l := &s.lots[i]; l.Remaining > 0 && !l.ExpiresAt.IsZero() && (s.nextExp.IsZero() || l.ExpiresAt.Before(s.nextExp)) {
			s.nextExp = l.ExpiresAt
		}
	}
}

// checkTotals reports how the kept totals differ from the lots and holds
// they sum, if they do ("" if not): a debugging aid for tests.
func (s *AccountState) checkTotals() string {
	c := *s
	c.derive()
	if c.remaining != s.remaining || c.reserved != s.reserved || c.heldSum != s.heldSum || c.uncovered != s.uncovered ||
		(!s.expStale && !c.nextExp.Equal(s.nextExp)) {
		return fmt.Sprintf("kept remaining %s reserved %s held %s uncovered %s next expiry %v; the lots and holds add up to %s, %s, %s, %s, %v",
			s.remaining, s.reserved, s.heldSum, s.uncovered, s.nextExp, c.remaining, c.reserved, c.heldSum, c.uncovered, c.nextExp)
	}
	return ""
}

// addRemaining adds amount (negative: takes) to lot l's Remaining, and
// keeps the totals and the soonest expiry.
func (s *AccountState) addRemaining(l *lot, amount Credits) {
	l.Remaining += amount
	s.remaining += amount
	switch {
	case amount > 0 && !l.ExpiresAt.IsZero() && (s.nextExp.IsZero() || l.ExpiresAt.Before(s.nextExp)):
		s.nextExp = l.ExpiresAt
	case amount < 0 && l.Remaining == 0:
		s.emptied = true
		if !l.ExpiresAt.IsZero() && l.ExpiresAt.Equal(s.nextExp) {
			s.expStale = true
		}
	}
}

// addReserved adds amount (negative: takes) to lot l's Reserved.
func (s *AccountState) addReserved(l *lot, amount Credits) {
	l.Reserved += amount
	s.reserved += amount
	if l.Reserved == 0 {
		s.emptied = true
	}
}

func expired(expiresAt, now time.Time) bool {
	return !expiresAt.IsZero() && !now.Before(expiresAt)
}

// lotBefore is the one order in which lots pay, for charges, holds,
// expiry and rollover alike: higher priority first, then the soonest
// expiry (a lot that never expires comes last), then the oldest, which is
// the lowest ID.
func lotBefore(a, b *lot) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.ExpiresAt.Equal(b.ExpiresAt) {
		switch {
		case a.ExpiresAt.IsZero():
			return false
		case b.ExpiresAt.IsZero():
			return true
		default:
			return a.ExpiresAt.Before(b.ExpiresAt)
		}
	}
	return a.ID < b.ID
}

func (s *AccountState) lotIndex(id int64) int {
	for i := range s.lots {
		if s.lots[i].ID == id {
			return i
		}
	}
	return -1
}

func (s *AccountState) subIndex(id string) int {
	for i := range s.subs {
		if s.subs[i].ID == id {
			return i
		}
	}
	return -1
}

func (s *AccountState) holdIndex(id int64) int {
	for i := range s.holds {
		if s.holds[i].ID == id {
			return i
		}
	}
	return -1
}

// addCredits puts credits into the account: they pay the debt first, and
// the rest goes into the lot into (see Entry.Lot), if it is one of the
// account's, else becomes a new lot l.
func (s *AccountState) addCredits(l lot, into int64) {
	pay := min(s.debt, l.Remaining)
	s.debt -= pay
	l.Remaining -= pay
	if l.Remaining == 0 {
		return
	}
	if into != 0 {
		if j := s.findLot(lot{ID: into, Priority: l.Priority, ExpiresAt: l.ExpiresAt}); j >= 0 {
			s.addRemaining(&s.lots[j], l.Remaining)
			return
		}
	}
	i := s.lotPos(&l)
	amount := l.Remaining
	l.Remaining = 0
	s.lots = slices.Insert(s.lots, i, l)
	s.addRemaining(&s.lots[i], amount)
}

// lotPos is where lot l goes in spending order: the number of lots before it.
func (s *AccountState) lotPos(l *lot) int {
	i, _ := slices.BinarySearchFunc(s.lots, l, func(x lot, y *lot) int {
		if lotBefore(&x, y) {
			return -1
		}
		return 1
	})
	return i
}

// findLot is the index of lot k.ID, found by its place in spending order
// (k's Priority and ExpiresAt), else by a scan; -1 if there is none.
func (s *AccountState) findLot(k lot) int {
	if i := s.lotPos(&k); i < len(s.lots) && s.lots[i].ID == k.ID {
		return i
	}
	return s.lotIndex(k.ID)
}

// mergeTarget is the lot that credits of a grant or refund at now, of
// source src, priority and expiry, go into, recorded in the entry's Lot:
// the oldest lot that no rule can tell apart from a new one (the same
// source, priority and expiry, not expired, and not warned of: an
// expiring notice is once per lot). 0: they make a new lot.
func (s *AccountState) mergeTarget(src Source, priority int32, expiresAt, now time.Time) int64 {
	if expired(expiresAt, now) {
		return 0
	}
	k := lot{Priority: priority, ExpiresAt: expiresAt} // ID 0: before every lot of its kind
	for i := s.lotPos(&k); i < len(s.lots); i++ {
		l := &s.lots[i]
		if l.Priority != priority || !l.ExpiresAt.Equal(expiresAt) {
			break
		}
		if l.Source == src && !l.Warned {
			return l.ID
		}
	}
	return 0
}

// spend takes amount from the unexpired lots in spending order; what the
// lots cannot cover becomes debt.
func (s *AccountState) spend(amount Credits, now time.Time) {
	for i := range s.lots {
		if amount == 0 {
			break
		}
		l := &s.lots[i]
		if expired(l.ExpiresAt, now) {
			continue
		}
		take := min(l.Remaining, amount)
		s.addRemaining(l, -take)
		amount -= take
	}
	s.debt += amount
	s.prune()
}

// reserve moves amount from the unexpired lots into a hold's draws, in
// spending order; what the lots cannot cover is drawn from lot 0, the
// overdraft.
func (s *AccountState) reserve(amount Credits, now time.Time) []draw {
	var draws []draw
	for i := range s.lots {
		if amount == 0 {
			break
		}
		l := &s.lots[i]
		if expired(l.ExpiresAt, now) || l.Remaining == 0 {
			continue
		}
		take := min(l.Remaining, amount)
		s.addRemaining(l, -take)
		s.addReserved(l, take)
		amount -= take
		draws = append(draws, draw{Lot: l.ID, Amount: take})
	}
	if amount > 0 {
		draws = append(draws, draw{Lot: 0, Amount: amount})
		s.uncovered += amount
	}
	s.fixNextExp()
	return draws
}

// captureSome captures amount of hold i, in the order of its draws, and
// leaves the hold open with the rest (a multi-capture hold's capture that
// is not its last). The part the overdraft covered becomes debt.
func (s *AccountState) captureSome(i int, amount Credits) {
	h := &s.holds[i]
	h.Amount -= amount
	s.heldSum -= amount
	draws := h.Draws[:0]
	for _, d := range h.Draws {
		take := min(d.Amount, amount)
		amount -= take
		d.Amount -= take
		if d.Lot == 0 {
			s.debt += take
			s.uncovered -= take
		} else if j := s.lotIndex(d.Lot); j >= 0 {
			s.addReserved(&s.lots[j], -take)
		}
		if d.Amount > 0 {
			draws = append(draws, d)
		}
	}
	h.Draws = draws
	s.prune()
}

// closeHold captures amount of hold i, in the order of its draws, and gives
// the rest back to the lots it was drawn from. The part the overdraft
// covered becomes debt only as far as it is captured.
func (s *AccountState) closeHold(i int, capture Credits) {
	if i < 0 {
		return // only a corrupt history closes a hold that is not open
	}
	h := s.holds[i]
	s.heldSum -= h.Amount
	for _, d := range h.Draws {
		take := min(d.Amount, capture)
		capture -= take
		if d.Lot == 0 {
			s.debt += take
			s.uncovered -= d.Amount
			continue
		}
		if j := s.lotIndex(d.Lot); j >= 0 {
			s.addReserved(&s.lots[j], -d.Amount)
			s.addRemaining(&s.lots[j], d.Amount-take)
		}
	}
	s.holds = slices.Delete(s.holds, i, i+1)
	s.prune()
}

// prune drops lots that hold nothing any more, and finds the soonest
// expiry again if the lot that had it ran out.
func (s *AccountState) prune() {
	if s.emptied {
		s.lots = slices.DeleteFunc(s.lots, func(l lot) bool { return l.Remaining == 0 && l.Reserved == 0 })
		s.emptied = false
	}
	s.fixNextExp()
}

// fixNextExp finds the soonest expiry again if it may have changed.
func (s *AccountState) fixNextExp() {
	if s.expStale {
		s.findNextExp()
	}
}

// due lists the entries that time alone has made necessary by now, in the
// order they took effect, each stamped (its Time) with the instant it did:
// a hold lapses at its deadline, giving its credits back to the lots it
// drew from; a lot's unreserved credits expire at its ExpiresAt, or, if
// they came back to the lot after it expired, when they came back (at the
// last entry, or when a hold lapsed). At one instant holds lapse first
// (soonest deadline, then oldest), then lots expire (in spending order).
// Credits reserved by an open hold do not expire until they come back. The
// entries have no account, ID or balance yet.
func (s *AccountState) due(now time.Time) []Entry {
	var lapsing []hold // the holds that lapse by now, in the order they do
	for _, h := range s.holds {
		if !now.Before(h.Deadline) {
			lapsing = append(lapsing, h)
		}
	}
	slices.SortStableFunc(lapsing, func(a, b hold) int { return a.Deadline.Compare(b.Deadline) })
	c := s
	if len(lapsing) > 0 {
		c = s.Clone() // a lapse moves credits between lots: work it out on a copy
	}
	var out []Entry
	since := s.lastTime // credits can have come back to an expired lot no later than this
	for k := 0; ; k++ {
		// The lots that expire before the next lapse, or by now.
		var expiring []Entry
		for i := range c.lots {
			l := &c.lots[i]
			if l.Remaining == 0 || l.ExpiresAt.IsZero() {
				continue
			}
			if (k < len(lapsing) && l.ExpiresAt.Before(lapsing[k].Deadline)) || (k == len(lapsing) && expired(l.ExpiresAt, now)) {
				at := l.ExpiresAt
				if at.Before(since) {
					at = since
				}
				expiring = append(expiring, Entry{Kind: KindExpire, Lot: l.ID, Amount: -l.Remaining, Time: at})
			}
		}
		slices.SortStableFunc(expiring, func(a, b Entry) int { return a.Time.Compare(b.Time) })
		out = append(out, expiring...)
		if k == len(lapsing) {
			return out
		}
		for i := range expiring { // c is a copy here
			l := &c.lots[c.lotIndex(expiring[i].Lot)]
			c.addRemaining(l, -l.Remaining)
		}
		c.fixNextExp()
		h := lapsing[k]
		out = append(out, Entry{Kind: KindExpire, Hold: h.ID, Held: -h.Amount, Spender: h.Spender, Time: h.Deadline})
		c.closeHold(c.holdIndex(h.ID), 0)
		since = h.Deadline
	}
}

// hasDue reports cheaply whether due(now) would list anything.
func (s *AccountState) hasDue(now time.Time) bool {
	for i := range s.holds {
		if !now.Before(s.holds[i].Deadline) {
			return true
		}
	}
	return expired(s.nextExp, now)
}

// apply folds one entry into the state. It is the only place an entry's
// effect is defined: operations apply the entries they decide on, and
// [Rebuild] applies a stored history to get the same state back. It
// trusts the entry (the decision that made it checked it) and never fails.
func (s *AccountState) apply(e *Entry) {
	s.lastID = e.ID
	s.prevHash, s.lastHash = s.lastHash, e.Hash
	if e.Time.After(s.lastTime) {
		s.lastTime = e.Time
	}
	switch e.Kind {
	case KindGrant:
		s.addCredits(lot{ID: e.ID, Source: e.Source, Priority: e.Priority, ExpiresAt: e.ExpiresAt, Remaining: e.Amount}, e.Lot)
		switch e.Source {
		case SourceAutoTopUp:
			if m := monthOf(e.Time); m == s.topUps.Month {
				s.topUps.Count++
			} else {
				s.topUps.Month, s.topUps.Count = m, 1
			}
			s.topUps.Failures = 0
		case SourceTopUp:
			s.topUps.Failures = 0
		}
		if e.Subscription != "" && !e.Period.IsZero() {
			m := subMark{ID: e.Subscription, Start: e.Period, End: e.PeriodEnd, Entry: e.ID}
			if i := s.subIndex(e.Subscription); i >= 0 {
				s.subs[i] = m
			} else {
				s.subs = append(s.subs, m)
			}
		}
	case KindRefund:
		s.addCredits(lot{ID: e.ID, Source: SourceRefund, Remaining: e.Amount}, e.Lot)
		if s.refunded == nil {
			s.refunded = make(map[int64]Credits)
		}
		s.refunded[e.Reverses] += e.Amount
	case KindCharge:
		s.spend(-e.Amount, e.Time)
		if e.Spender != "" {
			s.addSpent(e.Spender, -e.Amount, e.Time)
		}
	case KindHold:
		s.holds = append(s.holds, hold{ID: e.ID, Amount: e.Held, Deadline: e.ExpiresAt, Draws: s.reserve(e.Held, e.Time),
			Spender: e.Spender, Multi: e.MultiCapture})
		s.heldSum += e.Held
	case KindCapture:
		// A capture frees -e.Held of its hold: all that is left closes
		// it; less (a multi-capture hold's capture that is not its last)
		// leaves the rest held.
		if i := s.holdIndex(e.Hold); i >= 0 && -e.Held < s.holds[i].Amount {
			s.captureSome(i, -e.Amount)
		} else {
			s.closeHold(i, -e.Amount)
		}
		if e.Spender != "" {
			s.addSpent(e.Spender, -e.Amount, e.Time)
		}
	case KindRelease:
		s.closeHold(s.holdIndex(e.Hold), 0)
	case KindExpire:
		if e.Hold != 0 {
			s.closeHold(s.holdIndex(e.Hold), 0)
		} else if i := s.lotIndex(e.Lot); i >= 0 {
			s.addRemaining(&s.lots[i], e.Amount)
			s.prune()
		}
	case KindRollover:
		s.rollover(e)
	case KindClaim:
		// A claim record says which account holds a free-tier claim key;
		// it moves no credits.
		s.claimedBy = e.Claim
	case KindBudget:
		s.applyBudget(e)
	case KindNotice:
		switch e.Notice {
		case NoticeLowBalance:
			s.lowAt = e.Value
		case NoticeExpiring:
			if i := s.lotIndex(e.Lot); i >= 0 {
				s.lots[i].Warned = true
			}
		case NoticeTopUpFailed:
			s.topUps.Failures++
		}
	}
	// A low-balance notice is armed again once the available credits are
	// back at its threshold.
	if s.lowAt > 0 && e.Kind != KindNotice && s.balance()-s.held() >= s.lowAt {
		s.lowAt = 0
	}
}

// Clone returns a deep copy of s.
func (s *AccountState) Clone() *AccountState {
	c := &AccountState{lastID: s.lastID, lastTime: s.lastTime, debt: s.debt, lots: slices.Clone(s.lots), refunded: maps.Clone(s.refunded),
		subs: slices.Clone(s.subs), claimedBy: s.claimedBy, lowAt: s.lowAt, topUps: s.topUps,
		budgets: slices.Clone(s.budgets), spends: slices.Clone(s.spends), lastHash: s.lastHash, prevHash: s.prevHash, stale: s.stale,
		remaining: s.remaining, reserved: s.reserved, heldSum: s.heldSum, uncovered: s.uncovered, nextExp: s.nextExp, expStale: s.expStale, emptied: s.emptied}
	if s.holds != nil {
		c.holds = make([]hold, len(s.holds))
		for i, h := range s.holds {
			h.Draws = slices.Clone(h.Draws)
			c.holds[i] = h
		}
	}
	return c
}

// Rebuild folds a history, oldest entry first, into the state it leaves,
// checking on the way that the IDs run 1, 2, 3... and that every entry's
// BalanceAfter is what the history adds up to. A backend's stored state
// must always equal Rebuild of its entries; the conformance suite checks it.
func Rebuild(entries []Entry) (*AccountState, error) {
	s := &AccountState{}
	for i := range entries {
		e := &entries[i]
		if e.ID != s.lastID+1 {
			return nil, fmt.Errorf("credits: rebuild: entry %d follows entry %d", e.ID, s.lastID)
		}
		s.apply(e)
		if b := s.balance(); b != e.BalanceAfter {
			return nil, fmt.Errorf("credits: rebuild: entry %d says balance %s, history adds up to %s", e.ID, e.BalanceAfter, b)
		}
	}
	return s, nil
}

// Equal reports whether s and o hold the same lots, holds, debt, refunds,
// subscriptions, claim and budgets at the same version. Their kept totals
// must be the same too: a state decoded works them out from its lots and
// holds, one folded keeps them entry by entry, so comparing the two (as
// the conformance suite does) catches totals that drift.
func (s *AccountState) Equal(o *AccountState) bool {
	if s.remaining != o.remaining || s.reserved != o.reserved || s.heldSum != o.heldSum || s.uncovered != o.uncovered ||
		(!s.expStale && !o.expStale && !s.nextExp.Equal(o.nextExp)) {
		return false
	}
	if s.lastID != o.lastID || !s.lastTime.Equal(o.lastTime) || s.debt != o.debt || len(s.lots) != len(o.lots) || len(s.holds) != len(o.holds) ||
		len(s.refunded) != len(o.refunded) || len(s.subs) != len(o.subs) || s.claimedBy != o.claimedBy || s.lowAt != o.lowAt || s.topUps != o.topUps ||
		!slices.Equal(s.budgets, o.budgets) || len(s.spends) != len(o.spends) || s.lastHash != o.lastHash || s.prevHash != o.prevHash {
		return false
	}
	for i, a := range s.spends {
		if b := o.spends[i]; a.Name != b.Name || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || a.Spent != b.Spent {
			return false
		}
	}
	for i, m := range s.subs {
		if n := o.subs[i]; m.ID != n.ID || !m.Start.Equal(n.Start) || !m.End.Equal(n.End) || m.Entry != n.Entry {
			return false
		}
	}
	for i := range s.lots {
		a, b := s.lots[i], o.lots[i]
		if a.ID != b.ID || a.Source != b.Source || a.Priority != b.Priority || !a.ExpiresAt.Equal(b.ExpiresAt) || a.Remaining != b.Remaining || a.Reserved != b.Reserved || a.Warned != b.Warned {
			return false
		}
	}
	for i := range s.holds {
		a, b := s.holds[i], o.holds[i]
		if a.ID != b.ID || a.Amount != b.Amount || !a.Deadline.Equal(b.Deadline) || !slices.Equal(a.Draws, b.Draws) || a.Spender != b.Spender || a.Multi != b.Multi {
			return false
		}
	}
	return maps.Equal(s.refunded, o.refunded)
}

// sourceRemaining is the unreserved credits of the unexpired lots of one
// source at now.
func (s *AccountState) sourceRemaining(src Source, now time.Time) Credits {
	var sum Credits
	for i := range s.lots {
		if l := &s.lots[i]; l.Source == src && !expired(l.ExpiresAt, now) {
			sum += l.Remaining
		}
	}
	return sum
}

// rollover applies a rollover entry: from the unexpired lots of the
// entry's Source, it removes -e.Amount credits in spending order (what the
// policy let expire); if e.Lot is the entry's own ID, the unreserved
// credits left in those lots are carried into one new lot with the entry's
// expiry and priority. Reserved credits stay in their lots: a hold open at
// a period's end keeps what it drew.
func (s *AccountState) rollover(e *Entry) {
	drop := -e.Amount
	var carry Credits
	for i := range s.lots {
		l := &s.lots[i]
		if l.Source != e.Source || expired(l.ExpiresAt, e.Time) {
			continue
		}
		take := min(l.Remaining, drop)
		s.addRemaining(l, -take)
		drop -= take
		if e.Lot == e.ID {
			carry += l.Remaining
			s.addRemaining(l, -l.Remaining)
		}
	}
	s.prune()
	if carry > 0 {
		s.addCredits(lot{ID: e.ID, Source: SourceRollover, Priority: e.Priority, ExpiresAt: e.ExpiresAt, Remaining: carry}, 0)
	}
}

// monthOf is the calendar month (UTC) of t, as year*100 + month.
func monthOf(t time.Time) int {
	t = t.UTC()
	return t.Year()*100 + int(t.Month())
}
