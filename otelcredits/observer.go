package otelcredits

import (
	"context"

	"github.com/avstudio/credits"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The metrics NewObserver records, each with the attribute credits.op (the
// ledger's operation, such as "charge"):
//
//	credits.operations              counter    operations, by credits.outcome
//	credits.operation.duration      histogram  seconds, by credits.outcome
//	credits.insufficient_credits    counter    charges and holds refused for want of credits
//	credits.idempotent_replays      counter    writes whose key was already applied (nothing changed)
//	credits.idempotency_conflicts   counter    keys reused for a different request
//
// credits.outcome is "ok", "replayed" (a write that was a replay), or
// what failed: a sentinel's name in snake case ("insufficient_credits",
// "invalid_input", ...), "canceled", "deadline_exceeded" or "error".

// NewObserver returns an Observer that records the ledger's operations as
// metrics. Set it as credits.Options.Observer. It fails only if the meter
// refuses an instrument.
func NewObserver(opts Options) (credits.Observer, error) {
	m := opts.meter()
	ops, err := m.Int64Counter("credits.operations", metric.WithDescription("Ledger operations, by op and outcome"), metric.WithUnit("{operation}"))
	if err != nil {
		return nil, err
	}
	dur, err := m.Float64Histogram("credits.operation.duration", metric.WithDescription("How long ledger operations took"), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, err
	}
	short, err := m.Int64Counter("credits.insufficient_credits", metric.WithDescription("Charges and holds refused for want of credits"), metric.WithUnit("{operation}"))
	if err != nil {
		return nil, err
	}
	replays, err := m.Int64Counter("credits.idempotent_replays", metric.WithDescription("Writes whose idempotency key was already applied"), metric.WithUnit("{operation}"))
	if err != nil {
		return nil, err
	}
	conflicts, err := m.Int64Counter("credits.idempotency_conflicts", metric.WithDescription("Idempotency keys reused for a different request"), metric.WithUnit("{operation}"))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, ev credits.Event) {
		outcome := "ok"
		switch {
		case ev.Err != nil:
			outcome = errorType(ev.Err)
		case ev.Replayed:
			outcome = "replayed"
		}
		op := attribute.String("credits.op", string(ev.Op))
		both := metric.WithAttributes(op, attribute.String("credits.outcome", outcome))
		ops.Add(ctx, 1, both)
		dur.Record(ctx, ev.Duration.Seconds(), both)
		opOnly := metric.WithAttributes(op)
		switch outcome {
		case "insufficient_credits":
			short.Add(ctx, 1, opOnly)
		case "idempotency_conflict":
			conflicts.Add(ctx, 1, opOnly)
		case "replayed":
			replays.Add(ctx, 1, opOnly)
		}
	}, nil
}
