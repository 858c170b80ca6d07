package credits

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// FeedPage is one page of the feed of every account's entries.
type FeedPage struct {
	Entries []Entry
	// Next is the cursor to read on from (the page's Cursor again when
	// there was nothing new): keep it, and pass it to the next Feed.
	Next Cursor
}

// Feed returns the entries of every account that became durable after
// the cursor after ("" for the start), in an order consistent with commit
// order (each account's in ID order), at most limit of them (0 means 100;
// at most 1000). Following Next sees every entry once, and never one
// before the write that made it returned, nor one of a write that failed,
// on every backend (see [Backend.Feed]). An empty page is not the end: the
// feed grows; read again later from Next, or let [Ledger.Consume] do it.
// The ledger's own records (accounts whose names begin with '$', such as
// the record of who took a free-tier claim key) are left out, so a page
// may hold fewer entries than limit, or none, before the end.
func (l *Ledger) Feed(ctx context.Context, after Cursor, limit int) (_ FeedPage, err error) {
	ob := l.begin(ctx, OpFeed, "", "")
	defer func() { ob.end(Entry{}, err) }()
	switch {
	case limit < 0 || limit > maxPage:
		return FeedPage{}, inputErr("limit", fmt.Sprint(limit), fmt.Sprintf("must be 0 to %d", maxPage))
	case limit == 0:
		limit = 100
	}
	if err := checkCursor(after); err != nil {
		return FeedPage{}, err
	}
	es, next, err := l.feed(ctx, OpFeed, after, limit)
	if err != nil {
		return FeedPage{}, err
	}
	return FeedPage{Entries: withoutRecords(es), Next: next}, nil
}

// checkCursor accepts what a backend could have made: short printable
// text.
func checkCursor(c Cursor) error {
	if c == "" {
		return nil
	}
	return checkText("cursor", string(c), 600)
}

// Accounts returns the names of the accounts that have entries, in
// ascending byte order, after the name after ("" for the first), at most
// limit of them (0 means 100; at most 1000): for tools that visit every
// account (a sweep of what is due, a verification). The ledger's own
// records ('$' names) are left out.
func (l *Ledger) Accounts(ctx context.Context, after string, limit int) (_ []string, err error) {
	ob := l.begin(ctx, OpAccounts, "", "")
	defer func() { ob.end(Entry{}, err) }()
	switch {
	case limit < 0 || limit > maxPage:
		return nil, inputErr("limit", fmt.Sprint(limit), fmt.Sprintf("must be 0 to %d", maxPage))
	case limit == 0:
		limit = 100
	}
	var out []string
	for len(out) < limit {
		names, err := l.accounts(ctx, OpAccounts, after, limit)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !strings.HasPrefix(n, reservedPrefix) && len(out) < limit {
				out = append(out, n)
			}
		}
		if len(names) < limit {
			break // the last page
		}
		after = names[len(names)-1]
	}
	return out, nil
}

// commits wakes the consumers of a Ledger that wait for new entries when
// a write of this Ledger stores some. It costs a write one atomic load
// while nobody waits.
type commits struct {
	waiting atomic.Int32
	mu      sync.Mutex
	ch      chan struct{}
}

// wait returns a channel that is closed at the next commit; done must be
// called once the caller stops waiting.
func (c *commits) wait() (ch <-chan struct{}, done func()) {
	c.waiting.Add(1)
	c.mu.Lock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	ch = c.ch
	c.mu.Unlock()
	return ch, func() { c.waiting.Add(-1) }
}

// committed wakes whoever waits.
func (c *commits) committed() {
	if c.waiting.Load() == 0 {
		return
	}
	c.mu.Lock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
	c.mu.Unlock()
}

// withoutRecords drops the entries of the ledger's own records ('$'
// accounts) from es, in place.
func withoutRecords(es []Entry) []Entry {
	out := es[:0]
	for _, e := range es {
		if !strings.HasPrefix(e.Account, reservedPrefix) {
			out = append(out, e)
		}
	}
	return out
}
