package credits

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/avstudio/credits/internal/fnv"
)

// Group commit. Writes of one account (of every account, on a backend
// that is a OneWriter) that arrive while a write of it is in flight queue
// in its lane; when the write in flight is done, the next writer takes
// everything queued, and the backend decides and stores it all in one
// transaction (one Update, one commit), each operation deciding on the
// state the one before it left, each with its own result and error. A
// lone write goes at once: nothing ever waits on a timer for a batch to
// fill, so at one writer the latency is what it was without batching.

// lanes holds the lanes of a Ledger's writes, sharded so that writers of
// different accounts seldom share a lock.
type lanes struct {
	shards [64]laneShard
	one    bool // the backend is a OneWriter: one lane for every account
}

type laneShard struct {
	mu    sync.Mutex
	lanes map[string]*lane
}

// lane is the queue of writes of one account (or of all, see lanes.one).
// Exactly one writer, the leader, runs a batch at a time; the others wait
// for it to run theirs, or to hand them the lead.
type lane struct {
	key     string
	pending []*pendingWrite
}

// pendingWrite is one operation waiting in a lane, or running in a batch.
type pendingWrite struct {
	ctx     context.Context
	account string
	key     string
	decide  Decision
	err     error
	done    chan struct{} // closed when err is set, or when this write leads
	leads   bool          // set before done is closed: run the lane's next batch
}

func (ls *lanes) shard(key string) *laneShard {
	return &ls.shards[fnv.New().Str(key).Sum64()%uint64(len(ls.shards))]
}

// commit runs decide on account under key through the backend, batched
// with the other writes of its lane, and returns decide's error, or the
// backend's.
func (l *Ledger) commit(ctx context.Context, account, key string, decide Decision) error {
	if l.noBatching {
		return UpdateOne(ctx, l.backend, account, key, decide)
	}
	laneKey := account
	if l.lanes.one {
		laneKey = ""
	}
	w := &pendingWrite{ctx: ctx, account: account, key: key, decide: decide}
	sh := l.lanes.shard(laneKey)
	sh.mu.Lock()
	ln := sh.lanes[laneKey]
	if ln == nil {
		// An idle lane: this write leads, at once.
		ln = &lane{key: laneKey}
		if sh.lanes == nil {
			sh.lanes = make(map[string]*lane)
		}
		sh.lanes[laneKey] = ln
		sh.mu.Unlock()
	} else {
		w.done = make(chan struct{})
		ln.pending = append(ln.pending, w)
		sh.mu.Unlock()
		<-w.done
		if !w.leads {
			return w.err
		}
	}
	l.lead(sh, ln, w)
	return w.err
}

// lead runs the lane's next batch, which holds w, then hands the lead to
// the first write still queued, or retires the lane.
func (l *Ledger) lead(sh *laneShard, ln *lane, w *pendingWrite) {
	sh.mu.Lock()
	batch, rest := takeBatch(w, ln.pending)
	ln.pending = rest
	sh.mu.Unlock()

	l.runBatch(batch)
	for _, b := range batch {
		if b != w {
			close(b.done)
		}
	}

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(ln.pending) == 0 {
		delete(sh.lanes, ln.key)
		return
	}
	next := ln.pending[0]
	ln.pending = ln.pending[1:]
	next.leads = true
	close(next.done)
}

// takeBatch returns the batch that first leads, with as many queued
// writes as can join it, and the writes left queued: a write whose
// (account, key) is already in the batch waits for the next one, so that
// it sees the first's entry under its key.
func takeBatch(first *pendingWrite, queued []*pendingWrite) (batch, rest []*pendingWrite) {
	batch = append(batch, first)
	if len(queued) == 0 {
		return batch, nil
	}
	type ak struct{ account, key string }
	taken := map[ak]bool{}
	if first.key != "" {
		taken[ak{first.account, first.key}] = true
	}
	for _, q := range queued {
		k := ak{q.account, q.key}
		if q.key != "" && taken[k] {
			rest = append(rest, q)
			continue
		}
		if q.key != "" {
			taken[k] = true
		}
		batch = append(batch, q)
	}
	return batch, rest
}

// runBatch runs a batch in one Update, setting every write's err.
func (l *Ledger) runBatch(batch []*pendingWrite) {
	live := batch[:0:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.err = err // gave up while it waited
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		w := live[0]
		w.err = UpdateOne(w.ctx, l.backend, w.account, w.key, w.decide)
		return
	}
	// One Write per account, its operations in the order they came.
	var writes []Write
	index := map[string]int{}
	for _, w := range live {
		i, ok := index[w.account]
		if !ok {
			i = len(writes)
			index[w.account] = i
			writes = append(writes, Write{Account: w.account})
		}
		writes[i].Ops = append(writes[i].Ops, WriteOp{Key: w.key, Decide: w.decide})
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	err := l.backend.Update(ctx, writes)
	next := make(map[string]int, len(writes))
	for _, w := range live {
		i := index[w.account]
		if err != nil {
			w.err = err // nothing of the batch was stored
		} else {
			w.err = writes[i].Ops[next[w.account]].Err
		}
		next[w.account]++
	}
}

// batchContext is the context of a batch's Update: it ends when the
// contexts of all its writes have ended (one write's caller giving up
// must not fail the others), and carries the first write's values.
func batchContext(batch []*pendingWrite) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var left atomic.Int32
	left.Store(int32(len(batch)))
	stops := make([]func() bool, 0, len(batch))
	for _, w := range batch {
		stops = append(stops, context.AfterFunc(w.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
