package pgledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// TestFeedWaitsForASlowWriter interleaves, on purpose, the case every
// outbox must get right: writer A begins its transaction (and gets its
// transaction ID) first, writer B begins after it and commits first, and a
// reader reads the feed between the two commits. A reader by "sequence >
// cursor" would return B's entry, move its cursor past it, and never see
// A's entry, committed later with a smaller number. The feed returns
// nothing of B while A is in flight (B's transaction is newer than the
// oldest still running), then both, A's first, and nothing is skipped.
func TestFeedWaitsForASlowWriter(t *testing.T) {
	b, _ := newBackend(t)
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	page, err := l.Feed(ctx, "", 100)
	if err != nil || len(page.Entries) != 0 {
		t.Fatalf("the feed of a new ledger: %+v, %v", page, err)
	}
	start := page.Next

	inA := make(chan struct{})
	finishA := make(chan struct{})
	var finish sync.Once
	letAFinish := func() { finish.Do(func() { close(finishA) }) }
	t.Cleanup(letAFinish) // so that a failure does not leave A waiting
	doneA := make(chan error, 1)
	go func() {
		// A's decision runs inside its transaction, after the row lock
		// gave it a transaction ID; it waits there until told to go on.
		doneA <- credits.UpdateOne(ctx, b, "slow A", "", func(s *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
			close(inA)
			<-finishA
			return grantEntries(s, "slow A")
		})
	}()
	<-inA
	if _, err := l.Grant(ctx, "fast B", credits.GrantRequest{Key: "b", Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	// B is committed and readable by ID, but the feed holds it back while
	// A, older, is in flight.
	if e, err := l.Entry(ctx, "fast B", 1); err != nil || e.Amount != credits.Credit {
		t.Fatalf("B's entry: %+v, %v", e, err)
	}
	page, err = l.Feed(ctx, start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 0 {
		t.Fatalf("while the older transaction A is in flight, the feed gave %d entries (%s of %q first): a reader past them would miss A's",
			len(page.Entries), page.Entries[0].Kind, page.Entries[0].Account)
	}
	letAFinish()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	var got []credits.Entry
	cursor := page.Next
	for deadline := time.Now().Add(5 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		p, err := l.Feed(ctx, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Entries...)
		cursor = p.Next
	}
	if len(got) != 2 || got[0].Account != "slow A" || got[1].Account != "fast B" {
		t.Fatalf("after both committed, the feed gave %+v; want A's entry, then B's", got)
	}
	if p, err := l.Feed(ctx, cursor, 100); err != nil || len(p.Entries) != 0 || p.Next != cursor {
		t.Fatalf("the feed after both: %+v, %v", p, err)
	}
}

// grantEntries makes a grant of one credit on a new account's state, as
// the Ledger would: the backend stores whatever a decision returns.
func grantEntries(s *credits.AccountState, account string) ([]credits.Entry, error) {
	l := credits.NewMemoryLedger(credits.Options{})
	e, err := l.Grant(context.Background(), account, credits.GrantRequest{Key: "a", Amount: credits.Credit, Source: credits.SourceTopUp})
	if err != nil {
		return nil, err
	}
	rebuilt, err := credits.Rebuild([]credits.Entry{e})
	if err != nil {
		return nil, err
	}
	*s = *rebuilt
	return []credits.Entry{e}, nil
}
