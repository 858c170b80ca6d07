package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
)

// An account cannot read or write another's data through the console,
// whatever it sends: the account comes from the path alone, Authorize
// decides on it, and every hold and entry ID is the path account's.
func TestAnAccountReachesOnlyItsOwnData(t *testing.T) {
	f := newFixture(t)
	const secret = "bob-secret-7f3a" // in bob's metadata and keys: must never reach alice
	must(f.ledger.Grant(f.ctx, "bob", credits.GrantRequest{Key: secret + "-grant", Amount: 500 * credits.Credit, Source: credits.SourceTopUp, Metadata: map[string]string{"note": secret}}))
	bobCharge := must(f.ledger.Charge(f.ctx, "bob", credits.ChargeRequest{Key: secret + "-charge", Action: credits.VideoGeneration, Metadata: map[string]string{"note": secret}}))
	bobHold := must(f.ledger.Hold(f.ctx, "bob", credits.HoldRequest{Key: secret + "-hold", Amount: 50 * credits.Credit}))
	// bob's budget and its spender's usage, with a cap found nowhere else.
	const bobCap = "123.456789"
	must(f.ledger.SetBudget(f.ctx, "bob", credits.BudgetRequest{Key: secret + "-budget", Spender: "key_1", Cap: must(credits.Parse(bobCap)), Window: credits.Month(nil)}))
	must(f.ledger.Charge(f.ctx, "bob", credits.ChargeRequest{Key: secret + "-spend", Action: credits.ChatMessage, Spender: "key_1"}))
	must(f.ledger.Grant(f.ctx, "alice", credits.GrantRequest{Key: "a-grant", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}))
	bobBefore := must(f.ledger.History(f.ctx, "bob", credits.HistoryQuery{}))

	// The same request aimed at bob every way a client could try.
	writeBody := `{"amount": 1, "source": "topup", "account": "bob", "metadata": {"account": "bob"}}`
	tricks := []struct{ method, target, body string }{
		// bob in the path, however written.
		{"GET", "/api/accounts/bob/balance", ""},
		{"GET", "/api/accounts/bob/history", ""},
		{"GET", "/api/accounts/bob/history?account=alice", ""},
		{"GET", "/api/accounts/bob/entries/1", ""},
		{"GET", "/api/accounts/bob/statement", ""},
		{"GET", "/api/accounts/bob/usage?spender=key_1", ""},
		{"GET", "/api/accounts/bob/usage?spender=key_%2A", ""},
		{"GET", "/api/accounts/%62ob/usage?spender=key_1", ""},
		{"GET", "/api/accounts/%62ob/balance", ""},
		{"GET", "/api/accounts/Bob/balance", ""},
		{"GET", "/api/accounts/bob%20/balance", ""},
		{"GET", "/api/accounts/alice%2F..%2Fbob/balance", ""},
		{"GET", "/api/accounts/alice%2Fbob/balance", ""},
		{"POST", "/api/accounts/bob/grants", `{"amount": 1, "source": "topup"}`},
		{"POST", "/api/accounts/bob/charges", `{"amount": 1}`},
		{"POST", "/api/accounts/bob/holds", `{"amount": 1}`},
		{"POST", fmt.Sprintf("/api/accounts/bob/holds/%d/capture", bobHold.ID), `{"amount": 1}`},
		{"POST", fmt.Sprintf("/api/accounts/bob/holds/%d/release", bobHold.ID), ``},
		{"POST", fmt.Sprintf("/api/accounts/bob/entries/%d/refund", bobCharge.ID), ``},
		{"GET", "/accounts/bob", ""},
		{"GET", "/support/accounts/bob", ""},
		{"GET", "/support?account=bob", ""},
		{"POST", "/support/accounts/bob/refund", "entry=2&amount=1&reason=x&confirm=yes&key=k"},
		{"POST", "/support/accounts/bob/adjust", "amount=5&reason=x&confirm=yes&key=k"},
		// alice's own path, with bob in the query, body or headers.
		{"GET", "/api/accounts/alice/balance?account=bob", ""},
		{"GET", "/api/accounts/alice/history?account=bob&after=0", ""},
		{"GET", fmt.Sprintf("/api/accounts/alice/entries/%d?account=bob", bobCharge.ID), ""},
		{"GET", "/api/accounts/alice/usage?spender=key_1&account=bob", ""},
		{"POST", "/api/accounts/alice/grants?account=bob", writeBody},
		{"POST", "/api/accounts/alice/charges", `{"amount": 1, "account": "bob"}`},
		// bob's hold and entry IDs through alice's account.
		{"POST", fmt.Sprintf("/api/accounts/alice/holds/%d/capture", bobHold.ID), `{"amount": 1}`},
		{"POST", fmt.Sprintf("/api/accounts/alice/holds/%d/release", bobHold.ID), ``},
		{"POST", fmt.Sprintf("/api/accounts/alice/entries/%d/refund", bobCharge.ID), ``},
		{"GET", "/accounts/alice?account=bob", ""},
	}
	headers := []string{"X-Account", "bob", "X-Forwarded-User", "bob", "X-Original-URL", "/api/accounts/bob/balance",
		"X-Rewrite-URL", "/api/accounts/bob/balance", "Idempotency-Key", "alice-trick"}
	for i, c := range tricks {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		req.Header.Set("X-User", "alice")
		for j := 0; j+1 < len(headers); j += 2 {
			req.Header.Set(headers[j], headers[j+1])
		}
		req.Header.Set("Idempotency-Key", fmt.Sprintf("alice-trick-%d", i))
		if strings.HasPrefix(c.target, "/support/") && c.method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if strings.Contains(body, secret) || strings.Contains(body, `"account":"bob"`) || strings.Contains(body, bobCap) {
			t.Errorf("%s %s: bob's data in the response: %s", c.method, c.target, body)
		}
		if rec.Code >= 500 {
			t.Errorf("%s %s: %d %s", c.method, c.target, rec.Code, body)
		}
		if strings.Contains(c.target, "bob") && !strings.Contains(c.target, "account=bob") && rec.Code < 400 && rec.Code != http.StatusSeeOther {
			t.Errorf("%s %s: %d, want a refusal", c.method, c.target, rec.Code)
		}
	}
	// bob's account is as it was; alice's own history never names bob.
	if after := must(f.ledger.History(f.ctx, "bob", credits.HistoryQuery{})); !reflect.DeepEqual(after, bobBefore) {
		t.Fatalf("bob's history changed:\n%+v\n%+v", bobBefore, after)
	}
	for _, e := range must(f.ledger.History(f.ctx, "alice", credits.HistoryQuery{})).Entries {
		if strings.Contains(fmt.Sprint(e), "bob") {
			t.Errorf("alice's entry %d mentions bob: %+v", e.ID, e)
		}
	}
	if o := must(f.ledger.History(f.ctx, "bob", credits.HistoryQuery{Kinds: []credits.Kind{credits.KindCapture, credits.KindRelease}})); len(o.Entries) != 0 {
		t.Fatalf("bob's hold was closed: %+v", o.Entries)
	}
}

// What Authorize is asked: every request, with the path's account and
// the operation, before the handler reads anything.
func TestAuthorizeSeesEveryRequest(t *testing.T) {
	type call struct {
		account string
		op      console.Op
	}
	var calls []call
	l := credits.NewMemoryLedger(credits.Options{})
	h := console.New(l, console.Options{Authorize: func(r *http.Request, account string, op console.Op) error {
		calls = append(calls, call{account, op})
		return console.ErrForbidden
	}})
	for target, want := range map[string]call{
		"GET /api/prices":                       {"", console.OpPublic},
		"POST /api/estimate":                    {"", console.OpPublic},
		"GET /openapi.yaml":                     {"", console.OpPublic},
		"GET /static/console.css":               {"", console.OpPublic},
		"GET /api/accounts/a%20b/balance":       {"a b", console.OpRead},
		"GET /api/accounts/a/history":           {"a", console.OpRead},
		"GET /api/accounts/a/statement":         {"a", console.OpRead},
		"GET /api/accounts/a/entries/1":         {"a", console.OpRead},
		"GET /api/accounts/a/usage?spender=k":   {"a", console.OpRead},
		"POST /api/accounts/a/grants":           {"a", console.OpGrant},
		"POST /api/accounts/a/charges":          {"a", console.OpCharge},
		"POST /api/accounts/a/holds":            {"a", console.OpHold},
		"POST /api/accounts/a/holds/1/capture":  {"a", console.OpCapture},
		"POST /api/accounts/a/holds/1/release":  {"a", console.OpRelease},
		"POST /api/accounts/a/entries/1/refund": {"a", console.OpRefund},
		"GET /accounts/a":                       {"a", console.OpRead},
		"GET /support":                          {"", console.OpSupport},
		"GET /support/accounts/a":               {"a", console.OpSupport},
		"POST /support/accounts/a/refund":       {"a", console.OpSupport},
		"POST /support/accounts/a/adjust":       {"a", console.OpSupport},
	} {
		calls = nil
		method, target, _ := strings.Cut(target, " ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		if len(calls) != 1 || calls[0] != want {
			t.Errorf("%s %s: Authorize saw %v, want %v", method, target, calls, want)
		}
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s %s: %d after a refusal", method, target, rec.Code)
		}
	}
}

// The default refuses every account and every write, and lets the
// public API through; an unauthenticated request is a 401.
func TestDefaultAuthorize(t *testing.T) {
	l := credits.NewMemoryLedger(credits.Options{})
	must(l.Grant(t.Context(), "alice", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}))
	h := console.New(l, console.Options{})
	for target, status := range map[string]int{
		"GET /api/prices":                     200,
		"GET /openapi.yaml":                   200,
		"GET /":                               200,
		"GET /api/accounts/alice/balance":     403,
		"GET /accounts/alice":                 403,
		"GET /support":                        403,
		"POST /api/accounts/alice/grants":     403,
		"POST /support/accounts/alice/adjust": 403,
	} {
		method, target, _ := strings.Cut(target, " ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(`{"amount": 1, "source": "topup"}`)))
		if rec.Code != status {
			t.Errorf("%s %s: %d, want %d", method, target, rec.Code, status)
		}
	}
	if b := must(l.Balance(t.Context(), "alice")); b.Version != 1 {
		t.Fatalf("the default let a write through: %+v", b)
	}

	f := newFixture(t)
	res := f.do("", "GET", "/api/accounts/alice/balance", nil)
	if p := res.problem(t); res.Status != 401 {
		t.Fatalf("no user: %d %+v", res.Status, p)
	}
}

// Browsers' cross-site form posts are refused, so that a page elsewhere
// cannot make a signed-in support agent refund.
func TestCrossOriginPostsRefused(t *testing.T) {
	f := newFixture(t)
	must(f.ledger.Grant(f.ctx, "alice", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}))
	form := url.Values{"amount": {"5"}, "reason": {"x"}, "confirm": {"yes"}, "key": {"k"}}
	req := httptest.NewRequest("POST", "/support/accounts/alice/adjust", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-User", "admin")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", rec.Code)
	}
	if b := must(f.ledger.Balance(f.ctx, "alice")); b.Total != credits.Credit {
		t.Fatalf("the cross-site post changed the balance: %+v", b)
	}
}
