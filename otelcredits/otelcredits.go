// Package otelcredits records what a github.com/avstudio/credits ledger does
// as OpenTelemetry spans and metrics:
//
//   - [NewBackend] wraps a [credits.Backend]: one span per backend call
//     (Load, Update, Entry, EntryByKey, Entries), with the account hashed or left out,
//     and a counter of the retries of Update's decision.
//   - [NewObserver] returns a [credits.Observer] for [credits.Options]:
//     the ledger's operations by op and outcome, their latency,
//     insufficient-credit refusals, idempotent replays and idempotency
//     conflicts.
//
// Neither ever records an idempotency key, the caller's metadata or an
// error's message (which names the account): an error is recorded by the
// name of the library's sentinel it matches. Metrics carry no account at
// all, so their cardinality is the number of ops times outcomes.
//
// Wiring, with the console's handler instrumented by otelhttp:
//
//	backend := otelcredits.NewBackend(sqliteBackend, otelcredits.Options{})
//	observer, err := otelcredits.NewObserver(otelcredits.Options{})
//	ledger := credits.NewLedger(backend, credits.Options{Observer: observer})
//	handler := otelhttp.NewHandler(console.New(ledger, consoleOpts), "console")
//
// The providers default to the global ones (otel.GetTracerProvider,
// otel.GetMeterProvider).
package otelcredits

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/avstudio/credits"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// scope is the instrumentation scope of the spans and metrics.
const scope = "github.com/avstudio/credits/otelcredits"

// AccountMode says how spans carry the account.
type AccountMode uint8

const (
	// AccountHashed: the attribute credits.account.hash holds the first
	// 16 hex digits of SHA-256(Salt + account): the same account gives
	// the same hash, so a trace can follow one account, and the name is
	// not in the trace. (Without a Salt, a guessable name such as an email
	// address can be found by hashing guesses: set one.)
	AccountHashed AccountMode = iota
	// AccountOmitted: spans carry nothing of the account.
	AccountOmitted
)

// Options configures NewBackend and NewObserver. The zero value records
// to the global providers, with accounts hashed.
type Options struct {
	TracerProvider trace.TracerProvider // nil: otel.GetTracerProvider()
	MeterProvider  metric.MeterProvider // nil: otel.GetMeterProvider()
	Account        AccountMode
	Salt           string // prefixed to the account before hashing (AccountHashed)
}

func (o *Options) tracer() trace.Tracer {
	tp := o.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scope)
}

func (o *Options) meter() metric.Meter {
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(scope)
}

// accountAttrs returns the attributes that stand for account.
func (o *Options) accountAttrs(account string) []attribute.KeyValue {
	if o.Account == AccountOmitted {
		return nil
	}
	sum := sha256.Sum256([]byte(o.Salt + account))
	return []attribute.KeyValue{attribute.String("credits.account.hash", hex.EncodeToString(sum[:8]))}
}

// sentinels names the library's errors, in the order errors.Is tries
// them; outcome names them for metrics.
var sentinels = []struct {
	err     error
	outcome string
}{
	{credits.ErrInvalidInput, "invalid_input"},
	{credits.ErrInsufficientCredits, "insufficient_credits"},
	{credits.ErrIdempotencyConflict, "idempotency_conflict"},
	{credits.ErrHoldNotFound, "hold_not_found"},
	{credits.ErrEntryNotFound, "entry_not_found"},
	{credits.ErrUnknownAccount, "unknown_account"},
	{credits.ErrHoldClosed, "hold_closed"},
	{credits.ErrAlreadyClaimed, "already_claimed"},
	{credits.ErrNotRefundable, "not_refundable"},
	{credits.ErrUnknownPriceVersion, "unknown_price_version"},
	{credits.ErrOverflow, "overflow"},
}

// errorType names err without its message: the library's sentinel it
// matches, "canceled" or "deadline_exceeded" for a context's, or "error".
func errorType(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.outcome
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	}
	return "error"
}
