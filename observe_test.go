package credits_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/avstudio/credits"
)

// recorder collects the events an Observer is told.
type recorder struct {
	mu     sync.Mutex
	events []credits.Event
}

func (r *recorder) observe(_ context.Context, ev credits.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func TestObserverSeesEveryOperationAndReplays(t *testing.T) {
	var global, perCall recorder
	l := credits.NewMemoryLedger(credits.Options{Observer: global.observe})
	ctx := context.Background()
	callCtx := credits.WithObserver(ctx, perCall.observe)

	if _, err := l.Grant(callCtx, "a", credits.GrantRequest{Key: "g1", Amount: 10 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	first, err := l.Charge(callCtx, "a", credits.ChargeRequest{Key: "c1", Amount: 3 * credits.Credit})
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Charge(callCtx, "a", credits.ChargeRequest{Key: "c1", Amount: 3 * credits.Credit})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Charge(ctx, "a", credits.ChargeRequest{Key: "c2", Amount: 30 * credits.Credit})
	if !errors.Is(err, credits.ErrInsufficientCredits) {
		t.Fatalf("charge of 30: %v", err)
	}
	if _, err := l.Balance(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	if len(global.events) != 5 {
		t.Fatalf("the ledger's observer saw %d events, want 5: %+v", len(global.events), global.events)
	}
	if len(perCall.events) != 3 {
		t.Fatalf("the context's observer saw %d events, want the 3 made with its context: %+v", len(perCall.events), perCall.events)
	}
	ev := global.events[1]
	if ev.Op != credits.OpCharge || ev.Account != "a" || ev.Key != "c1" || ev.Replayed || ev.Entry.ID != first.ID || ev.Err != nil {
		t.Errorf("first charge: %+v", ev)
	}
	ev = global.events[2]
	if !ev.Replayed || ev.Entry.ID != again.ID || again.ID != first.ID {
		t.Errorf("the retried charge is not reported as a replay of entry %d: %+v", first.ID, ev)
	}
	ev = global.events[3]
	if ev.Replayed || !errors.Is(ev.Err, credits.ErrInsufficientCredits) || ev.Entry.ID != 0 {
		t.Errorf("refused charge: %+v", ev)
	}
	if ev := global.events[4]; ev.Op != credits.OpBalance || ev.Duration < 0 || ev.Start.IsZero() {
		t.Errorf("balance: %+v", ev)
	}
}
