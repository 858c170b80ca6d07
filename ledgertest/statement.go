package ledgertest

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/avstudio/credits"
	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// Statements in the state machine: the statement action compares
// Ledger.Statement over a random period with the one the model's history
// gives; after every step, the statements of the last periods of each
// account add up, chain, and the current one closes at the balance.

// wantStatement is the statement of the model's account a over period at
// now, worked out from its entries: those that took effect in [Start,
// End), the balance before them, and what is due by now and not recorded
// yet, each where it took effect.
func wantStatement(a *mAccount, period credits.Period, now time.Time) credits.Statement {
	st := credits.Statement{Account: a.name, Period: period, AsOf: period.End}
	if now.Before(period.End) {
		st.AsOf = now
	}
	type spendKey struct {
		kind   credits.Kind
		action credits.Action
	}
	granted := make(map[credits.Source]*credits.GrantLine)
	spent := make(map[spendKey]*credits.SpendLine)
	bySpender := make(map[string]*credits.SpenderLine)
	spender := func(name string) *credits.SpenderLine {
		if bySpender[name] == nil {
			bySpender[name] = &credits.SpenderLine{Spender: name}
		}
		return bySpender[name]
	}
	for _, e := range a.entries {
		if e.Time.Before(period.Start) {
			st.Opening = e.BalanceAfter
			continue
		}
		if !e.Time.Before(period.End) {
			break
		}
		if st.First == 0 {
			st.First = e.ID
		}
		st.Last = e.ID
		switch e.Kind {
		case credits.KindGrant:
			if granted[e.Source] == nil {
				granted[e.Source] = &credits.GrantLine{Source: e.Source}
			}
			granted[e.Source].Entries++
			granted[e.Source].Amount += e.Amount
		case credits.KindRefund:
			st.Refunded += e.Amount
			if e.Spender != "" {
				spender(e.Spender).Refunded += e.Amount
			}
		case credits.KindCharge, credits.KindCapture:
			if e.Spender != "" {
				spender(e.Spender).Entries++
				spender(e.Spender).Spent -= e.Amount
			}
			k := spendKey{kind: e.Kind, action: e.Action}
			if spent[k] == nil {
				spent[k] = &credits.SpendLine{Kind: k.kind, Action: k.action}
			}
			spent[k].Entries++
			spent[k].Quantity += e.Quantity
			spent[k].Amount -= e.Amount
		case credits.KindExpire, credits.KindRollover:
			st.Expired -= e.Amount
			st.Carried += e.Carried
		}
	}
	for _, src := range slices.Sorted(maps.Keys(granted)) {
		st.Granted = append(st.Granted, *granted[src])
	}
	for _, k := range slices.SortedFunc(maps.Keys(spent), func(x, y spendKey) int {
		return cmp.Or(cmp.Compare(x.kind, y.kind), cmp.Compare(x.action, y.action))
	}) {
		st.Spent = append(st.Spent, *spent[k])
	}
	for _, name := range slices.Sorted(maps.Keys(bySpender)) {
		st.Spenders = append(st.Spenders, *bySpender[name])
	}
	// What is due by now and not recorded yet took effect at its own
	// instant, after every recorded entry: before the period, in it, or
	// after it.
	for _, e := range a.clone().settle(now) {
		switch {
		case e.Time.Before(period.Start):
			st.Opening += e.Amount
		case e.Time.Before(period.End):
			st.Expired -= e.Amount
		}
	}
	st.Closing = st.Opening + st.TotalGranted() + st.Refunded - st.TotalSpent() - st.Expired
	return st
}

// addsUp checks the statement's sum.
func addsUp(t failer, st credits.Statement) {
	t.Helper()
	if st.Opening+st.TotalGranted()+st.Refunded-st.TotalSpent()-st.Expired != st.Closing {
		broke(t, ruleStatementSum, "account %q, period %s: opening %s + granted %s + refunded %s - spent %s - expired %s != closing %s",
			st.Account, st.Period, st.Opening, st.TotalGranted(), st.Refunded, st.TotalSpent(), st.Expired, st.Closing)
	}
}

// statement reads a statement of a random period and compares it with the
// model's.
func (m *machine) statement(t *rapid.T) {
	account := m.account(t)
	now := m.ledger.Now()
	period := m.drawPeriod(t, account, now)
	a := m.model.account(account)
	got, err := m.ledger.Statement(m.ctx, account, period)
	switch {
	case !period.End.After(period.Start):
		if !errors.Is(err, credits.ErrInvalidInput) {
			broke(t, ruleOutcome, "Statement(%q) of the empty period %s: got %v, want ErrInvalidInput", account, period, err)
		}
		return
	case err != nil:
		broke(t, ruleStatementLines, "Statement(%q, %s): %v", account, period, err)
	}
	addsUp(t, got)
	if diff := gocmp.Diff(wantStatement(a, period, now), got, cmpopts.EquateEmpty()); diff != "" {
		broke(t, ruleStatementLines, "Statement(%q, %s) at %s (-want +got):\n%s\n%s", account, period, now, diff, m.historyOf(account))
	}
}

// drawPeriod draws a period for a statement: one of the account's
// subscription periods (past, current or to come), one around now, all of
// the account's life, one in the past or the future, or an empty one.
func (m *machine) drawPeriod(t *rapid.T, account string, now time.Time) credits.Period {
	hours := func(label string, n int) time.Duration {
		return time.Duration(rapid.IntRange(0, n).Draw(t, label)) * time.Hour
	}
	switch rapid.IntRange(0, 5).Draw(t, "statement period") {
	case 0:
		if s := m.subs[account]; s != nil {
			if ps := s.sub.Periods(s.sub.Start(), now.AddDate(0, 2, 0)); len(ps) > 0 {
				return rapid.SampledFrom(ps).Draw(t, "subscription period")
			}
		}
		return credits.Period{Start: start.Add(-24 * time.Hour), End: now.Add(time.Hour)}
	case 1:
		from := now.Add(-hours("hours before", 24*20))
		return credits.Period{Start: from, End: now.Add(time.Microsecond + hours("hours after", 24*20))}
	case 2:
		return credits.Period{Start: start.Add(-24 * time.Hour), End: now.Add(time.Hour)}
	case 3:
		end := now.Add(-hours("hours ago", 24*40))
		return credits.Period{Start: end.Add(-time.Second - hours("hours long", 24*40)), End: end}
	case 4:
		from := now.Add(time.Microsecond + hours("hours ahead", 24*40))
		return credits.Period{Start: from, End: from.Add(time.Second + hours("hours long", 24*40))}
	}
	return credits.Period{Start: now, End: now}
}

// checkStatements checks the statements of an account's last periods
// (its subscription's, or two made up) after every step: each adds up
// and is what the history says, each closes where the next opens, and the
// current one closes at the balance.
func (m *machine) checkStatements(t *rapid.T, account string, balance credits.Credits) {
	now := m.ledger.Now()
	var periods []credits.Period
	if s := m.subs[account]; s != nil {
		ps := s.sub.Periods(s.sub.Start(), now.Add(time.Microsecond))
		periods = ps[max(0, len(ps)-2):]
	}
	if n := len(periods); n == 0 {
		mid := now.Add(-time.Hour)
		periods = []credits.Period{{Start: start.Add(-24 * time.Hour), End: mid}, {Start: mid, End: now.Add(time.Hour)}}
	} else if !periods[n-1].Contains(now) {
		// The subscription has ended (or has not started): the time since.
		from := periods[n-1].End
		if now.Before(from) {
			from = now
		}
		periods = append(periods, credits.Period{Start: from, End: now.Add(time.Hour)})
	}
	a := m.model.account(account)
	var prev *credits.Statement
	for _, p := range periods {
		st, err := m.ledger.Statement(m.ctx, account, p)
		if err != nil {
			broke(t, ruleStatementLines, "Statement(%q, %s): %v", account, p, err)
		}
		addsUp(t, st)
		if prev != nil && prev.Period.End.Equal(p.Start) && prev.Closing != st.Opening {
			broke(t, ruleStatementChain, "account %q: period %s closes at %s, the next, %s, opens at %s", account, prev.Period, prev.Closing, p, st.Opening)
		}
		if p.Contains(now) && st.Closing != balance {
			broke(t, ruleStatementNow, "account %q at %s: the statement of the current period %s closes at %s; Balance says %s", account, now, p, st.Closing, balance)
		}
		if diff := gocmp.Diff(wantStatement(a, p, now), st, cmpopts.EquateEmpty()); diff != "" {
			broke(t, ruleStatementLines, "Statement(%q, %s) at %s (-want +got):\n%s\n%s", account, p, now, diff, m.historyOf(account))
		}
		prev = &st
	}
}
