package console_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// TestSpenderWrites: charges and holds name a spender, are held to its
// budget in the ledger's decision, and a refusal is a 402 problem that
// says which budget, how much is spent and held in its window and when it
// resets; a multi-capture hold is captured step by step, the last capture
// final.
func TestSpenderWrites(t *testing.T) {
	f := newFixture(t)
	const acct = "/api/accounts/alice"
	must(f.ledger.Grant(f.ctx, "alice", credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}))
	must(f.ledger.SetBudget(f.ctx, "alice", credits.BudgetRequest{Key: "b", Spender: "key_live_7", Cap: 10 * credits.Credit, Window: credits.Day(nil)}))

	res, c := f.write("alice", acct+"/charges", "c1", map[string]any{"action": "chat_message", "spender": "key_live_7"})
	var spent struct {
		Spender string `json:"spender"`
	}
	res.json(t, &spent)
	if res.Status != 201 || c.Amount != -3*credits.Credit || spent.Spender != "key_live_7" {
		t.Fatalf("charge of a spender: %d %s", res.Status, res.Body)
	}

	// A multi-capture hold of the spender: 5 held, 3 captured, then the
	// final capture of 1 gives the last 1 back.
	res, h := f.write("alice", acct+"/holds", "job/hold", map[string]any{"amount": 5, "spender": "key_live_7", "multi_capture": true})
	if res.Status != 201 || h.Held != 5*credits.Credit {
		t.Fatalf("multi-capture hold: %d %s", res.Status, res.Body)
	}
	res, _ = f.write("alice", fmt.Sprintf("%s/holds/%d/capture", acct, h.ID), "job/step-1", map[string]any{"amount": 3})
	if res.Status != 201 {
		t.Fatalf("first capture: %d %s", res.Status, res.Body)
	}
	if b := must(f.ledger.Balance(f.ctx, "alice")); b.Held != 2*credits.Credit {
		t.Fatalf("after a capture that is not final, held %s, want 2", b.Held)
	}

	// Spent 6 and held 2 of a cap of 10: a charge of 3 is refused, in
	// full, and changes nothing.
	before := must(f.ledger.Balance(f.ctx, "alice"))
	res, _ = f.write("alice", acct+"/charges", "c2", map[string]any{"amount": 3, "spender": "key_live_7"})
	var p struct {
		Status    int             `json:"status"`
		Error     string          `json:"error"`
		Spender   string          `json:"spender"`
		Budget    *string         `json:"budget"`
		Cap       credits.Credits `json:"cap"`
		Window    json.RawMessage `json:"window"`
		Spent     credits.Credits `json:"spent"`
		Held      credits.Credits `json:"held"`
		Requested credits.Credits `json:"requested"`
		ResetsAt  time.Time       `json:"resets_at"`
	}
	res.problem(t)
	res.json(t, &p)
	if res.Status != 402 || p.Error != "ErrBudgetExceeded" || p.Spender != "key_live_7" || p.Budget == nil || *p.Budget != "key_live_7" ||
		p.Cap != 10*credits.Credit || string(p.Window) != `{"unit":"day"}` || p.Spent != 6*credits.Credit || p.Held != 2*credits.Credit ||
		p.Requested != 3*credits.Credit || !p.ResetsAt.Equal(t0.Truncate(24*time.Hour).Add(24*time.Hour)) {
		t.Fatalf("a charge over the budget: %d %s", res.Status, res.Body)
	}
	if after := must(f.ledger.Balance(f.ctx, "alice")); after != before {
		t.Fatalf("a refused charge changed the balance: %+v, then %+v", before, after)
	}
	// Another spender is not held to key_live_7's budget.
	if res, _ := f.write("alice", acct+"/charges", "c3", map[string]any{"amount": 3, "spender": "key_live_8"}); res.Status != 201 {
		t.Fatalf("a charge of another spender: %d %s", res.Status, res.Body)
	}

	// The final capture closes the hold and gives back the rest, which
	// the budget gets back too: now 2 of the cap remain, and a charge of 2 goes.
	res, _ = f.write("alice", fmt.Sprintf("%s/holds/%d/capture", acct, h.ID), "job/step-2", map[string]any{"amount": 1, "final": true})
	if res.Status != 201 {
		t.Fatalf("final capture: %d %s", res.Status, res.Body)
	}
	if b := must(f.ledger.Balance(f.ctx, "alice")); b.Held != 0 {
		t.Fatalf("after the final capture, held %s, want 0", b.Held)
	}
	if res, _ := f.write("alice", acct+"/charges", "c4", map[string]any{"amount": 2, "spender": "key_live_7"}); res.Status != 201 {
		t.Fatalf("a charge within what the budget has left: %d %s", res.Status, res.Body)
	}

	// Bad input names the member.
	for body, field := range map[string]string{
		`{"amount": 1, "spender": 7}`:                  "spender",
		`{"amount": 1, "spender": "$ledger"}`:          "spender",
		`{"amount": 1, "multi_capture": "yes please"}`: "multi_capture",
	} {
		target := acct + "/charges"
		if field == "multi_capture" {
			target = acct + "/holds"
		}
		res := f.do("alice", "POST", target, body, "Idempotency-Key", "bad")
		if p := res.problem(t); res.Status != 400 || p.Field != field {
			t.Errorf("%s: %d %s, want 400 naming %s", body, res.Status, res.Body, field)
		}
	}
}
