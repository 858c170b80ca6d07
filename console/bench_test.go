package console_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
	"github.com/avstudio/credits/ledgertest"
)

// The console's cost over the ledger's: each benchmark has the direct
// call as its baseline, in the same run (BENCHMARKS.md, "Console").

func allowAll(*http.Request, string, console.Op) error { return nil }

// sink is a ResponseWriter that keeps only the status, reused from one
// request to the next, so that the benchmarks measure the handler and
// not a recorder's buffers.
type sink struct {
	h    http.Header
	code int
}

func (w *sink) Header() http.Header         { return w.h }
func (w *sink) WriteHeader(code int)        { w.code = code }
func (w *sink) Write(p []byte) (int, error) { return len(p), nil }
func (w *sink) reset()                      { clear(w.h); w.code = 200 }

func BenchmarkBalance(b *testing.B) {
	l := credits.NewMemoryLedger(credits.Options{})
	ctx := b.Context()
	if _, err := l.Grant(ctx, "alice", credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Balance(ctx, "alice"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handler", func(b *testing.B) {
		h := console.New(l, console.Options{Authorize: allowAll})
		req := httptest.NewRequest("GET", "/api/accounts/alice/balance", nil)
		w := &sink{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatal(w.code)
			}
		}
	})
}

func BenchmarkEstimate(b *testing.B) {
	job, err := os.ReadFile("../testdata/jobs/prompt_to_mp4.json")
	if err != nil {
		b.Fatal(err)
	}
	l := credits.NewMemoryLedger(credits.Options{})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			table, err := l.Prices().At(l.Now())
			if err != nil {
				b.Fatal(err)
			}
			j, err := credits.DecodeJob(bytes.NewReader(job))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := table.EstimateJob(j); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handler", func(b *testing.B) {
		h := console.New(l, console.Options{Authorize: allowAll})
		req := httptest.NewRequest("POST", "/api/estimate", nil)
		body := bytes.NewReader(job)
		w := &sink{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			body.Reset(job)
			req.Body = io.NopCloser(body)
			h.ServeHTTP(w, req)
			if w.code != 200 {
				b.Fatal(w.code)
			}
		}
	})
}

// BenchmarkAccountPage renders the account page of an account with
// 10,000 entries, all of them within the chart's six months: the worst
// case for the chart, the forecast and the open holds, which read them.
func BenchmarkAccountPage(b *testing.B) {
	now := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	clock := ledgertest.NewClock(now.AddDate(0, -5, -20))
	l := credits.NewMemoryLedger(credits.Options{Now: clock.Now})
	ctx := b.Context()
	step := now.Sub(clock.Now()) / 10_000
	for i := range 10_000 {
		var err error
		switch {
		case i%50 == 0:
			_, err = l.Grant(ctx, "alice", credits.GrantRequest{Key: fmt.Sprint("g", i), Amount: 200 * credits.Credit, Source: credits.SourceTopUp})
		case i%97 == 0:
			var h credits.Entry
			if h, err = l.Hold(ctx, "alice", credits.HoldRequest{Key: fmt.Sprint("h", i), Amount: credits.Credit}); err == nil {
				_, err = l.Release(ctx, "alice", credits.ReleaseRequest{Key: fmt.Sprint("r", i), Hold: h.ID})
			}
		default:
			_, err = l.Charge(ctx, "alice", credits.ChargeRequest{Key: fmt.Sprint("c", i), Action: credits.ChatMessage})
		}
		if err != nil {
			b.Fatal(i, err)
		}
		clock.Advance(step)
	}
	h := console.New(l, console.Options{Authorize: allowAll})
	req := httptest.NewRequest("GET", "/accounts/alice", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}
