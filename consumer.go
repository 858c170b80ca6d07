package credits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Handler handles a batch of entries from the feed, for [Ledger.Consume].
// An error makes the consumer try the same batch again, later.
type Handler func(ctx context.Context, entries []Entry) error

// ConsumeOptions tunes [Ledger.Consume]. The zero value is ready to use.
type ConsumeOptions struct {
	// Batch is the most entries one call of the handler gets. Zero means
	// 100; at most 1000.
	Batch int

	// Lease is how long an instance holds the consumer without renewing
	// it: if it dies, another instance takes over once the lease ends, by
	// the ledger's clock. Zero means 30 seconds. A handler should take
	// well under it (see Consume).
	Lease time.Duration

	// Poll is how long an instance waits before it reads the feed again
	// once it is drained, or tries again for a lease another instance
	// holds. Writes of the same Ledger wake it at once. Zero means 250
	// milliseconds.
	Poll time.Duration

	// Retry is how long an instance waits before it gives a failed batch
	// to the handler again; the wait doubles with each failure in a row,
	// up to a tenth of Lease. Zero means 100 milliseconds.
	Retry time.Duration
}

func (o *ConsumeOptions) defaults() error {
	switch {
	case o.Batch < 0 || o.Batch > maxPage:
		return inputErr("batch", fmt.Sprint(o.Batch), fmt.Sprintf("must be 0 to %d", maxPage))
	case o.Lease < 0:
		return inputErr("lease", o.Lease.String(), "must not be negative")
	case o.Poll < 0:
		return inputErr("poll", o.Poll.String(), "must not be negative")
	case o.Retry < 0:
		return inputErr("retry", o.Retry.String(), "must not be negative")
	}
	if o.Batch == 0 {
		o.Batch = 100
	}
	if o.Lease == 0 {
		o.Lease = 30 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Retry == 0 {
		o.Retry = 100 * time.Millisecond
	}
	return nil
}

// Consume runs the durable consumer named name: it hands the feed's
// entries to h, batch by batch, in the feed's order, from where the
// consumer last got to, until ctx is done; then it returns ctx's error.
// The consumer's position is stored by the backend, with the ledger's
// accounts, so a consumer restarted (in this process or another) goes on
// where it left off.
//
// Delivery is at least once to the handler, and effectively once for an
// idempotent handler:
//
//   - A batch is handed over again until h returns nil; only then does the
//     position move past it. A handler that fails is retried, with the
//     same batch, after Retry, doubling.
//   - Any number of instances may run the same consumer; one holds it at
//     a time, by a lease in the backend (see ConsumeOptions.Lease), and
//     the others wait. Two instances never both hand one batch over while
//     the lease holds. If an instance dies (or its handler outlives the
//     lease), another takes over from the stored position: the batch the
//     first was handling, if it did not finish, is handed over again.
//   - So a handler makes its effects idempotent. A handler that writes to
//     the ledger uses an idempotency key derived from the entry that
//     triggered it, such as "topup/" + e.Account + "/" + fmt.Sprint(e.ID):
//     a batch handed over twice then writes once.
//
// Consume returns early, with an error, for invalid options or name, and
// for a failure of the backend (so that the service sees it; run Consume
// again to go on). The Ledger must be the only user of its consumers'
// records in the backend.
func (l *Ledger) Consume(ctx context.Context, name string, h Handler, opts ConsumeOptions) error {
	if err := checkText("consumer", name, maxKeyLen); err != nil {
		return err
	}
	if h == nil {
		return inputErr("handler", "", "is required")
	}
	if err := opts.defaults(); err != nil {
		return err
	}
	owner, err := newOwner()
	if err != nil {
		return err
	}
	c := &consumer{l: l, name: name, owner: owner, h: h, opts: opts}
	for {
		if err := ctx.Err(); err != nil {
			c.release()
			return err
		}
		err := c.claim(ctx)
		switch {
		case errors.Is(err, ErrLeaseHeld), errors.Is(err, ErrConflict):
			if err := c.sleep(ctx, opts.Poll); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		if err := c.run(ctx); !errors.Is(err, ErrConflict) {
			c.release()
			return err
		}
		// ErrConflict: another instance took the consumer over; wait for
		// it to let go.
	}
}

// consumer is one instance of a consumer, running.
type consumer struct {
	l     *Ledger
	name  string
	owner string
	h     Handler
	opts  ConsumeOptions
	rec   ConsumerRecord // as last stored by this instance
}

func newOwner() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("credits: consume: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// claim takes the consumer's lease: it must be free, ended, or this
// instance's.
func (c *consumer) claim(ctx context.Context) error {
	rec, err := c.l.loadConsumer(ctx, c.name)
	if err != nil {
		return err
	}
	now := c.l.Now()
	if rec.Owner != "" && rec.Owner != c.owner && now.Before(rec.Until) {
		return fmt.Errorf("consumer %q is held by %s until %s: %w", c.name, rec.Owner, rec.Until.Format(time.RFC3339), ErrLeaseHeld)
	}
	return c.save(ctx, rec, rec.Cursor)
}

// save stores the consumer's record at cursor, renewing the lease: rec
// is the record as last read or stored.
func (c *consumer) save(ctx context.Context, rec ConsumerRecord, cursor Cursor) error {
	next := ConsumerRecord{Name: c.name, Cursor: cursor, Owner: c.owner, Until: c.l.Now().Add(c.opts.Lease), Version: rec.Version + 1}
	if err := c.l.saveConsumer(ctx, next); err != nil {
		return err
	}
	c.rec = next
	return nil
}

// run hands batches over while this instance holds the lease. It returns
// ErrConflict when the lease is lost, ctx's error when ctx is done, and a
// backend's failure.
func (c *consumer) run(ctx context.Context) error {
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.rec.Until.Sub(c.l.Now()) < c.opts.Lease/2 {
			if err := c.save(ctx, c.rec, c.rec.Cursor); err != nil {
				return err
			}
		}
		// Wait for a commit of this Ledger from before the read on, so
		// that none is missed between the read and the wait.
		woken, done := c.l.commits.wait()
		es, next, err := c.l.feed(ctx, OpConsume, c.rec.Cursor, c.opts.Batch)
		if err != nil {
			done()
			return err
		}
		if es = withoutRecords(es); len(es) == 0 && next != c.rec.Cursor {
			// Only the ledger's own records: move past them.
			done()
			if err := c.save(ctx, c.rec, next); err != nil {
				return err
			}
			continue
		}
		if len(es) == 0 {
			err := c.wait(ctx, woken, c.opts.Poll)
			done()
			if err != nil {
				return err
			}
			continue
		}
		done()
		if err := c.h(ctx, es); err != nil {
			failures++
			wait := min(c.opts.Retry<<min(failures-1, 20), max(c.opts.Lease/10, c.opts.Retry))
			if err := c.sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		failures = 0
		// The batch is handled: store the position even if ctx ended
		// meanwhile, or the batch would be handed over again.
		if err := c.save(context.WithoutCancel(ctx), c.rec, next); err != nil {
			return err
		}
	}
}

// release gives the lease up, so that another instance need not wait for
// it to end (best effort: a lease that is not given up ends by itself).
func (c *consumer) release() {
	if c.rec.Owner != c.owner {
		return
	}
	rec := c.rec
	rec.Owner, rec.Until, rec.Version = "", time.Time{}, rec.Version+1
	_ = c.l.saveConsumer(context.Background(), rec)
}

func (c *consumer) sleep(ctx context.Context, d time.Duration) error {
	return c.wait(ctx, nil, d)
}

// wait returns after d, when woken is closed, or when ctx is done (with
// its error).
func (c *consumer) wait(ctx context.Context, woken <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-woken:
	case <-t.C:
	}
	return nil
}
