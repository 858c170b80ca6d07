package otelcredits_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
	"github.com/avstudio/credits/ledgertest"
	"github.com/avstudio/credits/otelcredits"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// telemetry is an SDK recording spans and metrics in memory.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	opts   otelcredits.Options
}

func newTelemetry(mode otelcredits.AccountMode) *telemetry {
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.opts = otelcredits.Options{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader)),
		Account:        mode,
		Salt:           "pepper",
	}
	return tel
}

// ledger is a memory ledger recorded by tel, on backend (nil: a memory
// backend).
func (tel *telemetry) ledger(t *testing.T, backend credits.Backend) *credits.Ledger {
	t.Helper()
	if backend == nil {
		backend = credits.NewMemoryBackend()
	}
	b, err := otelcredits.NewBackend(backend, tel.opts)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := otelcredits.NewObserver(tel.opts)
	if err != nil {
		t.Fatal(err)
	}
	return credits.NewLedger(b, credits.Options{Observer: obs})
}

// sums returns the value of every counter data point, by
// "metric{attr=value,...}".
func (tel *telemetry) sums(t *testing.T) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+key(p.Attributes)] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+".count"+key(p.Attributes)] += int64(p.Count)
				}
			}
		}
	}
	return out
}

func key(set attribute.Set) string {
	var parts []string
	for _, kv := range set.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// play runs the operations every test looks for: grants, a charge, a
// refused charge, a replay, a conflict, a read.
func play(t *testing.T, l *credits.Ledger) {
	t.Helper()
	ctx := context.Background()
	md := map[string]string{"order": "secret-order-42"}
	if _, err := l.Grant(ctx, "alice@example.com", credits.GrantRequest{Key: "secret-key-1", Amount: 10 * credits.Credit, Source: credits.SourceTopUp, Metadata: md}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(ctx, "alice@example.com", credits.GrantRequest{Key: "secret-key-1", Amount: 10 * credits.Credit, Source: credits.SourceTopUp, Metadata: md}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Grant(ctx, "alice@example.com", credits.GrantRequest{Key: "secret-key-1", Amount: 11 * credits.Credit, Source: credits.SourceTopUp}); !errors.Is(err, credits.ErrIdempotencyConflict) {
		t.Fatal(err)
	}
	if _, err := l.Charge(ctx, "alice@example.com", credits.ChargeRequest{Key: "secret-key-2", Action: credits.ChatMessage, Metadata: md}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(ctx, "alice@example.com", credits.ChargeRequest{Key: "secret-key-3", Action: credits.VideoGeneration}); !errors.Is(err, credits.ErrInsufficientCredits) {
		t.Fatal(err)
	}
	if _, err := l.ClaimFreeTier(ctx, "alice@example.com", "secret-claim@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Balance(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.History(ctx, "alice@example.com", credits.HistoryQuery{Kinds: []credits.Kind{credits.KindCharge}}); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	tel := newTelemetry(otelcredits.AccountHashed)
	play(t, tel.ledger(t, nil))
	got := tel.sums(t)
	for name, want := range map[string]int64{
		"credits.operations{credits.op=grant,credits.outcome=ok}":                                  1,
		"credits.operations{credits.op=grant,credits.outcome=replayed}":                            1,
		"credits.operations{credits.op=grant,credits.outcome=idempotency_conflict}":                1,
		"credits.operations{credits.op=charge,credits.outcome=ok}":                                 1,
		"credits.operations{credits.op=charge,credits.outcome=insufficient_credits}":               1,
		"credits.operations{credits.op=balance,credits.outcome=ok}":                                1,
		"credits.operations{credits.op=history,credits.outcome=ok}":                                1,
		"credits.operation.duration.count{credits.op=charge,credits.outcome=insufficient_credits}": 1,
		"credits.operation.duration.count{credits.op=grant,credits.outcome=ok}":                    1,
		"credits.insufficient_credits{credits.op=charge}":                                          1,
		"credits.idempotent_replays{credits.op=grant}":                                             1,
		"credits.idempotency_conflicts{credits.op=grant}":                                          1,
	} {
		if got[name] != want {
			t.Errorf("%s = %d, want %d", name, got[name], want)
		}
	}
	for name := range got {
		if strings.Contains(name, "alice") || strings.Contains(name, "secret") {
			t.Errorf("a metric carries an account, key or metadata: %s", name)
		}
	}
}

func TestSpans(t *testing.T) {
	for _, mode := range []otelcredits.AccountMode{otelcredits.AccountHashed, otelcredits.AccountOmitted} {
		tel := newTelemetry(mode)
		play(t, tel.ledger(t, nil))
		spans := tel.spans.Ended()
		sum := sha256.Sum256([]byte("pepper" + "alice@example.com"))
		hash := hex.EncodeToString(sum[:8])
		names, alices := map[string]int{}, 0
		failed := map[string]string{}
		for _, sp := range spans {
			names[sp.Name()]++
			var sawHash bool
			for _, kv := range sp.Attributes() {
				v := kv.Value.String()
				if strings.Contains(v, "alice") || strings.Contains(v, "secret") {
					t.Errorf("%s carries %s=%s", sp.Name(), kv.Key, v)
				}
				if kv.Key == "credits.account.hash" {
					sawHash = true // alice's, or the ledger's own account of claim keys
					if v == hash {
						alices++
					}
				}
			}
			if sawHash != (mode == otelcredits.AccountHashed) {
				t.Errorf("mode %d: span %s with account hash %v", mode, sp.Name(), sawHash)
			}
			if sp.Status().Code == codes.Error {
				failed[sp.Name()] = sp.Status().Description
			}
			for _, kv := range sp.Attributes() {
				if kv.Key == "credits.operations.refused" && kv.Value.AsInt64() > 0 {
					failed[sp.Name()+" (refused)"] = "refused"
				}
			}
			for _, ev := range sp.Events() {
				t.Errorf("%s has an event %q (an error's message would name the account)", sp.Name(), ev.Name)
			}
		}
		if names["credits.backend.Update"] < 5 || names["credits.backend.Load"] < 1 || names["credits.backend.Entries"] < 1 || names["credits.backend.EntryByKey"] < 1 {
			t.Errorf("spans: %v", names)
		}
		if (mode == otelcredits.AccountHashed) != (alices > 5) {
			t.Errorf("mode %d: %d spans with alice's hash", mode, alices)
		}
		if failed["credits.backend.Update (refused)"] == "" {
			t.Errorf("no Update span with a refused operation: %v", failed)
		}
	}
}

// retrying is a backend that runs every decision twice, as a backend
// does after a write conflict: the first run on a copy it throws away.
type retrying struct{ *credits.MemoryBackend }

func (r retrying) Update(ctx context.Context, writes []credits.Write) error {
	for i := range writes {
		for k := range writes[i].Ops {
			decide, first := writes[i].Ops[k].Decide, true
			writes[i].Ops[k].Decide = func(s *credits.AccountState, e *credits.Entry) ([]credits.Entry, error) {
				if first {
					first = false
					if _, err := decide(s.Clone(), e); err != nil {
						return nil, err
					}
				}
				return decide(s, e)
			}
		}
	}
	return r.MemoryBackend.Update(ctx, writes)
}

func TestRetriesCounted(t *testing.T) {
	tel := newTelemetry(otelcredits.AccountOmitted)
	l := tel.ledger(t, retrying{credits.NewMemoryBackend()})
	for i := range 3 {
		if _, err := l.Grant(context.Background(), "a", credits.GrantRequest{Key: fmt.Sprint("k", i), Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}
	if got := tel.sums(t)["credits.backend.retries{}"]; got != 3 {
		t.Fatalf("retries = %d, want 3", got)
	}
	for _, sp := range tel.spans.Ended() {
		for _, kv := range sp.Attributes() {
			if kv.Key == "credits.decisions" && kv.Value.AsInt64() != 2 {
				t.Errorf("%s: %d decisions", sp.Name(), kv.Value.AsInt64())
			}
		}
	}
}

// The console under otelhttp: each request is a server span, and the
// backend's spans are its children.
func TestConsoleUnderOtelhttp(t *testing.T) {
	tel := newTelemetry(otelcredits.AccountHashed)
	l := tel.ledger(t, nil)
	if _, err := l.Grant(context.Background(), "alice", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	h := otelhttp.NewHandler(console.New(l, console.Options{Authorize: func(*http.Request, string, console.Op) error { return nil }}),
		"console", otelhttp.WithTracerProvider(tel.opts.TracerProvider), otelhttp.WithMeterProvider(tel.opts.MeterProvider))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/accounts/alice/balance", nil))
	if rec.Code != 200 {
		t.Fatalf("balance: %d %s", rec.Code, rec.Body)
	}
	var server sdktrace.ReadOnlySpan
	for _, sp := range tel.spans.Ended() {
		if sp.SpanKind().String() == "server" {
			server = sp
		}
	}
	if server == nil {
		t.Fatal("no server span")
	}
	children := 0
	for _, sp := range tel.spans.Ended() {
		if sp.Name() == "credits.backend.Load" && sp.Parent().SpanID() == server.SpanContext().SpanID() {
			children++
		}
	}
	if children != 1 {
		t.Fatalf("%d backend spans under the request's span", children)
	}
}

// The wrapper is a Backend like any other: it passes the conformance
// suite on the memory backend, spans and all. The state machine runs 10
// cases by default (the memory backend's own run has 100; what the
// wrapper could break, it breaks in any case; 25 took 57 s of the test
// command under the race detector), so that the repository's test
// command stays short; -rapid.checks raises it.
func TestBackendConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) credits.Backend {
		b, err := otelcredits.NewBackend(credits.NewMemoryBackend(), otelcredits.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, ledgertest.Checks(10))
}
