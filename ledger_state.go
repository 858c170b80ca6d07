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
	lastID   int64
	lastTime time.Time // the time of the last entry: entry times never go back
	debt     Credits   // overdraft in use: credits spent beyond every lot (>= 0)
	lots     []lot     // in spending order (see lotBefore)
	holds    []hold    // open holds, oldest first
	refunded map[int64]Credits
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
}

// hold is an open hold: the credits it reserved, lot by lot. A draw from
// lot 0 is the part of the hold that the overdraft covers: it is debt only
// once captured.
type hold struct {
	ID       int64     `json:"id"`
	Amount   Credits   `json:"amount"`
	Deadline time.Time `json:"deadline"`
	Draws    []draw    `json:"draws"`
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
func (s *AccountState) balance() Credits {
	var b Credits
	for i := range s.lots {
		b += s.lots[i].Remaining + s.lots[i].Reserved
	}
	return b - s.debt
}

// held is the sum of the open holds.
func (s *AccountState) held() Credits {
	var h Credits
	for i := range s.holds {
		h += s.holds[i].Amount
	}
	return h
}

// unfunded is the part of the open holds that the overdraft covers.
func (s *AccountState) unfunded() Credits {
	var u Credits
	for i := range s.holds {
		for _, d := range s.holds[i].Draws {
			if d.Lot == 0 {
				u += d.Amount
			}
		}
	}
	return u
}

// spendable is what a charge or hold may take without any overdraft:
// the unexpired, unreserved credits of every lot, less debt and the
// overdraft-covered parts of open holds. The state must be settled at now.
func (s *AccountState) spendable(now time.Time) Credits {
	var sp Credits
	for i := range s.lots {
		if !expired(s.lots[i].ExpiresAt, now) {
			sp += s.lots[i].Remaining
		}
	}
	return sp - s.debt - s.unfunded()
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

func (s *AccountState) holdIndex(id int64) int {
	for i := range s.holds {
		if s.holds[i].ID == id {
			return i
		}
	}
	return -1
}

// addCredits puts credits into the account: they pay the debt first, and
// the rest becomes a new lot.
func (s *AccountState) addCredits(l lot) {
	pay := min(s.debt, l.Remaining)
	s.debt -= pay
	l.Remaining -= pay
	if l.Remaining == 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(s.lots, l, func(x, y lot) int {
		if lotBefore(&x, &y) {
			return -1
		}
		return 1
	})
	s.lots = slices.Insert(s.lots, i, l)
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
		l.Remaining -= take
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
		l.Remaining -= take
		l.Reserved += take
		amount -= take
		draws = append(draws, draw{Lot: l.ID, Amount: take})
	}
	if amount > 0 {
		draws = append(draws, draw{Lot: 0, Amount: amount})
	}
	return draws
}

// closeHold captures amount of hold i, in the order of its draws, and gives
// the rest back to the lots it was drawn from. The part the overdraft
// covered becomes debt only as far as it is captured.
func (s *AccountState) closeHold(i int, capture Credits) {
	if i < 0 {
		return // only a corrupt history closes a hold that is not open
	}
	h := s.holds[i]
	for _, d := range h.Draws {
		take := min(d.Amount, capture)
		capture -= take
		if d.Lot == 0 {
			s.debt += take
			continue
		}
		if j := s.lotIndex(d.Lot); j >= 0 {
			s.lots[j].Reserved -= d.Amount
			s.lots[j].Remaining += d.Amount - take
		}
	}
	s.holds = slices.Delete(s.holds, i, i+1)
	s.prune()
}

// prune drops lots that hold nothing any more.
func (s *AccountState) prune() {
	s.lots = slices.DeleteFunc(s.lots, func(l lot) bool { return l.Remaining == 0 && l.Reserved == 0 })
}

// due lists the entries that time alone has made necessary by now: holds
// whose deadline passed (oldest first), then the unreserved credits of
// lots that expired (in spending order). The entries have no ID yet.
// Credits reserved by a hold do not expire while the hold is open; if the
// hold is released they return to their lot and expire then.
func (s *AccountState) due(now time.Time) []Entry {
	var out []Entry
	expiredHold := false
	for _, h := range s.holds {
		if !now.Before(h.Deadline) {
			expiredHold = true
			out = append(out, Entry{Kind: KindExpire, Hold: h.ID, Held: -h.Amount})
		}
	}
	if expiredHold {
		// What comes back from the expired holds may land in expired lots:
		// work that out on a copy.
		c := s.Clone()
		for _, e := range out {
			c.closeHold(c.holdIndex(e.Hold), 0)
		}
		return c.dueLots(out, now)
	}
	return s.dueLots(out, now)
}

func (s *AccountState) dueLots(out []Entry, now time.Time) []Entry {
	for _, l := range s.lots {
		if l.Remaining > 0 && expired(l.ExpiresAt, now) {
			out = append(out, Entry{Kind: KindExpire, Lot: l.ID, Amount: -l.Remaining})
		}
	}
	return out
}

// hasDue reports cheaply whether due(now) would list anything.
func (s *AccountState) hasDue(now time.Time) bool {
	for i := range s.holds {
		if !now.Before(s.holds[i].Deadline) {
			return true
		}
	}
	for i := range s.lots {
		if s.lots[i].Remaining > 0 && expired(s.lots[i].ExpiresAt, now) {
			return true
		}
	}
	return false
}

// apply folds one entry into the state. It is the only place an entry's
// effect is defined: operations apply the entries they decide on, and
// [Rebuild] applies a stored history to get the same state back. It
// trusts the entry (the decision that made it checked it) and never fails.
func (s *AccountState) apply(e *Entry) {
	s.lastID = e.ID
	if e.Time.After(s.lastTime) {
		s.lastTime = e.Time
	}
	switch e.Kind {
	case KindGrant:
		s.addCredits(lot{ID: e.ID, Source: e.Source, Priority: e.Priority, ExpiresAt: e.ExpiresAt, Remaining: e.Amount})
	case KindRefund:
		s.addCredits(lot{ID: e.ID, Source: SourceRefund, Remaining: e.Amount})
		if s.refunded == nil {
			s.refunded = make(map[int64]Credits)
		}
		s.refunded[e.Reverses] += e.Amount
	case KindCharge:
		s.spend(-e.Amount, e.Time)
	case KindHold:
		s.holds = append(s.holds, hold{ID: e.ID, Amount: e.Held, Deadline: e.ExpiresAt, Draws: s.reserve(e.Held, e.Time)})
	case KindCapture:
		s.closeHold(s.holdIndex(e.Hold), -e.Amount)
	case KindRelease:
		s.closeHold(s.holdIndex(e.Hold), 0)
	case KindExpire:
		if e.Hold != 0 {
			s.closeHold(s.holdIndex(e.Hold), 0)
		} else if i := s.lotIndex(e.Lot); i >= 0 {
			s.lots[i].Remaining += e.Amount
			s.prune()
		}
	case KindRollover:
		s.rollover(e)
	case KindClaim:
		// A claim marks a free-tier claim key as taken; it moves no credits.
	}
}

// Clone returns a deep copy of s.
func (s *AccountState) Clone() *AccountState {
	c := &AccountState{lastID: s.lastID, lastTime: s.lastTime, debt: s.debt, lots: slices.Clone(s.lots), refunded: maps.Clone(s.refunded)}
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

// Equal reports whether s and o hold the same lots, holds, debt and refunds
// at the same version.
func (s *AccountState) Equal(o *AccountState) bool {
	if s.lastID != o.lastID || !s.lastTime.Equal(o.lastTime) || s.debt != o.debt || len(s.lots) != len(o.lots) || len(s.holds) != len(o.holds) || len(s.refunded) != len(o.refunded) {
		return false
	}
	for i := range s.lots {
		a, b := s.lots[i], o.lots[i]
		if a.ID != b.ID || a.Source != b.Source || a.Priority != b.Priority || !a.ExpiresAt.Equal(b.ExpiresAt) || a.Remaining != b.Remaining || a.Reserved != b.Reserved {
			return false
		}
	}
	for i := range s.holds {
		a, b := s.holds[i], o.holds[i]
		if a.ID != b.ID || a.Amount != b.Amount || !a.Deadline.Equal(b.Deadline) || !slices.Equal(a.Draws, b.Draws) {
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
		l.Remaining -= take
		drop -= take
		if e.Lot == e.ID {
			carry += l.Remaining
			l.Remaining = 0
		}
	}
	s.prune()
	if carry > 0 {
		s.addCredits(lot{ID: e.ID, Source: SourceRollover, Priority: e.Priority, ExpiresAt: e.ExpiresAt, Remaining: carry})
	}
}
