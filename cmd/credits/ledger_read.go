package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// balanceJSON is what "ledger balance --json" prints: exactly these four
// fields, amounts as JSON numbers.
type balanceJSON struct {
	Account   string          `json:"account"`
	Total     credits.Credits `json:"total"`
	Held      credits.Credits `json:"held"`
	Available credits.Credits `json:"available"`
}

// runLedgerBalance: credits ledger balance --account A.
func runLedgerBalance(e *env, args []string) int {
	f := newLedgerFlags("balance", false)
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	return f.withLedger(e, credits.Options{}, func(ctx context.Context, l *credits.Ledger) int {
		b, err := l.Balance(ctx, f.account)
		if err != nil {
			return e.fail(f.cmdName(), err)
		}
		if f.json {
			return e.writeJSON(f.cmdName(), balanceJSON{Account: b.Account, Total: b.Total, Held: b.Held, Available: b.Available})
		}
		return e.write(f.cmdName(), fmt.Sprintf("%s: %s credits, %s held, %s available\n", b.Account, b.Total, b.Held, b.Available))
	})
}

// kindList is the value of --kind: kind names, from a repeated flag or
// comma lists. The names are checked after parsing, so that an unknown one
// is bad input (exit 1), like every other malformed value.
type kindList []string

func (k *kindList) String() string { return strings.Join(*k, ",") }

// Set adds the names of one --kind flag.
func (k *kindList) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		*k = append(*k, strings.TrimSpace(name))
	}
	return nil
}

// kinds parses the names.
func (k kindList) kinds() ([]credits.Kind, error) {
	var out []credits.Kind
	for _, name := range k {
		kind, err := credits.ParseKind(name)
		if err != nil {
			return nil, labelFlags(err) // names --kind, and lists every kind
		}
		out = append(out, kind)
	}
	return out, nil
}

// historyJSON is what "ledger history --json" prints: one page.
type historyJSON struct {
	Account string          `json:"account"`
	Entries []credits.Entry `json:"entries"`
	Next    int64           `json:"next"` // the --after of the next page; 0 when this page is the last
}

// runLedgerHistory: credits ledger history --account A [--after ID] [--limit N] [--kind K]... [--since T] [--until T].
func runLedgerHistory(e *env, args []string) int {
	f := newLedgerFlags("history", false)
	after := f.String("after", "0", "the cursor: only entries after this entry `ID` (the last page's \"next\")")
	limit := f.String("limit", "100", "at most `N` entries, 1 to 1000")
	var kinds kindList
	f.Var(&kinds, "kind", "only entries of these kinds (grant, charge, refund, hold, capture, release, expire, rollover, notice); repeat or comma-separate")
	since := f.String("since", "", "only entries at or after this RFC 3339 `instant`")
	until := f.String("until", "", "only entries before this RFC 3339 `instant`")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	var q credits.HistoryQuery
	var err error
	if q.Kinds, err = kinds.kinds(); err != nil {
		return e.fail(f.cmdName(), err)
	}
	if q.After, err = strconv.ParseInt(*after, 10, 64); err != nil || q.After < 0 {
		return e.fail(f.cmdName(), &credits.InputError{Field: "--after", Value: *after, Reason: "want an entry ID (0 for the start)"})
	}
	if q.Limit, err = strconv.Atoi(*limit); err != nil || q.Limit < 1 || q.Limit > 1000 {
		return e.fail(f.cmdName(), &credits.InputError{Field: "--limit", Value: *limit, Reason: "want a whole number from 1 to 1000"})
	}
	if *since != "" {
		if q.Since, err = parseInstant("since", *since); err != nil {
			return e.fail(f.cmdName(), err)
		}
	}
	if *until != "" {
		if q.Until, err = parseInstant("until", *until); err != nil {
			return e.fail(f.cmdName(), err)
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return e.fail(f.cmdName(), &credits.InputError{Field: "--until", Value: *until, Reason: "must be after --since"})
	}
	return f.withLedger(e, credits.Options{}, func(ctx context.Context, l *credits.Ledger) int {
		page, err := l.History(ctx, f.account, q)
		if err != nil {
			return e.fail(f.cmdName(), err)
		}
		if f.json {
			out := historyJSON{Account: f.account, Entries: page.Entries, Next: page.Next}
			if out.Entries == nil {
				out.Entries = []credits.Entry{}
			}
			return e.writeJSON(f.cmdName(), out)
		}
		return e.write(f.cmdName(), historyTable(page))
	})
}

// historyTable formats a page of history as an aligned table, and says
// how to get the next page.
func historyTable(page credits.Page) string {
	if len(page.Entries) == 0 {
		return "no entries\n"
	}
	rows := [][]string{{"ID", "TIME", "KIND", "AMOUNT", "HELD", "BALANCE", "DETAIL", "KEY"}}
	for i := range page.Entries {
		en := &page.Entries[i]
		held := ""
		if en.Held != 0 {
			held = signed(en.Held)
		}
		rows = append(rows, []string{strconv.FormatInt(en.ID, 10), instantText(en.Time), en.Kind.String(),
			signed(en.Amount), held, en.BalanceAfter.String(), entryDetail(en), en.Key})
	}
	// Numbers are aligned right, words left; the last column is not padded.
	right := []bool{true, false, false, true, true, true, false, false}
	var b strings.Builder
	writeTable(&b, rows, right)
	if page.Next != 0 {
		fmt.Fprintf(&b, "more entries: run again with --after %d\n", page.Next)
	}
	return b.String()
}

// writeTable writes rows as columns two spaces apart, each aligned right
// or left, with no trailing blanks.
func writeTable(b *strings.Builder, rows [][]string, right []bool) {
	widths := make([]int, len(right))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-len(c))
			if right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// runLedgerStatement: credits ledger statement --account A [--period YYYY-MM | --from T --to T].
func runLedgerStatement(e *env, args []string) int {
	f := newLedgerFlags("statement", false)
	period := f.String("period", "", "the calendar `month` YYYY-MM, in UTC (default: the current month)")
	from := f.String("from", "", "with --to: the period's start, an RFC 3339 `instant`")
	to := f.String("to", "", "with --from: the period's end (not included), an RFC 3339 `instant`")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	if *period != "" && (*from != "" || *to != "") {
		return e.usageErr(f.cmdName(), "want --period or --from and --to, not both")
	}
	if (*from == "") != (*to == "") {
		return e.usageErr(f.cmdName(), "--from and --to go together")
	}
	var p credits.Period
	switch {
	case *from != "":
		var err error
		if p.Start, err = parseInstant("from", *from); err != nil {
			return e.fail(f.cmdName(), err)
		}
		if p.End, err = parseInstant("to", *to); err != nil {
			return e.fail(f.cmdName(), err)
		}
		if !p.End.After(p.Start) {
			return e.fail(f.cmdName(), &credits.InputError{Field: "--to", Value: *to, Reason: "must be after --from"})
		}
	case *period != "":
		start, err := time.Parse("2006-01", *period)
		if err != nil {
			return e.fail(f.cmdName(), &credits.InputError{Field: "--period", Value: *period, Reason: "want a month YYYY-MM, such as 2025-06"})
		}
		p = credits.Period{Start: start, End: start.AddDate(0, 1, 0)}
	default:
		now := e.now().UTC()
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		p = credits.Period{Start: start, End: start.AddDate(0, 1, 0)}
	}
	return f.withLedger(e, credits.Options{}, func(ctx context.Context, l *credits.Ledger) int {
		st, err := l.Statement(ctx, f.account, p)
		if err != nil {
			return e.fail(f.cmdName(), err)
		}
		if f.json {
			return e.writeJSON(f.cmdName(), st)
		}
		return e.write(f.cmdName(), statementText(&st))
	})
}

// statementText formats a statement: the opening balance, what came in by
// source, what went out by action, and the closing balance.
func statementText(st *credits.Statement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Statement of %s, %s to %s", st.Account, instantText(st.Period.Start), instantText(st.Period.End))
	if st.AsOf.Before(st.Period.End) {
		fmt.Fprintf(&b, " (so far: as of %s)", instantText(st.AsOf))
	}
	b.WriteString("\n\n")
	rows := [][]string{{"opening balance", st.Opening.String(), ""}}
	rows = append(rows, []string{"granted", signed(st.TotalGranted()), ""})
	for _, g := range st.Granted {
		rows = append(rows, []string{"  " + g.Source.String(), signed(g.Amount), plural(g.Entries, "grant")})
	}
	rows = append(rows, []string{"spent", signed(-st.TotalSpent()), ""})
	for _, s := range st.Spent {
		label, note := "captured holds", plural(s.Entries, "capture")
		if s.Kind == credits.KindCharge {
			label, note = "raw charges", plural(s.Entries, "charge")
			if s.Action != 0 {
				label = s.Action.String()
				note = plural(int(s.Quantity), "unit") + " in " + note
			}
		}
		rows = append(rows, []string{"  " + label, signed(-s.Amount), note})
	}
	rows = append(rows,
		[]string{"refunded", signed(st.Refunded), ""},
		[]string{"expired", signed(-st.Expired), ""},
		[]string{"closing balance", st.Closing.String(), ""})
	if st.Carried != 0 {
		rows = append(rows, []string{"carried over", st.Carried.String(), "moved into new lots; not a change of balance"})
	}
	writeTable(&b, rows, []bool{false, true, false})
	return b.String()
}

// plural formats a count of things: "1 grant", "3 grants".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
