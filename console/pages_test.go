package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
)

// page gets a page as user.
func (f *fixture) page(user, method, target string, form url.Values) *httptest.ResponseRecorder {
	f.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-User", user)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

var hrefs = regexp.MustCompile(`(?:href|src|action)="([^"]*)"`)

// Every link a page makes is relative, so the handler works under any
// prefix; and they resolve, under a prefix, to routes of the handler.
func TestPagesLinkRelatively(t *testing.T) {
	f := newFixture(t)
	must(f.ledger.Grant(f.ctx, "a/b c", credits.GrantRequest{Key: "g", Amount: 5 * credits.Credit, Source: credits.SourceTopUp}))
	mux := http.NewServeMux()
	mux.Handle("/deep/console/", http.StripPrefix("/deep/console", f.h))
	for _, target := range []string{"/deep/console/", "/deep/console/accounts/a%2Fb%20c", "/deep/console/support/accounts/a%2Fb%20c", "/deep/console/support"} {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("X-User", "admin")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		base := must(url.Parse("http://x" + target))
		for _, m := range hrefs.FindAllStringSubmatch(rec.Body.String(), -1) {
			link := strings.ReplaceAll(m[1], "&amp;", "&")
			if strings.HasPrefix(link, "/") || strings.Contains(link, "://") {
				t.Errorf("%s: link %q is not relative", target, link)
				continue
			}
			u := base.ResolveReference(must(url.Parse(link)))
			if !strings.HasPrefix(u.Path, "/deep/console/") {
				t.Errorf("%s: link %q leaves the prefix: %s", target, link, u.Path)
			}
			if link == "" { // a form that posts to its own page
				continue
			}
			req := httptest.NewRequest("GET", u.RequestURI(), nil)
			req.Header.Set("X-User", "admin")
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != 200 && rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s: link %q (%s) answers %d", target, link, u.Path, rec.Code)
			}
		}
	}
}

func TestAccountPage(t *testing.T) {
	f := newFixture(t)
	f.subs["alice"] = credits.Subscription{ID: "s", Anchor: t0, Plan: credits.Plan{Name: "Creator", Credits: 200 * credits.Credit, Interval: credits.Monthly,
		Rollover: credits.RolloverPolicy{Mode: credits.RollOverCapped, Max: 250 * credits.Credit}}}
	must(f.ledger.Renew(f.ctx, "alice", f.subs["alice"]))
	must(f.ledger.Hold(f.ctx, "alice", credits.HoldRequest{Key: "h", Amount: 7500000}))
	rec := f.page("alice", "GET", "/accounts/alice?tz=America/New_York", nil)
	body := rec.Body.String()
	for _, want := range []string{
		`<p class="amount" id="total">200</p>`, `id="held">7.5</p>`, `id="available">192.5</p>`,
		"Creator: 200 credits monthly", "2026-04-01 05:00 EDT", // the next renewal, in New York
		"At most 250 unused plan credits roll over", "Too little history to forecast",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].Value != "America/New_York" {
		t.Errorf("tz cookie: %v", c)
	}
	// The cookie carries the zone to the next page; a bad zone is a 400.
	req := httptest.NewRequest("GET", "/accounts/alice", nil)
	req.Header.Set("X-User", "alice")
	req.AddCookie(&http.Cookie{Name: "tz", Value: "America/New_York"})
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "2026-04-01 05:00 EDT") {
		t.Errorf("the cookie's zone was not used")
	}
	if rec := f.page("alice", "GET", "/accounts/alice?tz=Nowhere/Atlantis", nil); rec.Code != 400 {
		t.Errorf("bad zone: %d", rec.Code)
	}
	// An account with no entries.
	if rec := f.page("nobody", "GET", "/accounts/nobody", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "no entries yet") {
		t.Errorf("empty account: %d %s", rec.Code, rec.Body)
	}
}

// The support actions: a confirmation first, then the write, once, with
// the reason in its metadata; a second confirmation replays it.
func TestSupportActions(t *testing.T) {
	f := newFixture(t)
	must(f.ledger.Grant(f.ctx, "alice", credits.GrantRequest{Key: "g", Amount: 50 * credits.Credit, Source: credits.SourceTopUp}))
	charge := must(f.ledger.Charge(f.ctx, "alice", credits.ChargeRequest{Key: "c", Action: credits.VideoGeneration}))

	// Step one shows what would happen and writes nothing.
	rec := f.page("admin", "POST", "/support/accounts/alice/refund", url.Values{"entry": {"2"}})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Refund entry #2 of alice: Charge: video_generation 720p, 10 credits") {
		t.Fatalf("confirmation: %d %s", rec.Code, rec.Body)
	}
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(rec.Body.String())[1]
	if b := must(f.ledger.Balance(f.ctx, "alice")); b.Version != 2 {
		t.Fatal("the confirmation step wrote")
	}
	// Without a reason, no refund.
	form := url.Values{"entry": {"2"}, "amount": {"4"}, "key": {key}, "confirm": {"yes"}}
	if rec := f.page("admin", "POST", "/support/accounts/alice/refund", form); rec.Code != 400 || !strings.Contains(rec.Body.String(), "a reason is required") {
		t.Fatalf("no reason: %d %s", rec.Code, rec.Body)
	}
	form.Set("reason", "render failed")
	rec = f.page("admin", "POST", "/support/accounts/alice/refund", form)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "../../../support/accounts/alice?done=3&replayed=false" {
		t.Fatalf("refund: %d %v", rec.Code, rec.Header())
	}
	e := must(f.ledger.Entry(f.ctx, "alice", 3))
	if e.Kind != credits.KindRefund || e.Amount != 4*credits.Credit || e.Reverses != charge.ID || e.Metadata["reason"] != "render failed" {
		t.Fatalf("the refund: %+v", e)
	}
	// Confirming again (a double click, a reload) applies it once.
	rec = f.page("admin", "POST", "/support/accounts/alice/refund", form)
	if loc := rec.Header().Get("Location"); !strings.HasSuffix(loc, "done=3&replayed=true") {
		t.Fatalf("second confirmation: %d %s", rec.Code, loc)
	}
	if rec := f.page("admin", "GET", "/support/accounts/alice?done=3&replayed=true", nil); !strings.Contains(rec.Body.String(), "Already recorded, as entry #3") {
		t.Fatalf("flash: %s", rec.Body)
	}
	// Too much is the ledger's refusal, shown on the confirmation.
	form = url.Values{"entry": {"2"}, "amount": {"7"}, "key": {"k2"}, "confirm": {"yes"}, "reason": {"x"}}
	if rec := f.page("admin", "POST", "/support/accounts/alice/refund", form); rec.Code != 422 || !strings.Contains(rec.Body.String(), "left to refund") {
		t.Fatalf("too much: %d %s", rec.Code, rec.Body)
	}
	// A grant is not refundable.
	if rec := f.page("admin", "POST", "/support/accounts/alice/refund", url.Values{"entry": {"1"}}); rec.Code != 422 {
		t.Fatalf("refund of a grant: %d", rec.Code)
	}

	// Adjustments: up is a grant from source adjustment, down a charge.
	for _, c := range []struct {
		amount string
		kind   credits.Kind
		change credits.Credits
	}{{"12.5", credits.KindGrant, 12500000}, {"-2", credits.KindCharge, -2 * credits.Credit}} {
		before := must(f.ledger.Balance(f.ctx, "alice"))
		rec := f.page("admin", "POST", "/support/accounts/alice/adjust", url.Values{"amount": {c.amount}, "reason": {"goodwill"}})
		key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(rec.Body.String())[1]
		rec = f.page("admin", "POST", "/support/accounts/alice/adjust", url.Values{"amount": {c.amount}, "reason": {"goodwill"}, "key": {key}, "confirm": {"yes"}})
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("adjust %s: %d %s", c.amount, rec.Code, rec.Body)
		}
		after := must(f.ledger.Balance(f.ctx, "alice"))
		e := must(f.ledger.Entry(f.ctx, "alice", after.Version))
		if after.Total-before.Total != c.change || e.Kind != c.kind || e.Metadata["reason"] != "goodwill" || (c.kind == credits.KindGrant && e.Source != credits.SourceAdjustment) {
			t.Fatalf("adjust %s: %+v", c.amount, e)
		}
	}
	for _, amount := range []string{"", "0", "ten", "1.0000001"} {
		if rec := f.page("admin", "POST", "/support/accounts/alice/adjust", url.Values{"amount": {amount}, "reason": {"x"}}); rec.Code != 400 {
			t.Errorf("adjust by %q: %d", amount, rec.Code)
		}
	}
	// The support pages need OpSupport and the write's own op.
	h := console.New(f.ledger, console.Options{Authorize: func(r *http.Request, account string, op console.Op) error {
		if op == console.OpSupport || op == console.OpGrant {
			return nil
		}
		return console.ErrForbidden
	}})
	for amount, status := range map[string]int{"5": 200, "-5": 403} {
		req := httptest.NewRequest("POST", "/support/accounts/alice/adjust", strings.NewReader(url.Values{"amount": {amount}, "reason": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != status {
			t.Errorf("adjust by %s with grants only: %d", amount, rec.Code)
		}
	}
}
