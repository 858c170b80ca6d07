package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/avstudio/credits"
)

// runLedgerFeed: credits ledger feed [--after C] [--limit N] [--follow] [--account A].
func runLedgerFeed(e *env, args []string) int { return ledgerFeed(e, "feed", args) }

// runLedgerNotices: credits ledger notices [--after C] [--limit N] [--follow] [--account A].
func runLedgerNotices(e *env, args []string) int { return ledgerFeed(e, "notices", args) }

// feedLineJSON is one line of "ledger feed --json": an entry, and the
// cursor to pass as --after to read on after it.
type feedLineJSON struct {
	Cursor credits.Cursor `json:"cursor"`
	Notice string         `json:"notice,omitempty"` // notices only: the notice's kind
	credits.Entry
}

// ledgerFeed reads the feed from --after, one entry at a time so that
// every line printed carries the cursor just after it (what --after takes
// to go on from that line): at most --limit entries, or, with --follow,
// every entry as it commits until interrupted. The notices subcommand
// prints only the entries that are notices.
func ledgerFeed(e *env, name string, args []string) int {
	f := newLedgerFlags(name, false)
	after := f.String("after", "", "read after this `cursor` (a line's \"cursor\" in --json output, or the last \"next:\"); default: the start")
	limit := f.String("limit", "100", "at most `N` entries, 1 to 100000 (without --follow)")
	follow := f.Bool("follow", false, "wait for new entries and print them as they commit, until interrupted (ignores --limit and --timeout)")
	poll := f.Duration("poll", 250*time.Millisecond, "with --follow: how often to look for new entries")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	n, err := strconv.Atoi(*limit)
	if err != nil || n < 1 || n > 100000 {
		return e.fail(f.cmdName(), &credits.InputError{Field: "--limit", Value: *limit, Reason: "want a whole number from 1 to 100000"})
	}
	if *follow && *poll <= 0 {
		return e.usageErr(f.cmdName(), "--poll must be more than zero")
	}
	if *follow {
		f.timeout = 365 * 24 * time.Hour // the interrupt ends it
	}
	return f.withLedger(e, credits.Options{}, func(ctx context.Context, l *credits.Ledger) int {
		if *follow {
			var stop context.CancelFunc
			ctx, stop = signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
		}
		cursor := credits.Cursor(*after)
		printed, read := 0, 0
		for *follow || read < n {
			page, err := l.Feed(ctx, cursor, 1)
			if err != nil {
				if ctx.Err() != nil && *follow {
					break // interrupted
				}
				return e.fail(f.cmdName(), err)
			}
			if len(page.Entries) == 0 && page.Next != cursor {
				cursor = page.Next // past the ledger's own records
				continue
			}
			if len(page.Entries) == 0 {
				if !*follow {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(*poll):
				}
				if ctx.Err() != nil {
					break
				}
				continue
			}
			read++
			cursor = page.Next
			en := page.Entries[0]
			if f.account != "" && en.Account != f.account {
				continue
			}
			notice, isNotice := credits.NoticeOf(en)
			if name == "notices" && !isNotice {
				continue
			}
			if code := e.printFeedLine(f, en, cursor, notice, isNotice); code != 0 {
				return code
			}
			printed++
		}
		if !f.json {
			if printed == 0 {
				fmt.Fprintf(e.stdout, "no %s\n", map[string]string{"feed": "entries", "notices": "notices"}[name])
			}
			fmt.Fprintf(e.stdout, "next: --after %s\n", quoteCursor(cursor))
		}
		return 0
	})
}

// printFeedLine prints one entry of the feed: a JSON line, or a line of
// text.
func (e *env) printFeedLine(f *ledgerFlags, en credits.Entry, cursor credits.Cursor, n credits.Notice, isNotice bool) int {
	if f.json {
		line := feedLineJSON{Cursor: cursor, Entry: en}
		if isNotice {
			line.Notice = n.Kind.String()
		}
		b, err := json.Marshal(line)
		if err != nil {
			return e.fail(f.cmdName(), err)
		}
		return e.write(f.cmdName(), string(b)+"\n")
	}
	what := en.Kind.String()
	if isNotice && en.Kind != credits.KindNotice {
		what += " (" + n.Kind.String() + ")"
	}
	detail := entryDetail(&en)
	if detail != "" {
		detail = "  " + detail
	}
	return e.write(f.cmdName(), fmt.Sprintf("%s  %s #%d  %s  %s  balance %s%s\n",
		instantText(en.Time), en.Account, en.ID, what, signed(en.Amount), en.BalanceAfter, detail))
}

// quoteCursor writes a cursor so that a shell gives it back as it is.
func quoteCursor(c credits.Cursor) string {
	if c == "" {
		return `""`
	}
	if strings.ContainsAny(string(c), " \t'\"$`\\|&;<>()*?[]#~") {
		return "'" + strings.ReplaceAll(string(c), "'", `'\''`) + "'"
	}
	return string(c)
}
