//go:build browser

package console_test

// The browser tests: Debian's chromium, driven by chromedp, loads the
// pages from an httptest server on a ledger in a real SQLite file and
// checks what they show against the ledger. They are behind the build
// tag "browser", so that the repository's test command stays quick:
//
//	go test -tags browser -run Browser ./console/             # skips without chromium
//	CREDITS_REQUIRE_BROWSER=1 go test -tags browser ./console/ # fails without it (CI)
//	go test -tags browser -run Browser ./console/ -update      # rewrites testdata/*.png
//
// The browser is found as $CREDITS_CHROMIUM, else chromium or
// chromium-browser on the PATH.

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
	"github.com/avstudio/credits/ledgertest"
	"github.com/avstudio/credits/sqliteledger"
	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "rewrite the screenshots in testdata")

// browser starts a headless chromium for the test, or skips it.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CREDITS_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CREDITS_REQUIRE_BROWSER") == "1" {
			t.Fatal("no chromium on the PATH, and CREDITS_REQUIRE_BROWSER=1 (apt-get install chromium)")
		}
		t.Skip("no chromium on the PATH (apt-get install chromium, or set CREDITS_CHROMIUM)")
	}
	// The machine has no network: nothing in the background may try.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return ctx
}

// story is a ledger in a SQLite file with a quarter of one account's
// life: a subscription renewed each month, spending every day, holds
// captured and one left open, and a refund.
type story struct {
	ledger *credits.Ledger
	clock  *ledgertest.Clock
	sub    credits.Subscription
}

var storyStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func newStory(t *testing.T) *story {
	t.Helper()
	ctx := t.Context()
	backend, err := sqliteledger.Open(ctx, filepath.Join(t.TempDir(), "credits.db"), sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	s := &story{clock: ledgertest.NewClock(storyStart)}
	s.ledger = credits.NewLedger(backend, credits.Options{Now: s.clock.Now})
	s.sub = credits.Subscription{ID: "alice-creator", Anchor: storyStart,
		Plan: credits.Plan{Name: "Creator", Credits: 200 * credits.Credit, Interval: credits.Monthly}}
	must(s.ledger.ClaimFreeTier(ctx, "alice", "alice@example.com"))
	actions := []credits.ChargeRequest{
		{Action: credits.ChatMessage, Quantity: 2},
		{Action: credits.VideoGeneration},
		{Action: credits.ImageGeneration},
		{Action: credits.TextToSpeech, Quantity: 3},
	}
	var refund int64
	for d := range 74 {
		must(s.ledger.Renew(ctx, "alice", s.sub))
		if d%3 != 2 {
			r := actions[d%len(actions)]
			r.Key = fmt.Sprint("day-", d)
			c := must(s.ledger.Charge(ctx, "alice", r))
			if r.Action == credits.VideoGeneration && refund == 0 {
				refund = c.ID
			}
		}
		if d%9 == 0 {
			h := must(s.ledger.Hold(ctx, "alice", credits.HoldRequest{Key: fmt.Sprint("job-", d, "/hold"), Amount: 16 * credits.Credit}))
			s.clock.Advance(20 * time.Minute)
			must(s.ledger.Capture(ctx, "alice", credits.CaptureRequest{Key: fmt.Sprint("job-", d, "/capture"), Hold: h.ID, Amount: 13 * credits.Credit}))
		}
		s.clock.Advance(24 * time.Hour)
	}
	must(s.ledger.Refund(ctx, "alice", credits.RefundRequest{Key: "refund-day-5", Entry: refund, Metadata: map[string]string{"reason": "render failed"}}))
	s.clock.Advance(3 * time.Hour)
	must(s.ledger.Hold(ctx, "alice", credits.HoldRequest{Key: "job-open/hold", Amount: 25 * credits.Credit, Deadline: s.clock.Now().Add(6 * time.Hour)}))
	s.clock.Advance(time.Hour)
	return s
}

// serve mounts the console under /console/ on an httptest server, as a
// service would, for a support agent who may do everything.
func (s *story) serve(t *testing.T) string {
	mux := http.NewServeMux()
	h := console.New(s.ledger, console.Options{
		Authorize: func(*http.Request, string, console.Op) error { return nil },
		Subscription: func(_ context.Context, account string) (credits.Subscription, bool, error) {
			return s.sub, account == "alice", nil
		},
	})
	mux.Handle("/console/", http.StripPrefix("/console", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/console/"
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// text reads the text of the element sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {textContent: "(missing)"}).textContent.trim()`, sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// rowIDs reads the IDs of the history table's rows, in page order.
func rowIDs(t *testing.T, ctx context.Context) []int64 {
	t.Helper()
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]int64](`[...document.querySelectorAll("#history tbody tr[data-id]")].map(r => +r.dataset.id)`))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// visit loads a page and checks it answered 200.
func visit(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(tctx, steps...)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 {
		t.Fatalf("%s: status %d", res.URL, res.Status)
	}
}

func TestBrowserAccountPage(t *testing.T) {
	ctx := browser(t)
	s := newStory(t)
	base := s.serve(t)
	paris := must(time.LoadLocation("Europe/Paris"))

	visit(t, ctx, chromedp.Navigate(base+"accounts/alice?tz=Europe/Paris"))
	bal := must(s.ledger.Balance(t.Context(), "alice"))
	for sel, want := range map[string]string{
		"#account-name": "alice",
		"#total":        bal.Total.String(),
		"#held":         bal.Held.String(),
		"#available":    bal.Available.String(),
		"#plan":         "Creator: 200 credits monthly",
		"#next-renewal": s.sub.PeriodAt(bal.AsOf).End.In(paris).Format("2006-01-02 15:04 MST"),
		"#rollover":     "Every unused credit rolls over to the next period.",
	} {
		if got := text(t, ctx, sel); got != want {
			t.Errorf("%s shows %q, the ledger says %q", sel, got, want)
		}
	}
	if bal.Held != 25*credits.Credit {
		t.Fatalf("the story's open hold: %+v", bal)
	}

	// The statement of the current period, line by line.
	st := must(s.ledger.Statement(t.Context(), "alice", s.sub.PeriodAt(bal.AsOf)))
	if got, want := text(t, ctx, "#st-opening"), st.Opening.String(); got != want {
		t.Errorf("opening %q, want %q", got, want)
	}
	if got, want := text(t, ctx, "#st-closing"), st.Closing.String(); got != want {
		t.Errorf("closing %q, want %q", got, want)
	}
	if !strings.Contains(text(t, ctx, "#statement"), "Spent: video_generation") {
		t.Errorf("statement: %s", text(t, ctx, "#statement"))
	}

	// The forecast, as the core computes it.
	recent := must(s.ledger.History(t.Context(), "alice", credits.HistoryQuery{Limit: 1000}))
	f, ok := credits.Forecast(recent.Entries, bal.Available, bal.AsOf)
	if !ok {
		t.Fatalf("no forecast for the story: %+v", f)
	}
	if got, want := text(t, ctx, "#runout"), f.RunOut.In(paris).Format("2006-01-02 15:04 MST"); got != want {
		t.Errorf("run-out %q, want %q", got, want)
	}
	if got := text(t, ctx, "#forecast"); !strings.Contains(got, f.PerDay.String()+" credits a day") {
		t.Errorf("forecast %q, want the rate %s", got, f.PerDay)
	}
	// The chart: a balance line and a forecast line.
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#burndown path.balance, #burndown path.forecast").length`)); err != nil || n != 2 {
		t.Errorf("the chart has %d lines (%v)", n, err)
	}
	// The open hold.
	if got := text(t, ctx, "#holds tbody"); !strings.Contains(got, "25") {
		t.Errorf("open holds: %q", got)
	}
	screenshot(t, ctx, "account.png")

	// Paging through the whole history, newest first, with the Older link.
	var seen []int64
	for page := 0; ; page++ {
		ids := rowIDs(t, ctx)
		if len(ids) == 0 || len(ids) > 25 {
			t.Fatalf("page %d shows %d rows", page, len(ids))
		}
		for _, id := range ids {
			e := must(s.ledger.Entry(t.Context(), "alice", id))
			row := text(t, ctx, fmt.Sprintf(`#history tr[data-id="%d"]`, id))
			if !strings.Contains(row, e.BalanceAfter.String()) {
				t.Fatalf("row %d %q lacks its balance %s", id, row, e.BalanceAfter)
			}
		}
		seen = append(seen, ids...)
		older, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector("#older")`))
		if err != nil {
			t.Fatal(err)
		}
		if !older {
			break
		}
		visit(t, ctx, chromedp.Click("#older"))
	}
	want := make([]int64, bal.Version)
	for i := range want {
		want[i] = bal.Version - int64(i)
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("paging showed %v, want every entry once, newest first (%d)", seen, bal.Version)
	}
	// And back to the newest.
	visit(t, ctx, chromedp.Click("#newer"))
	if ids := rowIDs(t, ctx); len(ids) == 0 || ids[0] >= want[0] {
		t.Fatalf("newer page: %v", ids)
	}

	// On a phone.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1)), chromedp.Navigate(base+"accounts/alice?tz=Europe/Paris")); err != nil {
		t.Fatal(err)
	}
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || wide {
		t.Errorf("the page is wider than a phone's screen (%v)", err)
	}
	screenshot(t, ctx, "account-phone.png")
}

func TestBrowserSupportRefund(t *testing.T) {
	ctx := browser(t)
	s := newStory(t)
	base := s.serve(t)

	// Find the account.
	visit(t, ctx, chromedp.Navigate(base+"support"))
	visit(t, ctx, chromedp.SendKeys("#account", "alice"), chromedp.Submit("#account"))
	if got := text(t, ctx, "h1"); got != "Support: alice" {
		t.Fatalf("support page: %q", got)
	}

	// Refund the newest charge that has a Refund button: the confirmation
	// shows what would be refunded, and nothing happens yet.
	id, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`+document.querySelector("button[data-refund]").dataset.refund`))
	if err != nil {
		t.Fatal(err)
	}
	target := must(s.ledger.Entry(t.Context(), "alice", id))
	before := must(s.ledger.Balance(t.Context(), "alice"))
	visit(t, ctx, chromedp.Click(fmt.Sprintf(`button[data-refund="%d"]`, id)))
	if got := text(t, ctx, "#summary"); !strings.Contains(got, fmt.Sprintf("Refund entry #%d of alice", id)) || !strings.Contains(got, (-target.Amount).String()+" credits") {
		t.Fatalf("confirmation: %q", got)
	}
	if b := must(s.ledger.Balance(t.Context(), "alice")); b.Version != before.Version {
		t.Fatal("the first step wrote")
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys("#reason", "clip came out black")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "support-refund.png")

	// Confirm: back on the support page, which says what was recorded.
	visit(t, ctx, chromedp.Click("#confirm"))
	after := must(s.ledger.Balance(t.Context(), "alice"))
	if after.Version != before.Version+1 || after.Total != before.Total-target.Amount {
		t.Fatalf("after the refund: %+v, before %+v (refunding %s)", after, before, -target.Amount)
	}
	refund := must(s.ledger.Entry(t.Context(), "alice", after.Version))
	if refund.Kind != credits.KindRefund || refund.Reverses != id || refund.Metadata["reason"] != "clip came out black" {
		t.Fatalf("the refund entry: %+v", refund)
	}
	if got := text(t, ctx, "#flash"); got != fmt.Sprintf("Recorded as entry #%d.", refund.ID) {
		t.Fatalf("flash: %q", got)
	}
	if got := text(t, ctx, "#total"); got != after.Total.String() {
		t.Fatalf("total shown %q, the ledger says %s", got, after.Total)
	}
	if ids := rowIDs(t, ctx); len(ids) == 0 || ids[0] != refund.ID {
		t.Fatalf("history after the refund: %v", ids)
	}
	screenshot(t, ctx, "support.png")
}
