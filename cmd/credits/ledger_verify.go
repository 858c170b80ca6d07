package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// defaultVerifyTimeout bounds "ledger verify" when --timeout is not given:
// it reads every entry of what it checks, so it gets longer than the
// other subcommands' minute.
const defaultVerifyTimeout = time.Hour

// verifyProgressEvery is how often, at most, "ledger verify --all" prints
// how far it got on stderr. A test sets it small.
var verifyProgressEvery = time.Second

// verifyJSON is what "ledger verify --json" prints. With --account it
// also names the account and its head: the hash of its last entry, to
// record elsewhere as an anchor of its chain ("" when no entry has a
// hash).
type verifyJSON struct {
	Account     string           `json:"account,omitempty"` // --account only
	Head        credits.Hash     `json:"head"`              // --account only (always "" with --all)
	Chained     int64            `json:"chained"`           // --account only: the entries with a chain hash
	Accounts    int64            `json:"accounts"`          // accounts checked, the ledger's own records included
	Entries     int64            `json:"entries"`           // entries read
	Differences []differenceJSON `json:"differences"`       // every difference found; [] on a sound ledger
}

// differenceJSON is one difference: a *credits.CorruptError.
type differenceJSON struct {
	Account string `json:"account"`
	Entry   int64  `json:"entry"` // 0: the account's stored state
	Reason  string `json:"reason"`
}

// runLedgerVerify: credits ledger verify (--account A | --all) [--json].
//
// It checks one account (Ledger.Verify) or every account, the ledger's
// own records included (Ledger.VerifyAll), against its history: entry IDs,
// accounts, the hash chain, balances, and the stored state. It prints one
// line per difference (the account, the entry, or "state" for the stored
// state, and what differs) and a summary; with --account the summary
// gives the account's head hash. Any difference exits 1: the report is
// printed all the same, and one line on stderr says how many were found.
// With --all, a line on stderr at most every verifyProgressEvery says how
// far it got. An account with no entries verifies (it has nothing to
// differ), as balance reads it as empty; the summary says "0 entries".
// verify only reads: like the other reads, it does not create a SQLite
// file, and reads one it may not write read-only.
func runLedgerVerify(e *env, args []string) int {
	f := newLedgerFlags("verify", false)
	all := f.Bool("all", false, "verify every account (the ledger's own records included)")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	switch {
	case *all && f.given("account"):
		return e.usageErr(f.cmdName(), "want --account A or --all, not both")
	case !*all && f.account == "":
		return e.usageErr(f.cmdName(), "want --account A or --all")
	}
	return f.withLedger(e, credits.Options{}, func(ctx context.Context, l *credits.Ledger) int {
		var out verifyJSON
		var problems []*credits.CorruptError
		if *all {
			r, err := l.VerifyAll(ctx, e.verifyProgress(f))
			if err != nil {
				return e.fail(f.cmdName(), fmt.Errorf("%w (after verifying %d accounts, %d entries, with %d differences)", err, r.Accounts, r.Entries, len(r.Problems)))
			}
			out.Accounts, out.Entries, problems = r.Accounts, r.Entries, r.Problems
		} else {
			c, err := l.Verify(ctx, f.account)
			if err != nil {
				return e.fail(f.cmdName(), err)
			}
			out.Account, out.Head, out.Chained = c.Account, c.Head, c.Chained
			out.Accounts, out.Entries, problems = 1, c.Entries, c.Problems
		}
		out.Differences = []differenceJSON{}
		for _, p := range problems {
			out.Differences = append(out.Differences, differenceJSON{Account: p.Account, Entry: p.Entry, Reason: reasonOf(p)})
		}
		var code int
		if f.json {
			code = e.writeJSON(f.cmdName(), out)
		} else {
			code = e.write(f.cmdName(), verifyText(&out))
		}
		if code != exitOK || len(problems) == 0 {
			return code
		}
		return e.fail(f.cmdName(), errors.New(countOf(int64(len(problems)), "difference")+" between the ledger and its history: it was changed behind its back, or damaged"))
	})
}

// verifyProgress returns VerifyAll's progress function: it prints on
// stderr, at most every verifyProgressEvery, the accounts and entries
// verified so far.
func (e *env) verifyProgress(f *ledgerFlags) func(credits.AccountCheck) {
	var accounts, entries, differences int64
	last := time.Now()
	return func(c credits.AccountCheck) {
		accounts++
		entries += c.Entries
		differences += int64(len(c.Problems))
		if time.Since(last) < verifyProgressEvery {
			return
		}
		last = time.Now()
		fmt.Fprintf(e.stderr, "credits %s: %s, %s verified so far, %s\n", f.cmdName(),
			countOf(accounts, "account"), countOf(entries, "entry"), countOf(differences, "difference"))
	}
}

// verifyText is the text report: a line per difference, then the summary.
func verifyText(v *verifyJSON) string {
	var b strings.Builder
	for _, d := range v.Differences {
		where := "state"
		if d.Entry != 0 {
			where = fmt.Sprintf("entry %d", d.Entry)
		}
		fmt.Fprintf(&b, "account %q, %s: %s\n", d.Account, where, d.Reason)
	}
	found := "no differences"
	if n := len(v.Differences); n > 0 {
		found = countOf(int64(n), "difference")
	}
	if v.Account != "" {
		head := "none"
		if !v.Head.IsZero() {
			head = v.Head.String()
		}
		fmt.Fprintf(&b, "verified account %q: %s (%d chained), head %s: %s\n", v.Account, countOf(v.Entries, "entry"), v.Chained, head, found)
	} else {
		fmt.Fprintf(&b, "verified %s, %s: %s\n", countOf(v.Accounts, "account"), countOf(v.Entries, "entry"), found)
	}
	return b.String()
}

// reasonOf is what differs, in one line, with the underlying error if any.
func reasonOf(p *credits.CorruptError) string {
	if p.Err != nil {
		return oneLine(p.Reason + ": " + p.Err.Error())
	}
	return oneLine(p.Reason)
}

// countOf returns "1 entry", "2 entries", "0 accounts".
func countOf(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
