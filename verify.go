package credits

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// AccountCheck is what [Ledger.Verify] found on one account.
type AccountCheck struct {
	Account  string
	Entries  int64           // entries read
	Chained  int64           // of them, those with a chain hash (the others were written before the chain)
	Head     Hash            // the hash of the last entry: record it elsewhere to anchor the chain
	Problems []*CorruptError // every difference found, in history order; none on a sound account

	balanceOff Credits // how far the history's balance is from the entries' BalanceAfter, so far
}

// Err returns nil for a sound account, and otherwise an error joining its
// problems (it matches ErrCorrupt).
func (c *AccountCheck) Err() error { return joinProblems(c.Problems) }

// VerifyReport is what [Ledger.VerifyAll] found.
type VerifyReport struct {
	Accounts int64           // accounts checked, the ledger's own records included
	Entries  int64           // entries read
	Problems []*CorruptError // every difference found, account by account
}

// Err returns nil for a sound ledger, and otherwise an error joining every
// problem (it matches ErrCorrupt).
func (r *VerifyReport) Err() error { return joinProblems(r.Problems) }

// checkAccountOrRecord accepts an account name, or the name of one of the
// ledger's own records (as [Ledger.Accounts] lists them).
func checkAccountOrRecord(account string) error {
	if strings.HasPrefix(account, claimAccountPrefix) {
		return checkText("account", account, len(claimAccountPrefix)+maxKeyLen)
	}
	return checkAccount(account)
}

func joinProblems(ps []*CorruptError) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Verify checks one account against its history: it reads every entry and
// checks that the IDs run 1, 2, 3..., that each entry belongs to the
// account, that the chain holds (every entry written since the chain began
// hashes to its Hash, following the one before; see [HashEntry]), that
// each entry's BalanceAfter is what the history adds up to, and that the
// state the backend stores is the one the history folds to. It reports
// every difference it finds as a [*CorruptError] naming the account, the
// entry (0 for the state) and what differs, in the returned AccountCheck;
// it stops reading an account's history only where the backend refuses to
// read on (an entry it cannot decode, see ErrCorrupt).
//
// Verify only reads, and takes no lock a writer waits for: on a ledger in
// use, a write between the reading of the state and of the history may
// show as a difference of the state. Verify again to tell. The error is
// the backend's, for a failure to read (a cancelled ctx, a lost
// connection); a corrupt account is not an error of Verify.
//
// Its cost is one read of the account's history: about a second per
// million entries on the memory backend (see BENCHMARKS.md).
func (l *Ledger) Verify(ctx context.Context, account string) (AccountCheck, error) {
	if err := checkAccountOrRecord(account); err != nil {
		return AccountCheck{}, err
	}
	c := AccountCheck{Account: account}
	stored, err := l.backend.Load(ctx, account)
	switch {
	case errors.Is(err, ErrCorrupt):
		c.problem(0, fmt.Sprintf("the stored state cannot be read: %v", err))
		stored = nil
	case err != nil:
		return c, l.backendErr(ctx, OpVerify, account, err)
	}
	s := &AccountState{}
	q := HistoryQuery{Limit: maxPage}
	for {
		page, err := l.backend.Entries(ctx, account, q)
		if errors.Is(err, ErrCorrupt) {
			c.problem(q.After+1, fmt.Sprintf("the history cannot be read on from here: %v", err))
			stored = nil // the rest of the history is unknown: nothing to compare the state with
			break
		}
		if err != nil {
			return c, l.backendErr(ctx, OpVerify, account, err)
		}
		for i := range page {
			c.check(s, &page[i])
		}
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].ID
	}
	if stored != nil {
		if d := stateDiff(stored, s); d != "" {
			c.problem(0, "the stored state is not the one its history folds to: "+d)
		}
	}
	return c, nil
}

// check folds e into s, the state of the history before it, noting every
// way in which e does not follow it.
func (c *AccountCheck) check(s *AccountState, e *Entry) {
	c.Entries++
	if e.Account != c.Account {
		c.problem(e.ID, fmt.Sprintf("the entry says it is of account %q", e.Account))
	}
	if e.ID != s.lastID+1 {
		c.problem(e.ID, fmt.Sprintf("the entry follows entry %d: entries are missing or out of order", s.lastID))
	}
	switch {
	case !e.Hash.IsZero():
		c.Chained++
		if want := HashEntry(s.lastHash, e); want != e.Hash {
			c.problem(e.ID, "its fields and the entry before it do not hash to its hash: it, or the entry before it, was changed, or entries were removed or inserted")
		}
	case !s.lastHash.IsZero():
		c.problem(e.ID, "the entry has no hash, after the chain began")
	}
	c.Head = e.Hash
	if err := applyUntrusted(s, e); err != nil {
		c.problem(e.ID, err.Error())
		return
	}
	// A balance that is off is reported where it goes off (or changes by
	// how much), not again on every entry after it.
	if b := s.balance(); b-e.BalanceAfter != c.balanceOff {
		c.balanceOff = b - e.BalanceAfter
		c.problem(e.ID, fmt.Sprintf("it says balance %s, the history adds up to %s", e.BalanceAfter, b))
	}
}

func (c *AccountCheck) problem(entry int64, reason string) {
	c.Problems = append(c.Problems, &CorruptError{Account: c.Account, Entry: entry, Reason: reason})
}

// applyUntrusted is apply for an entry that may be corrupt: no stored
// history can make Verify panic.
func applyUntrusted(s *AccountState, e *Entry) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the entry cannot be folded into the history before it: %v", r)
		}
	}()
	s.apply(e)
	return nil
}

// VerifyAll runs [Ledger.Verify] on every account, the ledger's own
// records included, in the order of [Ledger.Accounts], calling progress
// (if not nil) after each with what Verify found. It returns every
// problem found in the report, and an error only for a failure to read,
// with the report of the accounts checked before it.
func (l *Ledger) VerifyAll(ctx context.Context, progress func(AccountCheck)) (VerifyReport, error) {
	var r VerifyReport
	after := ""
	for {
		names, err := l.backend.Accounts(ctx, after, maxPage)
		if err != nil {
			return r, l.backendErr(ctx, OpVerify, "", err)
		}
		for _, name := range names {
			c, err := l.Verify(ctx, name)
			if err != nil {
				return r, err
			}
			r.Accounts++
			r.Entries += c.Entries
			r.Problems = append(r.Problems, c.Problems...)
			if progress != nil {
				progress(c)
			}
		}
		if len(names) < maxPage {
			return r, nil
		}
		after = names[len(names)-1]
	}
}

// stateDiff describes how the stored state differs from the one rebuilt
// from the history, or returns "" if it does not. A state stored in an
// older format (stale) lacks what later formats keep: only its version
// and balances are compared.
func stateDiff(stored, rebuilt *AccountState) string {
	var d []string
	differ := func(what string, got, want any) {
		d = append(d, fmt.Sprintf("%s %v (history: %v)", what, got, want))
	}
	if stored.lastID != rebuilt.lastID {
		differ("version", stored.lastID, rebuilt.lastID)
	}
	if b, w := stored.balance(), rebuilt.balance(); b != w {
		differ("balance", b, w)
	}
	if h, w := stored.held(), rebuilt.held(); h != w {
		differ("held", h, w)
	}
	if stored.stale {
		return strings.Join(d, "; ")
	}
	if stored.debt != rebuilt.debt {
		differ("overdraft debt", stored.debt, rebuilt.debt)
	}
	if !stored.lastTime.Equal(rebuilt.lastTime) {
		differ("last entry time", stored.lastTime, rebuilt.lastTime)
	}
	if stored.lastHash != rebuilt.lastHash || stored.prevHash != rebuilt.prevHash {
		differ("chain tail", hashText(stored.lastHash), hashText(rebuilt.lastHash))
	}
	lotsOnly := &AccountState{lots: stored.lots}
	if !lotsOnly.Equal(&AccountState{lots: rebuilt.lots}) {
		differ("lots", len(stored.lots), len(rebuilt.lots))
	}
	holdsOnly := &AccountState{holds: stored.holds}
	if !holdsOnly.Equal(&AccountState{holds: rebuilt.holds}) {
		differ("open holds", len(stored.holds), len(rebuilt.holds))
	}
	if !maps.Equal(stored.refunded, rebuilt.refunded) {
		differ("refunds", len(stored.refunded), len(rebuilt.refunded))
	}
	if !slices.EqualFunc(stored.subs, rebuilt.subs, func(a, b subMark) bool {
		return a.ID == b.ID && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Entry == b.Entry
	}) {
		differ("subscription periods", len(stored.subs), len(rebuilt.subs))
	}
	if stored.claimedBy != rebuilt.claimedBy {
		differ("claim holder", fmt.Sprintf("%q", stored.claimedBy), fmt.Sprintf("%q", rebuilt.claimedBy))
	}
	if stored.lowAt != rebuilt.lowAt {
		differ("low-balance notice threshold", stored.lowAt, rebuilt.lowAt)
	}
	if stored.topUps != rebuilt.topUps {
		differ("auto top-ups", stored.topUps, rebuilt.topUps)
	}
	if !slices.Equal(stored.budgets, rebuilt.budgets) {
		differ("budgets", len(stored.budgets), len(rebuilt.budgets))
	}
	if !(&AccountState{spends: stored.spends}).Equal(&AccountState{spends: rebuilt.spends}) {
		differ("budget windows' spending", len(stored.spends), len(rebuilt.spends))
	}
	if len(d) == 0 && !stored.Equal(rebuilt) {
		d = append(d, "its content") // a field added to Equal but not here
	}
	return strings.Join(d, "; ")
}
