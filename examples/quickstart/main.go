// Command quickstart shows the whole flow of github.com/avstudio/credits on
// the embedded default, a ledger in one SQLite file:
//
//  1. a user verifies their email and claims the 30 free credits, with the
//     normalized address as the claim key (one claim per person);
//  2. subscribes to a plan: Creator, 200 credits a month, every unused
//     credit rolls over;
//  3. submits a prompt-to-MP4 public-API job: it is estimated, the
//     estimate is held while the job runs, and captured when it renders;
//  4. generates a 1080p video clip (20 credits);
//  5. reaches the end of the billing period: the subscription renews and
//     everything left rolls over;
//  6. reads the first period's statement (opening balance, granted by
//     source, spent by action, closing balance) and the final balance.
//
// The ledger's clock is fixed and moved by hand, so every run prints the
// same thing. Run it from the repository root:
//
//	go run ./examples/quickstart                 # a new file in a temporary directory, removed at the end
//	go run ./examples/quickstart -db credits.db  # a file you keep (and can inspect with 'credits ledger')
//
// Every write carries an idempotency key, so running it again on the same
// file stores nothing more: each write returns the entry the first run
// stored (the balances it prints are then the file's current ones).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

func main() {
	db := flag.String("db", "", "the SQLite ledger `file` to use (default: a new file in a temporary directory, removed at the end)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "quickstart: unexpected argument %q (usage: go run ./examples/quickstart [-db FILE])\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := start(*db); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// start runs the walk-through on the file at path, or on a new file in a
// temporary directory if path is empty.
func start(path string) error {
	if path == "" {
		dir, err := os.MkdirTemp("", "credits-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "credits.db")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := run(ctx, os.Stdout, path)
	return err
}

// The story's cast and props.
const (
	account = "alice"
	email   = "Alice@Example.com"
)

// begin is the instant the story begins (the fixed clock's first reading).
var begin = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// creator is the plan Alice subscribes to: the zero RolloverPolicy rolls
// every unused credit over, the R-Credits rule.
var creator = credits.Plan{
	Name:     "Creator",
	Credits:  200 * credits.Credit,
	Interval: credits.Monthly,
	Rollover: credits.RolloverPolicy{Mode: credits.RollOverAll},
}

// job is the public-API job Alice submits.
var job = credits.Job{
	Pipeline: credits.PromptToMP4,
	Prompt:   "A 30-second product tour with upbeat music, ending on our logo",
	Uploads:  []credits.Upload{{Name: "intro.mp4"}},
	RemoteAssets: []credits.RemoteAsset{
		{URL: "https://cdn.example.com/music/theme.mp3"},
		{URL: "https://cdn.example.com/brand/logo.png"},
	},
}

// report is what run did, as the ledger recorded it, for the test to
// check the printed numbers against.
type report struct {
	freeTier  credits.Entry
	grants    [2]credits.Entry // the subscription grants of periods 1 and 2
	estimate  credits.Estimate
	hold      credits.Entry
	capture   credits.Entry
	clip      credits.Entry
	periods   [2]credits.Period
	first     credits.Statement // period 1
	second    credits.Statement // period 2, as of the end of the story
	afterHold credits.Balance
	final     credits.Balance
	replay    bool // the file already held the story: every write was a replay
}

// clock is the ledger's clock: fixed, moved by the story.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// run plays the story on the SQLite ledger file at path (created if
// missing) and writes what happens to w.
func run(ctx context.Context, w io.Writer, path string) (*report, error) {
	backend, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		return nil, err
	}
	defer backend.Close()
	c := &clock{t: begin}
	ledger := credits.NewLedger(backend, credits.Options{Now: c.now})
	p := &printer{w: w}
	rep := &report{}

	p.line("The whole flow of github.com/avstudio/credits, on a ledger in one SQLite file.")
	p.line("The ledger's clock is fixed and moved by hand, so a run on a new file always prints the same.")
	if b, err := ledger.Balance(ctx, account); err != nil {
		return nil, err
	} else if b.Version > 0 {
		rep.replay = true
		p.line("This file already holds the story: each write below replays the first run's (same")
		p.line("idempotency key, same entry, nothing stored twice); the balances are the file's current ones.")
	}

	// 1. Alice verifies her email: 30 free credits, once per account and
	// once per address, whichever account claims it.
	p.at(c.t, "")
	// The ledger compares claim keys byte for byte: "Alice@Example.com"
	// and "alice@example.com" must be one key, so normalize the address.
	claimKey, err := credits.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if rep.freeTier, err = ledger.ClaimFreeTier(ctx, account, claimKey); err != nil {
		return nil, err
	}
	p.line("  %s verifies %s: the free tier grants %s credits (entry %d, claim key %s)",
		account, email, signed(rep.freeTier.Amount), rep.freeTier.ID, claimKey)

	// 2. She subscribes to Creator. A billing job calls Renew at each
	// period's start; Renew grants each period once, however often it runs.
	sub := credits.Subscription{ID: "alice-creator", Anchor: c.t, Plan: creator}
	if _, err := ledger.Renew(ctx, account, sub); err != nil {
		return nil, err
	}
	rep.periods[0] = sub.PeriodAt(c.t)
	if rep.grants[0], err = subscriptionGrant(ctx, ledger, rep.periods[0]); err != nil {
		return nil, err
	}
	p.line("  %s subscribes to %s: %s credits every month; unused credits roll over, all of them",
		account, creator.Name, creator.Credits)
	p.line("  period 1, %s: %s subscription credits (entry %d)", span(rep.periods[0]), signed(rep.grants[0].Amount), rep.grants[0].ID)
	if err := p.balance(ctx, ledger, nil); err != nil {
		return nil, err
	}

	// 3. A prompt-to-MP4 job: estimate it with the prices in force, hold
	// the estimate while it runs, capture it when it renders.
	c.t = time.Date(2025, 6, 3, 14, 0, 0, 0, time.UTC)
	p.at(c.t, "")
	table, err := ledger.Prices().At(ledger.Now())
	if err != nil {
		return nil, err
	}
	if rep.estimate, err = table.EstimateJob(job); err != nil {
		return nil, err
	}
	est := rep.estimate
	p.line("  %s submits a %s job: %q", account, est.Pipeline, job.Prompt)
	p.line("  estimate, prices %s:", est.PriceVersion)
	rows := make([][3]string, 0, len(est.Lines)+1)
	for _, l := range est.Lines {
		rows = append(rows, [3]string{l.Action.String(), fmt.Sprintf("%d x %s", l.Quantity, l.UnitPrice), l.Subtotal.String()})
	}
	rows = append(rows, [3]string{"total", "", est.Total.String()})
	var width [3]int
	for _, r := range rows {
		for i := range r {
			width[i] = max(width[i], len(r[i]))
		}
	}
	for _, r := range rows {
		p.line("    %-*s  %*s  %*s", width[0], r[0], width[1], r[1], width[2], r[2])
	}
	meta := map[string]string{"job": "job-1", "price_version": est.PriceVersion}
	rep.hold, err = ledger.Hold(ctx, account, credits.HoldRequest{
		Key: "job-1/hold", Amount: est.Total, Deadline: c.t.Add(30 * time.Minute), Metadata: meta,
	})
	if err != nil {
		return nil, err // an *InsufficientCreditsError would refuse the job before it starts
	}
	p.line("  hold %s credits while the job runs (hold %d, lapses at %s unless captured or released)",
		rep.hold.Held, rep.hold.ID, rep.hold.ExpiresAt.Format("15:04"))
	if err := p.balance(ctx, ledger, &rep.afterHold); err != nil {
		return nil, err
	}

	c.t = c.t.Add(7 * time.Minute)
	p.at(c.t, "")
	rep.capture, err = ledger.Capture(ctx, account, credits.CaptureRequest{
		Key: "job-1/capture", Hold: rep.hold.ID, Amount: est.Total, Metadata: meta,
	})
	if err != nil {
		return nil, err
	}
	p.line("  the job rendered: capture %s credits of hold %d (entry %d)", -rep.capture.Amount, rep.hold.ID, rep.capture.ID)
	if err := p.balance(ctx, ledger, nil); err != nil {
		return nil, err
	}

	// 4. A 1080p video clip, priced by the ledger's price book.
	c.t = time.Date(2025, 6, 10, 11, 30, 0, 0, time.UTC)
	p.at(c.t, "")
	rep.clip, err = ledger.Charge(ctx, account, credits.ChargeRequest{
		Key: "clip-1", Action: credits.VideoGeneration, Resolution: credits.Res1080p,
	})
	if err != nil {
		return nil, err
	}
	p.line("  %s generates a %s video clip: %s credits (entry %d: %d x %s at %s, prices %s)",
		account, rep.clip.Resolution, signed(rep.clip.Amount), rep.clip.ID, rep.clip.Quantity, rep.clip.Action, rep.clip.Resolution, rep.clip.PriceVersion)
	if err := p.balance(ctx, ledger, nil); err != nil {
		return nil, err
	}

	// 5. The period ends: the billing job renews the subscription.
	c.t = rep.periods[0].End
	p.at(c.t, ": the first period ends")
	if _, err := ledger.Renew(ctx, account, sub); err != nil {
		return nil, err
	}
	rep.periods[1] = sub.PeriodAt(c.t)
	if rep.grants[1], err = subscriptionGrant(ctx, ledger, rep.periods[1]); err != nil {
		return nil, err
	}
	if rep.first, err = ledger.Statement(ctx, account, rep.periods[0]); err != nil {
		return nil, err
	}
	if rep.second, err = ledger.Statement(ctx, account, rep.periods[1]); err != nil {
		return nil, err
	}
	p.line("  renewal: period 2, %s: %s subscription credits (entry %d)", span(rep.periods[1]), signed(rep.grants[1].Amount), rep.grants[1].ID)
	p.line("  rollover: of the %s credits left at the end of period 1, %s roll over and %s expire",
		rep.first.Closing, rep.second.Opening, rep.second.Expired)
	if err := p.balance(ctx, ledger, &rep.final); err != nil {
		return nil, err
	}

	// 6. The first period's statement and the final balance.
	p.line("")
	p.statement(&rep.first)
	p.line("")
	p.line("Final balance of %s: %s credits, %s held, %s available.", account, rep.final.Total, rep.final.Held, rep.final.Available)
	return rep, p.err
}

// subscriptionGrant finds the subscription grant of a period in the
// account's history.
func subscriptionGrant(ctx context.Context, ledger *credits.Ledger, period credits.Period) (credits.Entry, error) {
	q := credits.HistoryQuery{Kinds: []credits.Kind{credits.KindGrant}, Since: period.Start}
	for {
		page, err := ledger.History(ctx, account, q)
		if err != nil {
			return credits.Entry{}, err
		}
		for _, e := range page.Entries {
			if e.Source == credits.SourceSubscription && e.Period.Equal(period.Start) {
				return e, nil
			}
		}
		if page.Next == 0 {
			return credits.Entry{}, fmt.Errorf("no subscription grant for the period %s", period)
		}
		q.After = page.Next
	}
}

// printer writes lines, keeping the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// at starts a paragraph at the instant t.
func (p *printer) at(t time.Time, note string) {
	p.line("")
	p.line("%s%s", t.Format("Mon 2006-01-02 15:04 MST"), note)
}

// balance prints the account's balance, and keeps it in *keep if keep is
// not nil.
func (p *printer) balance(ctx context.Context, ledger *credits.Ledger, keep *credits.Balance) error {
	b, err := ledger.Balance(ctx, account)
	if err != nil {
		return err
	}
	if keep != nil {
		*keep = b
	}
	p.line("  balance: %s credits, %s held, %s available", b.Total, b.Held, b.Available)
	return nil
}

// statement prints a statement: opening balance, granted by source, spent
// by action, refunded, expired, closing balance.
func (p *printer) statement(st *credits.Statement) {
	p.line("Statement of %s for period 1, %s", st.Account, span(st.Period))
	rows := [][3]string{{"opening balance", st.Opening.String(), ""}, {"granted", signed(st.TotalGranted()), ""}}
	for _, g := range st.Granted {
		rows = append(rows, [3]string{"  " + g.Source.String(), signed(g.Amount), count(g.Entries, "grant")})
	}
	rows = append(rows, [3]string{"spent", signed(-st.TotalSpent()), ""})
	for _, s := range st.Spent {
		label, note := "captured holds", count(s.Entries, "capture")
		if s.Kind == credits.KindCharge {
			label, note = "raw charges", count(s.Entries, "charge")
			if s.Action != 0 {
				label, note = s.Action.String(), count(int(s.Quantity), "unit")+" in "+note
			}
		}
		rows = append(rows, [3]string{"  " + label, signed(-s.Amount), note})
	}
	rows = append(rows,
		[3]string{"refunded", signed(st.Refunded), ""},
		[3]string{"expired", signed(-st.Expired), ""},
		[3]string{"closing balance", st.Closing.String(), ""})
	var w0, w1 int
	for _, r := range rows {
		w0, w1 = max(w0, len(r[0])), max(w1, len(r[1]))
	}
	for _, r := range rows {
		p.line("%s", strings.TrimRight(fmt.Sprintf("  %-*s  %*s  %s", w0, r[0], w1, r[1], r[2]), " "))
	}
}

// span formats a period: "2025-06-01 09:00 to 2025-07-01 09:00 UTC".
func span(p credits.Period) string {
	return p.Start.Format("2006-01-02 15:04") + " to " + p.End.Format("2006-01-02 15:04 MST")
}

// signed formats an amount with its sign: "+30", "-20", "0".
func signed(c credits.Credits) string {
	if c > 0 {
		return "+" + c.String()
	}
	return c.String()
}

// count formats a number of things: "1 grant", "2 grants".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
