package credits

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Statement is an account's credits over one period, as a user sees them in
// "Settings -> Subscription": the balance at the start, what came in, what
// went out, and the balance at the end. It adds up exactly:
//
//	Opening + TotalGranted() + Refunded - TotalSpent() - Expired == Closing
//
// A statement covers the entries that took effect in the period: those
// from the first entry stamped at or after Period.Start up to, not
// including, the first stamped at or after Period.End (an entry's Time is
// when it took effect; see [Entry]). Statements of consecutive periods
// therefore cover every entry exactly once, and each one's Closing is the
// next one's Opening. (Under concurrent writes an entry stamped within
// microseconds of a boundary goes with its neighbours in ID order.)
//
// An expiry is counted in the period in which it took effect, whenever it
// was recorded: a lot that expired on June 20 is June's, though no write
// recorded it until August. What is due by now but not recorded yet counts
// too, at the instant it took effect, so the current period's Closing is
// the balance [Ledger.Balance] reports, and a past period's is the balance
// the account had at its end.
type Statement struct {
	Account string    `json:"account"`
	Period  Period    `json:"period"`
	AsOf    time.Time `json:"as_of"` // Period.End, or now for a period that has not ended

	Opening  Credits     `json:"opening"`           // the balance when the period started
	Granted  []GrantLine `json:"granted,omitempty"` // grants by source, in Source order
	Refunded Credits     `json:"refunded"`          // refunds of charges and captures
	Spent    []SpendLine `json:"spent,omitempty"`   // charges by action (raw amounts first), then captures
	Expired  Credits     `json:"expired"`           // lots that expired and what rollovers let expire
	Closing  Credits     `json:"closing"`           // the balance at AsOf

	// Carried is what rollovers moved into new lots (RollOverCarry). It is
	// not a change of balance, and not part of the sum above.
	Carried Credits `json:"carried,omitempty"`

	First int64 `json:"first,omitempty"` // the ID of the first entry covered; 0 if none
	Last  int64 `json:"last,omitempty"`  // the ID of the last entry covered; 0 if none
}

// GrantLine is the credits granted from one source in a statement's period.
type GrantLine struct {
	Source  Source  `json:"source"`
	Entries int     `json:"entries"` // how many grants
	Amount  Credits `json:"amount"`
}

// SpendLine is the credits spent one way in a statement's period: charges
// of one action (Action zero: charges of a raw amount), or captures of
// holds (Kind capture).
type SpendLine struct {
	Kind     Kind    `json:"kind"`               // KindCharge or KindCapture
	Action   Action  `json:"action,omitzero"`    // the action charged; zero for raw amounts and captures
	Entries  int     `json:"entries"`            // how many charges or captures
	Quantity int64   `json:"quantity,omitempty"` // units of the action, summed
	Amount   Credits `json:"amount"`             // credits spent (a positive number)
}

// TotalGranted is the sum of the Granted lines.
func (s *Statement) TotalGranted() Credits {
	var t Credits
	for _, g := range s.Granted {
		t += g.Amount
	}
	return t
}

// TotalSpent is the sum of the Spent lines.
func (s *Statement) TotalSpent() Credits {
	var t Credits
	for _, g := range s.Spent {
		t += g.Amount
	}
	return t
}

const statementPage = 1000

// Statement returns the account's statement for a period, read from its
// history page by page. It is a consistent snapshot: entries written while
// it reads are left out. An account with no entries has a statement of
// zeros; a period that does not end after it starts, or is outside the
// years 1 to 9999, is an [*InputError].
func (l *Ledger) Statement(ctx context.Context, account string, period Period) (_ Statement, err error) {
	ob := l.begin(ctx, OpStatement, account, "")
	defer func() { ob.end(Entry{}, err) }()
	if err := checkAccount(account); err != nil {
		return Statement{}, err
	}
	if period.Start.IsZero() || !period.End.After(period.Start) {
		return Statement{}, inputErr("period", period.String(), "must have a start, and an end after it")
	}
	if err := checkInstant("period.start", period.Start); err != nil {
		return Statement{}, err
	}
	if err := checkInstant("period.end", period.End); err != nil {
		return Statement{}, err
	}
	state, err := l.load(ctx, OpStatement, account)
	if err != nil {
		return Statement{}, err
	}
	now := l.Now()
	version := state.Version()
	st := Statement{Account: account, Period: period, AsOf: period.End}
	if now.Before(period.End) {
		st.AsOf = now
	}
	sum := statementSums{granted: map[Source]*GrantLine{}, spent: map[spendKey]*SpendLine{}}

	running := state.balance() // the recorded balance at version
	endReached := false        // stopped at an entry stamped at or after period.End
	firstPage, err := l.entries(ctx, OpStatement, account, HistoryQuery{Since: ceilMicro(period.Start), Limit: 1})
	if err != nil {
		return Statement{}, err
	}
	if len(firstPage) == 1 && firstPage[0].ID <= version {
		e0 := &firstPage[0]
		running = e0.BalanceAfter - e0.Amount
		after := e0.ID - 1
	pages:
		for {
			page, err := l.entries(ctx, OpStatement, account, HistoryQuery{After: after, Limit: statementPage})
			if err != nil {
				return Statement{}, err
			}
			for i := range page {
				e := &page[i]
				if e.ID > version {
					break pages
				}
				if !e.Time.Before(period.End) {
					endReached = true
					break pages
				}
				if e.ID != after+1 {
					return Statement{}, fmt.Errorf("credits: statement of account %q: entry %d follows entry %d", account, e.ID, after)
				}
				if st.First == 0 {
					st.Opening = running
					st.First = e.ID
				}
				if err := sum.add(e); err != nil {
					return Statement{}, fmt.Errorf("credits: statement of account %q: %w", account, err)
				}
				if running, err = running.Add(e.Amount); err != nil {
					return Statement{}, err
				}
				if running != e.BalanceAfter {
					return Statement{}, fmt.Errorf("credits: statement of account %q: entry %d says balance %s, the history adds up to %s",
						account, e.ID, e.BalanceAfter, running)
				}
				st.Last, after = e.ID, e.ID
			}
			if len(page) < statementPage {
				break
			}
		}
	}
	if st.First == 0 {
		st.Opening = running
	}

	// What is due by now and not recorded yet took effect after every
	// recorded entry, each at its own instant: before the period, in it,
	// or after it.
	if !endReached && state.hasDue(now) {
		for _, d := range state.due(now) {
			switch {
			case !d.Time.Before(period.End):
			case d.Time.Before(period.Start):
				st.Opening += d.Amount
				running += d.Amount
			default:
				if err := sum.add(&d); err != nil {
					return Statement{}, fmt.Errorf("credits: statement of account %q: %w", account, err)
				}
				running += d.Amount
			}
		}
	}

	st.Refunded, st.Expired, st.Carried, st.Closing = sum.refunded, sum.expired, sum.carried, running
	for _, src := range slices.Sorted(maps.Keys(sum.granted)) {
		st.Granted = append(st.Granted, *sum.granted[src])
	}
	for _, k := range slices.SortedFunc(maps.Keys(sum.spent), func(a, b spendKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.action, b.action))
	}) {
		st.Spent = append(st.Spent, *sum.spent[k])
	}
	return st, nil
}

type spendKey struct {
	kind   Kind
	action Action
}

type statementSums struct {
	granted                    map[Source]*GrantLine
	spent                      map[spendKey]*SpendLine
	refunded, expired, carried Credits
}

// add puts one entry on its line. Every kind that moves credits has a
// line, so the lines add up to the change of balance; an entry of a kind
// that should move nothing and does is an error, never a silent gap.
func (s *statementSums) add(e *Entry) error {
	var err error
	switch e.Kind {
	case KindGrant:
		g := s.granted[e.Source]
		if g == nil {
			g = &GrantLine{Source: e.Source}
			s.granted[e.Source] = g
		}
		g.Entries++
		g.Amount, err = g.Amount.Add(e.Amount)
	case KindRefund:
		s.refunded, err = s.refunded.Add(e.Amount)
	case KindCharge, KindCapture:
		k := spendKey{kind: e.Kind}
		if e.Kind == KindCharge {
			k.action = e.Action
		}
		line := s.spent[k]
		if line == nil {
			line = &SpendLine{Kind: k.kind, Action: k.action}
			s.spent[k] = line
		}
		line.Entries++
		if e.Quantity > math.MaxInt64-line.Quantity {
			return fmt.Errorf("entry %d: %s quantities add up to more than %d: %w", e.ID, k.action, int64(math.MaxInt64), ErrOverflow)
		}
		line.Quantity += e.Quantity
		line.Amount, err = line.Amount.Sub(e.Amount)
	case KindExpire, KindRollover:
		s.expired, err = s.expired.Sub(e.Amount)
		if err == nil && e.Kind == KindRollover {
			s.carried, err = s.carried.Add(e.Carried)
		}
	case KindHold, KindRelease, KindClaim, KindNotice:
		if e.Amount != 0 {
			return fmt.Errorf("entry %d: a %s entry with amount %s", e.ID, e.Kind, e.Amount)
		}
	default:
		return fmt.Errorf("entry %d: unknown kind %s", e.ID, e.Kind)
	}
	return err
}
