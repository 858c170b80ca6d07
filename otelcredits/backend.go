package otelcredits

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/avstudio/credits"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Backend is a [credits.Backend] that records a span for each call to the
// backend it wraps. Make one with [NewBackend].
//
// Each method is one call of [Backend.span]: a method the Backend
// contract gains is one more such method here (the wrapper does not
// embed the backend, so that a new method cannot pass through untraced).
type Backend struct {
	next    credits.Backend
	opts    Options
	tracer  trace.Tracer
	retries metric.Int64Counter
}

var _ credits.Backend = (*Backend)(nil)

// NewBackend returns b wrapped so that each of its calls is a span named
// "credits.backend.METHOD", a child of the span in the call's context.
// It fails only if the meter refuses the retries counter.
func NewBackend(b credits.Backend, opts Options) (*Backend, error) {
	retries, err := opts.meter().Int64Counter("credits.backend.retries",
		metric.WithDescription("Decisions that Backend.Update ran again after a conflict"), metric.WithUnit("{retry}"))
	if err != nil {
		return nil, err
	}
	return &Backend{next: b, opts: opts, tracer: opts.tracer(), retries: retries}, nil
}

// span starts the span of one call; end records its outcome.
func (b *Backend) span(ctx context.Context, method, account string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	return b.spanOf(ctx, method, append(attrs, b.opts.accountAttrs(account)...)...)
}

// spanOf starts the span of a call that is about no one account.
func (b *Backend) spanOf(ctx context.Context, method string, attrs ...attribute.KeyValue) (context.Context, func(error)) {
	ctx, sp := b.tracer.Start(ctx, "credits.backend."+method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			// The message names the account: record only what it is.
			sp.SetAttributes(attribute.String("error.type", errorType(err)))
			sp.SetStatus(codes.Error, errorType(err))
		}
		sp.End()
	}
}

// Load implements credits.Backend.
func (b *Backend) Load(ctx context.Context, account string) (s *credits.AccountState, err error) {
	ctx, end := b.span(ctx, "Load", account)
	defer func() { end(err) }()
	return b.next.Load(ctx, account)
}

// Update implements credits.Backend. Its span says how many accounts and
// operations the batch held (group commit), how many times decisions ran
// (more than once each after a conflict: counted as retries), and how
// many entries were appended. The account is on the span (hashed or
// omitted, as Options say) when the batch is of one account.
func (b *Backend) Update(ctx context.Context, writes []credits.Write) (err error) {
	account := ""
	if len(writes) == 1 {
		account = writes[0].Account
	}
	ops := 0
	for _, w := range writes {
		ops += len(w.Ops)
	}
	ctx, end := b.span(ctx, "Update", account, attribute.Int("credits.batch.accounts", len(writes)), attribute.Int("credits.batch.operations", ops))
	var calls, appended atomic.Int64
	defer func() {
		sp := trace.SpanFromContext(ctx)
		sp.SetAttributes(attribute.Int64("credits.decisions", calls.Load()))
		if err == nil {
			refused := 0 // operations the ledger's rules refused: not failures of the call
			for _, w := range writes {
				for _, op := range w.Ops {
					if op.Err != nil {
						refused++
					}
				}
			}
			sp.SetAttributes(attribute.Int64("credits.entries.appended", appended.Load()), attribute.Int("credits.operations.refused", refused))
		}
		if extra := calls.Load() - int64(ops); extra > 0 {
			b.retries.Add(ctx, extra)
		}
		end(err)
	}()
	for i := range writes {
		for k := range writes[i].Ops {
			decide := writes[i].Ops[k].Decide
			writes[i].Ops[k].Decide = func(s *credits.AccountState, e *credits.Entry) ([]credits.Entry, error) {
				calls.Add(1)
				out, err := decide(s, e)
				if err == nil {
					appended.Add(int64(len(out)))
				}
				return out, err
			}
		}
	}
	return b.next.Update(ctx, writes)
}

// Entry implements credits.Backend.
func (b *Backend) Entry(ctx context.Context, account string, id int64) (e credits.Entry, err error) {
	ctx, end := b.span(ctx, "Entry", account, attribute.Int64("credits.entry.id", id))
	defer func() { end(err) }()
	return b.next.Entry(ctx, account, id)
}

// EntryByKey implements credits.Backend. The key is not recorded.
func (b *Backend) EntryByKey(ctx context.Context, account, key string) (e credits.Entry, err error) {
	ctx, end := b.span(ctx, "EntryByKey", account)
	defer func() {
		trace.SpanFromContext(ctx).SetAttributes(attribute.Bool("credits.found", err == nil))
		if errors.Is(err, credits.ErrEntryNotFound) {
			end(nil) // not a failure of the call: the answer "none"
			return
		}
		end(err)
	}()
	return b.next.EntryByKey(ctx, account, key)
}

// Entries implements credits.Backend.
func (b *Backend) Entries(ctx context.Context, account string, q credits.HistoryQuery) (out []credits.Entry, err error) {
	kinds := make([]string, len(q.Kinds))
	for i, k := range q.Kinds {
		kinds[i] = k.String()
	}
	ctx, end := b.span(ctx, "Entries", account, attribute.Int64("credits.after", q.After), attribute.Int("credits.limit", q.Limit),
		attribute.StringSlice("credits.kinds", kinds))
	defer func() {
		if err == nil {
			trace.SpanFromContext(ctx).SetAttributes(attribute.Int("credits.entries.returned", len(out)))
		}
		end(err)
	}()
	return b.next.Entries(ctx, account, q)
}

// Accounts implements credits.Backend.
func (b *Backend) Accounts(ctx context.Context, after string, limit int) (out []string, err error) {
	ctx, end := b.spanOf(ctx, "Accounts", attribute.Int("credits.limit", limit))
	defer func() {
		if err == nil {
			trace.SpanFromContext(ctx).SetAttributes(attribute.Int("credits.accounts.returned", len(out)))
		}
		end(err)
	}()
	return b.next.Accounts(ctx, after, limit)
}

// Feed implements credits.Backend.
func (b *Backend) Feed(ctx context.Context, after credits.Cursor, limit int) (out []credits.Entry, next credits.Cursor, err error) {
	ctx, end := b.spanOf(ctx, "Feed", attribute.Int("credits.limit", limit))
	defer func() {
		if err == nil {
			trace.SpanFromContext(ctx).SetAttributes(attribute.Int("credits.entries.returned", len(out)))
		}
		end(err)
	}()
	return b.next.Feed(ctx, after, limit)
}

// LoadConsumer implements credits.Backend.
func (b *Backend) LoadConsumer(ctx context.Context, name string) (rec credits.ConsumerRecord, err error) {
	ctx, end := b.spanOf(ctx, "LoadConsumer", attribute.String("credits.consumer", name))
	defer func() { end(err) }()
	return b.next.LoadConsumer(ctx, name)
}

// SaveConsumer implements credits.Backend. A lost compare-and-swap is an
// answer, not a failure of the call.
func (b *Backend) SaveConsumer(ctx context.Context, rec credits.ConsumerRecord) (err error) {
	ctx, end := b.spanOf(ctx, "SaveConsumer", attribute.String("credits.consumer", rec.Name))
	defer func() {
		trace.SpanFromContext(ctx).SetAttributes(attribute.Bool("credits.saved", err == nil))
		if errors.Is(err, credits.ErrConflict) {
			end(nil)
			return
		}
		end(err)
	}()
	return b.next.SaveConsumer(ctx, rec)
}
