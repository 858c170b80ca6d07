package console_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
	"github.com/getkin/kin-openapi/openapi3"
)

func TestPricesAndQuotes(t *testing.T) {
	f := newFixture(t)
	res := f.do("", "GET", "/api/prices", nil)
	if res.Status != 200 {
		t.Fatalf("prices: %d %s", res.Status, res.Body)
	}
	var table struct {
		Version string             `json:"version"`
		Prices  map[string]float64 `json:"prices"`
	}
	res.json(t, &table)
	if table.Version != "v1" || table.Prices["video_generation"] != 10 {
		t.Fatalf("prices: %s", res.Body)
	}
	if res := f.do("", "GET", "/api/prices?version=v1", nil); res.Status != 200 {
		t.Fatalf("prices of v1: %d %s", res.Status, res.Body)
	}

	res = f.do("", "GET", "/api/quote?action=video_generation&resolution=4k&quantity=2", nil)
	var q struct {
		Total        credits.Credits `json:"total"`
		PriceVersion string          `json:"price_version"`
	}
	res.json(t, &q)
	if res.Status != 200 || q.Total != 80*credits.Credit || q.PriceVersion != "v1" {
		t.Fatalf("quote: %d %s", res.Status, res.Body)
	}
	if res := f.do("", "GET", "/api/quote?action=chat_message", nil); res.Status != 200 {
		t.Fatalf("quote of a chat message: %d %s", res.Status, res.Body)
	}

	for _, c := range []struct {
		target, sentinel, field string
		status                  int
	}{
		{"/api/prices?at=yesterday", "ErrInvalidInput", "at", 400},
		{"/api/prices?at=2020-01-01T00:00:00Z", "ErrUnknownPriceVersion", "", 422},
		{"/api/prices?version=v9", "ErrUnknownPriceVersion", "", 422},
		{"/api/prices?version=v1&at=2026-01-01T00:00:00Z", "ErrInvalidInput", "at", 400},
		{"/api/quote", "ErrInvalidInput", "action", 400},
		{"/api/quote?action=teleport", "ErrInvalidInput", "action", 400},
		{"/api/quote?action=chat_message&resolution=4k", "ErrInvalidInput", "resolution", 400},
		{"/api/quote?action=video_generation&resolution=8k", "ErrInvalidInput", "resolution", 400},
		{"/api/quote?action=chat_message&quantity=-1", "ErrInvalidInput", "quantity", 400},
		{"/api/quote?action=chat_message&quantity=many", "ErrInvalidInput", "quantity", 400},
		{"/api/quote?action=chat_message&quantity=9223372036854775807", "ErrOverflow", "", 422},
	} {
		res := f.do("", "GET", c.target, nil)
		p := res.problem(t)
		if res.Status != c.status || p.Error != c.sentinel || p.Field != c.field {
			t.Errorf("%s: %d %s, want %d %s field %q", c.target, res.Status, res.Body, c.status, c.sentinel, c.field)
		}
		if p.Type != "https://pkg.go.dev/github.com/avstudio/credits#"+c.sentinel {
			t.Errorf("%s: type %q", c.target, p.Type)
		}
	}
}

// POST /api/estimate answers what EstimateJob does for every job of the
// core's test data, and fails the invalid ones with DecodeJob's errors:
// the same sentinel, the same field path.
func TestEstimateMatchesTheCore(t *testing.T) {
	f := newFixture(t)
	table := must(credits.DefaultPriceBook().Version("v1"))
	files := must(filepath.Glob("../testdata/jobs/*.json"))
	invalid := must(filepath.Glob("../testdata/jobs/invalid/*.json"))
	if len(files) < 3 || len(invalid) < 10 {
		t.Fatalf("found %d jobs and %d invalid ones", len(files), len(invalid))
	}
	for _, name := range append(files, invalid...) {
		data := must(os.ReadFile(name))
		res := f.do("", "POST", "/api/estimate", data)
		job, err := credits.DecodeJob(strings.NewReader(string(data)))
		var want credits.Estimate
		if err == nil {
			want, err = table.EstimateJob(job)
		}
		if err != nil {
			var in *credits.InputError
			p := res.problem(t)
			if !errors.As(err, &in) || p.Field != in.Field || p.Error != "ErrInvalidInput" || res.Status != 400 {
				t.Errorf("%s: %d %s; DecodeJob: %v", name, res.Status, res.Body, err)
			}
			if p.Detail != err.Error() {
				t.Errorf("%s: detail %q, DecodeJob says %q", name, p.Detail, err.Error())
			}
			continue
		}
		var got credits.Estimate
		res.json(t, &got)
		if res.Status != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %d %s, want %+v", name, res.Status, res.Body, want)
		}
	}

	// DecodeJob's size limit, and malformed JSON.
	big := `{"pipeline": "json_to_mp4", "prompt": "` + strings.Repeat("x", credits.MaxJobSize) + `"}`
	for body, field := range map[string]string{big: "job", `{"pipeline": "json_to_mp4"`: "job", `[]`: "job"} {
		res := f.do("", "POST", "/api/estimate", body)
		_, err := credits.DecodeJob(strings.NewReader(body))
		var in *credits.InputError
		if p := res.problem(t); !errors.As(err, &in) || p.Field != in.Field || !strings.HasPrefix(p.Field, field) || res.Status != 400 {
			t.Errorf("body of %d bytes: %d %s; DecodeJob: %v", len(body), res.Status, res.Body, err)
		}
	}
}

// entry is the part of an entry the tests read.
type entry struct {
	ID           int64             `json:"id"`
	Kind         string            `json:"kind"`
	Amount       credits.Credits   `json:"amount"`
	Held         credits.Credits   `json:"held"`
	BalanceAfter credits.Credits   `json:"balance_after"`
	Hold         int64             `json:"hold"`
	Reverses     int64             `json:"reverses"`
	Key          string            `json:"key"`
	Metadata     map[string]string `json:"metadata"`
}

func (f *fixture) write(user, target, key string, body any) (*response, entry) {
	f.t.Helper()
	res := f.do(user, "POST", target, body, "Idempotency-Key", key)
	var e entry
	if res.Status == http.StatusCreated {
		res.json(f.t, &e)
	}
	return res, e
}

func TestWrites(t *testing.T) {
	f := newFixture(t)
	const acct = "/api/accounts/alice"

	// A grant, and its replay: the same status and entry, marked as a replay.
	res, g := f.write("alice", acct+"/grants", "topup-1", map[string]any{"amount": 50, "source": "topup", "metadata": map[string]string{"order": "1234"}})
	if res.Status != 201 || g.ID != 1 || g.Amount != 50*credits.Credit || res.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("grant: %d %v %s", res.Status, res.Header, res.Body)
	}
	res, again := f.write("alice", acct+"/grants", "topup-1", map[string]any{"amount": "50", "source": "topup", "metadata": map[string]string{"order": "1234"}})
	if res.Status != 201 || again.ID != g.ID || res.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed grant: %d %v %s", res.Status, res.Header, res.Body)
	}
	// The same key for another request.
	res, _ = f.write("alice", acct+"/grants", "topup-1", map[string]any{"amount": 60, "source": "topup"})
	if p := res.problem(t); res.Status != 409 || p.Error != "ErrIdempotencyConflict" || p.Entry != 1 {
		t.Fatalf("conflict: %d %s", res.Status, res.Body)
	}

	// A charge priced by action, and one the account cannot cover.
	res, c := f.write("alice", acct+"/charges", "clip-1", map[string]any{"action": "video_generation", "resolution": "1080p"})
	if res.Status != 201 || c.Amount != -20*credits.Credit || c.BalanceAfter != 30*credits.Credit {
		t.Fatalf("charge: %d %s", res.Status, res.Body)
	}
	res, _ = f.write("alice", acct+"/charges", "clip-2", map[string]any{"action": "video_generation", "resolution": "4k"})
	if p := res.problem(t); res.Status != 402 || p.Error != "ErrInsufficientCredits" || p.Shortfall != 10 {
		t.Fatalf("insufficient: %d %s", res.Status, res.Body)
	}

	// A hold, captured in part; a second capture finds it closed; an
	// unknown hold is not found.
	res, h := f.write("alice", acct+"/holds", "job-1/hold", map[string]any{"amount": 16, "deadline": t0.Add(3600e9)})
	if res.Status != 201 || h.Held != 16*credits.Credit {
		t.Fatalf("hold: %d %s", res.Status, res.Body)
	}
	res, cp := f.write("alice", fmt.Sprintf("%s/holds/%d/capture", acct, h.ID), "job-1/capture", map[string]any{"amount": 12})
	if res.Status != 201 || cp.Amount != -12*credits.Credit || cp.Hold != h.ID {
		t.Fatalf("capture: %d %s", res.Status, res.Body)
	}
	res, _ = f.write("alice", fmt.Sprintf("%s/holds/%d/release", acct, h.ID), "job-1/release", nil)
	if p := res.problem(t); res.Status != 409 || p.Error != "ErrHoldClosed" {
		t.Fatalf("release of a closed hold: %d %s", res.Status, res.Body)
	}
	res, _ = f.write("alice", acct+"/holds/99/release", "nope", nil)
	if p := res.problem(t); res.Status != 404 || p.Error != "ErrHoldNotFound" {
		t.Fatalf("release of no hold: %d %s", res.Status, res.Body)
	}
	_, h2 := f.write("alice", acct+"/holds", "job-2/hold", map[string]any{"amount": 1})
	res, rel := f.write("alice", fmt.Sprintf("%s/holds/%d/release", acct, h2.ID), "job-2/release", map[string]any{})
	if res.Status != 201 || rel.Kind != "release" {
		t.Fatalf("release: %d %s", res.Status, res.Body)
	}

	// Refunds: part of the capture, then the rest by default; a grant is
	// not refundable.
	res, rf := f.write("alice", fmt.Sprintf("%s/entries/%d/refund", acct, cp.ID), "refund-1", map[string]any{"amount": 2})
	if res.Status != 201 || rf.Amount != 2*credits.Credit || rf.Reverses != cp.ID {
		t.Fatalf("refund: %d %s", res.Status, res.Body)
	}
	res, rf = f.write("alice", fmt.Sprintf("%s/entries/%d/refund", acct, cp.ID), "refund-2", nil)
	if res.Status != 201 || rf.Amount != 10*credits.Credit {
		t.Fatalf("refund of the rest: %d %s", res.Status, res.Body)
	}
	res, _ = f.write("alice", fmt.Sprintf("%s/entries/%d/refund", acct, cp.ID), "refund-3", nil)
	if p := res.problem(t); res.Status != 422 || p.Error != "ErrNotRefundable" {
		t.Fatalf("refund of nothing left: %d %s", res.Status, res.Body)
	}
	res, _ = f.write("alice", acct+"/entries/1/refund", "refund-4", nil)
	if p := res.problem(t); res.Status != 422 || p.Error != "ErrNotRefundable" {
		t.Fatalf("refund of a grant: %d %s", res.Status, res.Body)
	}
	res, _ = f.write("alice", acct+"/entries/999/refund", "refund-5", nil)
	if p := res.problem(t); res.Status != 404 || p.Error != "ErrEntryNotFound" {
		t.Fatalf("refund of no entry: %d %s", res.Status, res.Body)
	}

	// Bad input, each naming the field at fault; none changes anything.
	before := must(f.ledger.Balance(f.ctx, "alice"))
	for _, c := range []struct {
		target, key string
		body        any
		field       string
	}{
		{acct + "/grants", "", map[string]any{"amount": 1, "source": "topup"}, "Idempotency-Key"},
		{acct + "/grants", "$reserved", map[string]any{"amount": 1, "source": "topup"}, "Idempotency-Key"},
		{acct + "/grants", "k1", map[string]any{"amount": 1, "source": "lottery"}, "source"},
		{acct + "/grants", "k1", map[string]any{"amount": 1.0000001, "source": "topup"}, "amount"},
		{acct + "/grants", "k1", map[string]any{"amount": "1e3", "source": "topup"}, "amount"},
		{acct + "/grants", "k1", map[string]any{"amount": -1, "source": "topup"}, "amount"},
		{acct + "/grants", "k1", map[string]any{"amount": 1}, "source"},
		{acct + "/grants", "k1", map[string]any{"amount": 1, "source": "topup", "account": "bob"}, "account"},
		{acct + "/grants", "k1", map[string]any{"amount": 1, "source": "topup", "priority": 1 << 40}, "priority"},
		{acct + "/grants", "k1", map[string]any{"amount": 1, "source": "topup", "expires_at": "soon"}, "expires_at"},
		{acct + "/grants", "k1", `{"amount": 1, "amount": 2, "source": "topup"}`, "amount"},
		{acct + "/grants", "k1", `{"amount": 1, "source": "topup"} {}`, "body"},
		{acct + "/grants", "k1", `[1]`, "body"},
		{acct + "/grants", "k1", `{"amount": 1, "source": "topup", "metadata": {"a": 1}}`, "metadata"},
		{acct + "/grants", "k1", strings.Repeat(" ", 70<<10), "body"},
		{acct + "/charges", "k1", map[string]any{"action": "teleport"}, "action"},
		{acct + "/charges", "k1", map[string]any{"action": "chat_message", "amount": 3}, "amount"},
		{acct + "/charges", "k1", map[string]any{"quantity": 2}, "action"},
		{acct + "/charges", "k1", map[string]any{"action": "chat_message", "quantity": 1.5}, "quantity"},
		{acct + "/holds", "k1", map[string]any{"amount": 0}, "amount"},
		{acct + "/holds", "k1", map[string]any{"amount": 1, "deadline": t0.Add(-1e9)}, "deadline"},
		{acct + "/holds/x/capture", "k1", map[string]any{"amount": 1}, "hold"},
		{acct + "/holds/0/release", "k1", nil, "hold"},
		{acct + "/entries/-3/refund", "k1", nil, "id"},
		{"/api/accounts/$bank/grants", "k1", map[string]any{"amount": 1, "source": "topup"}, "account"},
	} {
		res, _ := f.write("admin", c.target, c.key, c.body)
		p := res.problem(t)
		if res.Status != 400 || p.Error != "ErrInvalidInput" || p.Field != c.field {
			t.Errorf("%s %v: %d %s, want 400 naming %q", c.target, c.body, res.Status, res.Body, c.field)
		}
	}
	if after := must(f.ledger.Balance(f.ctx, "alice")); after.Version != before.Version {
		t.Fatalf("bad input changed the account: version %d, then %d", before.Version, after.Version)
	}
}

func TestReads(t *testing.T) {
	f := newFixture(t)
	must(f.ledger.Grant(f.ctx, "alice", credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}))
	for i := range 6 {
		f.clock.Advance(24 * 3600e9)
		must(f.ledger.Charge(f.ctx, "alice", credits.ChargeRequest{Key: fmt.Sprint("c", i), Action: credits.ChatMessage}))
	}

	res := f.do("alice", "GET", "/api/accounts/alice/balance", nil)
	var bal credits.Balance
	res.json(t, &bal)
	if want := must(f.ledger.Balance(f.ctx, "alice")); res.Status != 200 || bal != want {
		t.Fatalf("balance: %d %s, want %+v", res.Status, res.Body, want)
	}

	// History, page by page, then filtered.
	var ids []int64
	next := "/api/accounts/alice/history?limit=3"
	for next != "" {
		res := f.do("alice", "GET", next, nil)
		var p struct {
			Account string  `json:"account"`
			Entries []entry `json:"entries"`
			Next    int64   `json:"next"`
		}
		res.json(t, &p)
		if res.Status != 200 || p.Account != "alice" || len(p.Entries) > 3 {
			t.Fatalf("%s: %d %s", next, res.Status, res.Body)
		}
		for _, e := range p.Entries {
			ids = append(ids, e.ID)
		}
		next = ""
		if p.Next != 0 {
			next = fmt.Sprintf("/api/accounts/alice/history?limit=3&after=%d", p.Next)
		}
	}
	if fmt.Sprint(ids) != "[1 2 3 4 5 6 7]" {
		t.Fatalf("pages visited %v", ids)
	}
	for target, want := range map[string]string{
		"/api/accounts/alice/history?kind=grant":                                                    "[1]",
		"/api/accounts/alice/history?kind=grant,charge&limit=2":                                     "[1 2]",
		"/api/accounts/alice/history?kind=grant&kind=refund":                                        "[1]",
		"/api/accounts/alice/history?since=2026-03-03T09:00:00Z&until=2026-03-05T09:00:00Z":         "[3 4]",
		"/api/accounts/alice/history?after=6":                                                       "[7]",
		"/api/accounts/alice/history?after=7":                                                       "[]",
		"/api/accounts/alice/history?since=2026-03-05T10:00:00%2B01:00&until=2026-03-05T10:00:01Z":  "[5]",
		"/api/accounts/alice/history?kind=hold,capture,release,expire,rollover,claim,refund,charge": "[2 3 4 5 6 7]",
	} {
		res := f.do("alice", "GET", target, nil)
		var p struct{ Entries []entry }
		res.json(t, &p)
		var got []int64
		for _, e := range p.Entries {
			got = append(got, e.ID)
		}
		if res.Status != 200 || fmt.Sprint(got) != want && !(want == "[]" && got == nil) {
			t.Errorf("%s: %d %v, want %s", target, res.Status, got, want)
		}
	}
	for target, field := range map[string]string{
		"/api/accounts/alice/history?kind=gift":                                                          "kind",
		"/api/accounts/alice/history?limit=1001":                                                         "limit",
		"/api/accounts/alice/history?limit=x":                                                            "limit",
		"/api/accounts/alice/history?after=-1":                                                           "after",
		"/api/accounts/alice/history?since=today":                                                        "since",
		"/api/accounts/alice/entries/zero":                                                               "id",
		"/api/accounts/alice/statement?period=March":                                                     "period",
		"/api/accounts/alice/statement?from=2026-03-01T00:00:00Z":                                        "from",
		"/api/accounts/alice/statement?period=2026-03&tz=Mars/Olympus":                                   "tz",
		"/api/accounts/alice/statement?period=2026-03&from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z": "period",
		"/api/accounts/alice/statement?from=2026-04-01T00:00:00Z&to=2026-03-01T00:00:00Z":                "period",
	} {
		res := f.do("alice", "GET", target, nil)
		if p := res.problem(t); res.Status != 400 || p.Field != field {
			t.Errorf("%s: %d %s, want 400 naming %q", target, res.Status, res.Body, field)
		}
	}

	// One entry; an entry that is not there.
	res = f.do("alice", "GET", "/api/accounts/alice/entries/2", nil)
	var e entry
	res.json(t, &e)
	if res.Status != 200 || e.Kind != "charge" || e.Amount != -3*credits.Credit {
		t.Fatalf("entry: %d %s", res.Status, res.Body)
	}
	res = f.do("alice", "GET", "/api/accounts/alice/entries/8", nil)
	if p := res.problem(t); res.Status != 404 || p.Error != "ErrEntryNotFound" {
		t.Fatalf("no entry: %d %s", res.Status, res.Body)
	}

	// Statements: of a month, of a range, and the current period (the
	// subscription's once there is one).
	march := credits.Period{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	want := must(f.ledger.Statement(f.ctx, "alice", march))
	for _, target := range []string{
		"/api/accounts/alice/statement?period=2026-03",
		"/api/accounts/alice/statement?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z",
		"/api/accounts/alice/statement",
	} {
		res := f.do("alice", "GET", target, nil)
		var st credits.Statement
		res.json(t, &st)
		if res.Status != 200 || st.Closing != want.Closing || st.Opening != 0 || st.TotalSpent() != 18*credits.Credit || !st.Period.Equal(want.Period) {
			t.Errorf("%s: %d %s", target, res.Status, res.Body)
		}
	}
	res = f.do("alice", "GET", "/api/accounts/alice/statement?period=2026-03&tz=Asia/Tokyo", nil)
	var st credits.Statement
	res.json(t, &st)
	if res.Status != 200 || !st.Period.Start.Equal(time.Date(2026, 2, 28, 15, 0, 0, 0, time.UTC)) {
		t.Errorf("a month in Tokyo: %d %s", res.Status, res.Body)
	}
	f.subs["alice"] = credits.Subscription{ID: "alice-creator", Anchor: t0.Add(-2 * 3600e9),
		Plan: credits.Plan{Name: "Creator", Credits: 200 * credits.Credit, Interval: credits.Monthly}}
	res = f.do("alice", "GET", "/api/accounts/alice/statement", nil)
	res.json(t, &st)
	if res.Status != 200 || !st.Period.Start.Equal(t0.Add(-2*3600e9)) {
		t.Errorf("the subscription's period: %d %s", res.Status, res.Body)
	}

	// The document itself, and a route the API does not have.
	if res := f.do("", "GET", "/openapi.yaml", nil); res.Status != 200 || !strings.HasPrefix(string(res.Body), "openapi: 3") {
		t.Fatalf("openapi.yaml: %d", res.Status)
	}
	if res := f.do("admin", "GET", "/api/accounts/alice/spenders/x", nil); res.Status != 404 || res.problem(t).Status != 404 {
		t.Fatalf("no such route: %d %s", res.Status, res.Body)
	}
}

// GET usage answers what Ledger.Usage does, in its JSON form: each budget
// that covers the spender with its cap, what is spent and held in the
// window, what remains and when the window resets.
func TestUsage(t *testing.T) {
	f := newFixture(t)
	paris := must(time.LoadLocation("Europe/Paris"))
	must(f.ledger.Grant(f.ctx, "alice", credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}))
	must(f.ledger.SetBudget(f.ctx, "alice", credits.BudgetRequest{Key: "b1", Spender: "key_live_1", Cap: 10 * credits.Credit, Window: credits.Month(nil)}))
	must(f.ledger.SetBudget(f.ctx, "alice", credits.BudgetRequest{Key: "b2", Spender: "key_*", Cap: 30 * credits.Credit, Window: credits.Day(paris)}))
	must(f.ledger.Charge(f.ctx, "alice", credits.ChargeRequest{Key: "c1", Action: credits.ChatMessage, Spender: "key_live_1"}))
	must(f.ledger.Hold(f.ctx, "alice", credits.HoldRequest{Key: "h1", Amount: 2 * credits.Credit, Deadline: t0.Add(6 * time.Hour), Spender: "key_live_1"}))
	must(f.ledger.Charge(f.ctx, "alice", credits.ChargeRequest{Key: "c2", Action: credits.ChatMessage, Spender: "key_live_2"}))
	f.clock.Advance(3600e9)

	type usage struct {
		Account string            `json:"account"`
		Spender string            `json:"spender"`
		Usage   []json.RawMessage `json:"usage"`
	}
	for spender, n := range map[string]int{"key_live_1": 2, "key_live_2": 1, "key_*": 1, "other": 0, "*": 0} {
		res := f.do("alice", "GET", "/api/accounts/alice/usage?spender="+url.QueryEscape(spender), nil)
		var got usage
		res.json(t, &got)
		want := must(f.ledger.Usage(f.ctx, "alice", spender))
		if res.Status != 200 || got.Account != "alice" || got.Spender != spender || len(got.Usage) != n || len(want) != n {
			t.Fatalf("usage of %s: %d %s, want %d budgets", spender, res.Status, res.Body, n)
		}
		if n == 0 && !strings.Contains(string(res.Body), `"usage":[]`) {
			t.Errorf("usage of %s: %s, want an empty array", spender, res.Body)
		}
		for i := range want {
			if w := must(json.Marshal(want[i])); string(got.Usage[i]) != string(w) {
				t.Errorf("usage of %s, budget %d:\n got %s\nwant %s", spender, i, got.Usage[i], w)
			}
		}
	}

	// The spender's own budget, in full: a cap, what remains, when it resets.
	res := f.do("alice", "GET", "/api/accounts/alice/usage?spender=key_live_1", nil)
	var got struct{ Usage []credits.Usage }
	res.json(t, &got)
	own, group := got.Usage[0], got.Usage[1]
	if own.Budget.Spender != "key_live_1" || own.Budget.Cap != 10*credits.Credit || own.Budget.Window.Unit != credits.WindowMonth ||
		own.Spent != 3*credits.Credit || own.Held != 2*credits.Credit || own.Remaining != 5*credits.Credit ||
		!own.Start.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) || !own.ResetsAt.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("the spender's own budget: %+v", own)
	}
	if group.Budget.Spender != "key_*" || group.Budget.Window.Location.String() != "Europe/Paris" || group.Spent != 6*credits.Credit ||
		group.Held != 2*credits.Credit || group.Remaining != 22*credits.Credit || !group.ResetsAt.Equal(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("the group's budget: %+v", group)
	}
	if !strings.Contains(string(res.Body), `"resets_at":"2026-04-01T00:00:00Z"`) || !strings.Contains(string(res.Body), `"remaining":5}`) {
		t.Errorf("the JSON form: %s", res.Body)
	}

	// An account with no budgets, and one with no entries at all.
	for _, acct := range []string{"bob", "nobody"} {
		if acct == "bob" {
			must(f.ledger.Grant(f.ctx, "bob", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}))
		}
		res := f.do("admin", "GET", "/api/accounts/"+acct+"/usage?spender=key_live_1", nil)
		if res.Status != 200 || !strings.Contains(string(res.Body), `"usage":[]`) {
			t.Errorf("usage on %s: %d %s", acct, res.Status, res.Body)
		}
	}

	// A missing or invalid spender is bad input naming the field.
	for _, target := range []string{
		"/api/accounts/alice/usage",
		"/api/accounts/alice/usage?spender=",
		"/api/accounts/alice/usage?spender=%24system",
		"/api/accounts/alice/usage?spender=a%2Ab",
		"/api/accounts/alice/usage?spender=%2A%2A",
		"/api/accounts/alice/usage?spender=tab%09key",
		"/api/accounts/alice/usage?spender=" + strings.Repeat("k", 256),
		"/api/accounts/alice/usage?spender=key_live_1&spender=key_live_2",
		"/api/accounts/alice/usage?Spender=key_live_1",
	} {
		res := f.do("alice", "GET", target, nil)
		if p := res.problem(t); res.Status != 400 || p.Error != "ErrInvalidInput" || p.Field != "spender" {
			t.Errorf("%.80s: %d %s, want 400 naming spender", target, res.Status, res.Body)
		}
	}
	if res := f.do("alice", "GET", "/api/accounts/%24bank/usage?spender=k", nil); res.Status != 403 {
		t.Errorf("another account's usage: %d %s", res.Status, res.Body)
	}
	if res := f.do("admin", "GET", "/api/accounts/%24bank/usage?spender=k", nil); res.Status != 400 || res.problem(t).Field != "account" {
		t.Errorf("a reserved account's usage: %d %s", res.Status, res.Body)
	}
}

// An account with no entries has a zero balance and an empty history and
// statement, as the core answers them.
func TestUnknownAccount(t *testing.T) {
	f := newFixture(t)
	res := f.do("nobody", "GET", "/api/accounts/nobody/balance", nil)
	var b credits.Balance
	res.json(t, &b)
	if res.Status != 200 || b.Account != "nobody" || b.Total != 0 || b.Version != 0 {
		t.Fatalf("balance: %d %s", res.Status, res.Body)
	}
	res = f.do("nobody", "GET", "/api/accounts/nobody/history", nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), `"entries":[]`) {
		t.Fatalf("history: %d %s", res.Status, res.Body)
	}
	res = f.do("nobody", "GET", "/api/accounts/nobody/statement", nil)
	var st credits.Statement
	res.json(t, &st)
	if res.Status != 200 || st.Opening != 0 || st.Closing != 0 {
		t.Fatalf("statement: %d %s", res.Status, res.Body)
	}
}

// Every operation of the OpenAPI document is checked against a real
// response by the tests before this one, which run first (in file order).
func TestEveryOperationValidated(t *testing.T) {
	if run := flag.Lookup("test.run").Value.String(); run != "" {
		t.Skip("run without -run: the other tests make the responses checked")
	}
	loader := openapi3.NewLoader()
	doc := must(loader.LoadFromData(console.OpenAPI()))
	n := 0
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			n++
			if specChecked[op.OperationID] == 0 {
				t.Errorf("no response of %s was validated against the OpenAPI document", op.OperationID)
			}
		}
	}
	if n < 14 {
		t.Fatalf("the document has %d operations", n)
	}
}

// The balance's hand-written JSON is json.Marshal's, byte for byte.
func TestBalanceJSON(t *testing.T) {
	for _, account := range []string{"alice", `a"b\c`, "<script>&", "é ü 日本", "line\u2028sep", "x\u007f"} {
		for _, amount := range []credits.Credits{0, 1, -1, 2500000, credits.MaxCredits, credits.MinCredits} {
			b := credits.Balance{Account: account, Total: amount, Held: amount / 3, Available: amount - amount/3,
				AsOf: time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC), Version: 1 << 40}
			want, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := console.AppendBalance(nil, &b); string(got) != string(want)+"\n" {
				t.Errorf("%q %s:\n got %s\nwant %s", account, amount, got, want)
			}
		}
	}
}
