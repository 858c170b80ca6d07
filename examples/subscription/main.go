// Command subscription plays a year of one user's subscription on an
// in-memory ledger and prints it month by month, the way "Settings ->
// Subscription" would show it: opening balance, credits granted (by
// source), spent (by action), refunded and expired, closing balance.
//
// The story: Maya signs up on January 31 in New York, claims the free
// tier and subscribes to Creator (500 credits a month, at most 250 roll
// over). A billing job renews her subscription at the start of every
// period (January 31, then February 28, March 31, ...: month ends clamp
// to the anchor's day). She chats, generates images, music and video, and
// renders (each render holds its estimate, then captures it); one render
// fails and is released, one video is refunded. In June she buys a top-up.
// In August she upgrades to Studio (1,500 a month, leftovers carried into
// a bucket spent first and kept two months), from her next period.
//
// Each row is [Ledger.Statement] for one period. What expires at a
// period's end shows in the next row: the end instant belongs to the next
// period (periods are half-open), and the renewal at that instant records
// it.
//
//	go run ./examples/subscription
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // America/New_York, whatever the machine has

	"github.com/avstudio/credits"
)

func main() {
	if _, err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "subscription:", err)
		os.Exit(1)
	}
}

// usage is what Maya does in one billing period.
type usage struct {
	chats, images, music     int64
	video720, video1080, v4k int64
	renders                  int // each holds 5 credits, then captures them
	failedRender             bool
	refundVideo              bool
	topUp                    credits.Credits
	upgrade                  bool
}

var year = [12]usage{
	{chats: 40, images: 10, video720: 5, renders: 3},
	{chats: 10}, // a quiet month: what is over the cap expires
	{chats: 50, video1080: 6, v4k: 4, renders: 10},
	{chats: 30, images: 20, music: 4, renders: 4, failedRender: true},
	{chats: 60, video1080: 10, v4k: 5, renders: 12, topUp: 200 * credits.Credit},
	{chats: 20, images: 5, renders: 2, refundVideo: true, video720: 3},
	{chats: 45, v4k: 6, renders: 6, upgrade: true},
	{chats: 80, video1080: 20, v4k: 10, renders: 20},
	{chats: 30, images: 10, renders: 3},
	{chats: 5}, // away: leftovers are carried, within the bucket's bounds
	{chats: 70, v4k: 15, video1080: 10, renders: 15},
	{chats: 40, images: 30, music: 6, renders: 8},
}

// report is what run printed, for the test to check against the ledger.
type report struct {
	ledger     *credits.Ledger
	account    string
	sub        credits.Subscription
	statements []credits.Statement
	refused    []int // charges refused for insufficient credits, per period
	final      credits.Balance
}

// clock is the simulation's time: the ledger reads it, the story moves it.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func run(w io.Writer) (*report, error) {
	ctx := context.Background()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		return nil, err
	}
	start := time.Date(2026, 1, 31, 9, 0, 0, 0, ny)
	c := &clock{t: start}
	l := credits.NewMemoryLedger(credits.Options{Now: c.now})
	const account = "maya"

	creator := credits.Plan{Name: "Creator", Credits: 500 * credits.Credit, Interval: credits.Monthly,
		Rollover: credits.RolloverPolicy{Mode: credits.RollOverCapped, Max: 250 * credits.Credit},
		Priority: 1} // spend subscription credits (which the cap can take) before the free tier and top-ups
	studio := credits.Plan{Name: "Studio", Credits: 1500 * credits.Credit, Interval: credits.Monthly,
		Rollover: credits.RolloverPolicy{Mode: credits.RollOverCarry, Max: 1000 * credits.Credit, Min: 10 * credits.Credit,
			CarryPriority: 5, CarryPeriods: 2},
		Priority: 1}
	sub := credits.Subscription{ID: "maya-2026", Anchor: start, Location: ny, Plan: creator}
	if err := sub.Validate(); err != nil {
		return nil, err
	}

	if _, err := l.ClaimFreeTier(ctx, account, "maya@example.com"); err != nil {
		return nil, err
	}
	rep := &report{ledger: l, account: account}
	periods := sub.Periods(start, start.AddDate(1, 0, 0))
	for i, p := range periods {
		// The billing job, at the period's first instant.
		c.t = p.Start
		if _, err := l.Renew(ctx, account, sub); err != nil {
			return nil, err
		}
		u := year[i]
		refused, err := spend(ctx, l, account, p, u, c)
		if err != nil {
			return nil, err
		}
		rep.refused = append(rep.refused, refused)
		if u.topUp > 0 {
			c.t = p.Start.Add(4 * 24 * time.Hour)
			if _, err := l.Grant(ctx, account, credits.GrantRequest{Key: fmt.Sprintf("topup-%d", i), Amount: u.topUp, Source: credits.SourceTopUp}); err != nil {
				return nil, err
			}
		}
		if u.upgrade {
			c.t = p.Start.Add(12 * 24 * time.Hour)
			if sub, err = sub.ChangePlan(studio, c.t); err != nil {
				return nil, err
			}
		}
	}
	// The last period ends; the billing job renews the next one.
	c.t = periods[len(periods)-1].End
	if _, err := l.Renew(ctx, account, sub); err != nil {
		return nil, err
	}
	rep.sub = sub

	fmt.Fprintf(w, "%s subscribes on %s (%s) to %s; from %s, %s.\n\n", account, start.Format("Mon Jan 2 2006 15:04 MST"), ny,
		describe(creator), sub.Changes[0].From.Format("Jan 2"), describe(studio))
	fmt.Fprintf(w, "%-23s  %-7s  %8s  %8s  %8s  %8s  %8s  %8s\n", "period", "plan", "opening", "granted", "spent", "refunded", "expired", "closing")
	for i, p := range periods {
		st, err := l.Statement(ctx, account, p)
		if err != nil {
			return nil, err
		}
		rep.statements = append(rep.statements, st)
		fmt.Fprintf(w, "%-23s  %-7s  %8s  %8s  %8s  %8s  %8s  %8s\n",
			p.Start.Format("2006-01-02")+" → "+p.End.Format("01-02"), sub.PlanAt(p.Start).Name,
			st.Opening, st.TotalGranted(), st.TotalSpent(), st.Refunded, st.Expired, st.Closing)
		var granted []string
		for _, g := range st.Granted {
			granted = append(granted, fmt.Sprintf("%s %s", g.Source, g.Amount))
		}
		fmt.Fprintf(w, "    granted  %s\n", strings.Join(granted, ", "))
		var spent []string
		for _, s := range st.Spent {
			switch {
			case s.Kind == credits.KindCapture:
				spent = append(spent, fmt.Sprintf("renders (captured holds) ×%d %s", s.Entries, s.Amount))
			default:
				spent = append(spent, fmt.Sprintf("%s ×%d %s", s.Action, s.Quantity, s.Amount))
			}
		}
		fmt.Fprintf(w, "    spent    %s\n", strings.Join(spent, ", "))
		if st.Carried > 0 {
			fmt.Fprintf(w, "    carried  %s into a rollover bucket\n", st.Carried)
		}
		if rep.refused[i] > 0 {
			fmt.Fprintf(w, "    refused  %d charges, for insufficient credits\n", rep.refused[i])
		}
	}
	rep.final, err = l.Balance(ctx, account)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\n%s, the next period starts: %s credits, its grant included.\n", c.t.In(ny).Format("Jan 2 2006 15:04"), rep.final.Total)
	return rep, nil
}

// spend plays one period's usage, spread over its first days. It returns
// how many charges the ledger refused for insufficient credits.
func spend(ctx context.Context, l *credits.Ledger, account string, p credits.Period, u usage, c *clock) (int, error) {
	refused := 0
	n := 0
	charge := func(a credits.Action, r credits.Resolution, q int64) (credits.Entry, error) {
		n++
		c.t = p.Start.Add(time.Duration(n) * time.Hour)
		e, err := l.Charge(ctx, account, credits.ChargeRequest{Key: fmt.Sprintf("%s-%d", p.Start.Format("2006-01"), n), Action: a, Resolution: r, Quantity: q})
		if errors.Is(err, credits.ErrInsufficientCredits) {
			refused++
			return e, nil
		}
		return e, err
	}
	for _, x := range []struct {
		a credits.Action
		r credits.Resolution
		q int64
	}{
		{credits.ChatMessage, 0, u.chats}, {credits.ImageGeneration, 0, u.images}, {credits.MusicGeneration, 0, u.music},
		{credits.VideoGeneration, credits.Res720p, u.video720}, {credits.VideoGeneration, credits.Res1080p, u.video1080},
		{credits.VideoGeneration, credits.Res4K, u.v4k},
	} {
		if x.q == 0 {
			continue
		}
		e, err := charge(x.a, x.r, x.q)
		if err != nil {
			return 0, err
		}
		if u.refundVideo && x.a == credits.VideoGeneration && e.ID != 0 {
			// One clip failed: the studio gives back one clip's price.
			n++
			c.t = p.Start.Add(time.Duration(n) * time.Hour)
			if _, err := l.Refund(ctx, account, credits.RefundRequest{Key: fmt.Sprintf("%s-refund", p.Start.Format("2006-01")), Entry: e.ID, Amount: -e.Amount / credits.Credits(x.q)}); err != nil {
				return 0, err
			}
		}
	}
	for i := range u.renders {
		n++
		c.t = p.Start.Add(time.Duration(n) * time.Hour)
		key := fmt.Sprintf("%s-render-%d", p.Start.Format("2006-01"), i)
		h, err := l.Hold(ctx, account, credits.HoldRequest{Key: key, Amount: 5 * credits.Credit})
		if errors.Is(err, credits.ErrInsufficientCredits) {
			refused++
			continue
		}
		if err != nil {
			return 0, err
		}
		c.t = c.t.Add(10 * time.Minute)
		if u.failedRender && i == 0 {
			_, err = l.Release(ctx, account, credits.ReleaseRequest{Key: key + "-done", Hold: h.ID})
		} else {
			_, err = l.Capture(ctx, account, credits.CaptureRequest{Key: key + "-done", Hold: h.ID, Amount: 5 * credits.Credit})
		}
		if err != nil {
			return 0, err
		}
	}
	return refused, nil
}

func describe(p credits.Plan) string {
	s := fmt.Sprintf("%s (%s credits %s", p.Name, p.Credits, p.Interval)
	switch r := p.Rollover; r.Mode {
	case credits.RollOverCapped:
		s += fmt.Sprintf(", at most %s roll over", r.Max)
	case credits.RollOverCarry:
		s += fmt.Sprintf(", leftovers of %s to %s carried into a bucket spent first, kept %d months", r.Min, r.Max, r.CarryPeriods)
	}
	return s + ")"
}
