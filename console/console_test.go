package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
	"github.com/avstudio/credits/ledgertest"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The test's principals: a request says who it is in the X-User header.
// "admin" may do everything; any other user may read and write its own
// account only (and the public API).
func testAuthorize(r *http.Request, account string, op console.Op) error {
	user := r.Header.Get("X-User")
	switch {
	case user == "admin":
		return nil
	case account == "" && op == console.OpPublic:
		return nil
	case user == "":
		return console.ErrUnauthenticated
	case account == user && op != console.OpSupport:
		return nil
	}
	return console.ErrForbidden
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// fixture is a console on a memory ledger at a fixed clock. Every
// response of its API that a test sees is validated against the OpenAPI
// document.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	clock  *ledgertest.Clock
	ledger *credits.Ledger
	h      http.Handler
	subs   map[string]credits.Subscription
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), clock: ledgertest.NewClock(t0), subs: map[string]credits.Subscription{}}
	f.ledger = credits.NewMemoryLedger(credits.Options{Now: f.clock.Now})
	f.h = console.New(f.ledger, console.Options{Authorize: testAuthorize, Subscription: f.subscription})
	return f
}

func (f *fixture) subscription(_ context.Context, account string) (credits.Subscription, bool, error) {
	s, ok := f.subs[account]
	return s, ok, nil
}

// response is what a request got.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d %s: %v", r.Status, r.Body, err)
	}
}

// problem is the part of a problem document the tests read.
type problem struct {
	Type      string  `json:"type"`
	Status    int     `json:"status"`
	Error     string  `json:"error"`
	Field     string  `json:"field"`
	Detail    string  `json:"detail"`
	Shortfall float64 `json:"shortfall"`
	Entry     int64   `json:"entry"`
}

func (r *response) problem(t *testing.T) problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q, want a problem: %s", r.Status, ct, r.Body)
	}
	var p problem
	r.json(t, &p)
	if p.Status != r.Status {
		t.Fatalf("problem status %d in a %d response", p.Status, r.Status)
	}
	return p
}

// do sends a request as user ("" for nobody) and returns the response,
// having checked it against the OpenAPI document if it is the API's.
func (f *fixture) do(user, method, target string, body any, header ...string) *response {
	f.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			f.t.Fatal(err)
		}
	}
	req := httptest.NewRequestWithContext(f.ctx, method, target, bytes.NewReader(data))
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-User", user)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	res := &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	if strings.HasPrefix(req.URL.Path, "/api/") || req.URL.Path == "/openapi.yaml" {
		checkOpenAPI(f.t, method, target, data, header, res)
	}
	return res
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
	// specChecked counts the responses validated, for the test that
	// makes sure validation happens at all.
	specMu      sync.Mutex
	specChecked = map[string]int{}
)

func loadSpec() (routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(console.OpenAPI())
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(loader.Context); err != nil {
			specErr = err
			return
		}
		// The document's server is "/", wherever the handler is mounted;
		// the test's requests go to one host.
		doc.Servers = openapi3.Servers{{URL: "http://console.test"}}
		specRouter, specErr = legacy.NewRouter(doc)
	})
	return specRouter, specErr
}

// checkOpenAPI validates a response (and finds the route of its request)
// against the OpenAPI document: a response the document does not
// describe fails the test.
func checkOpenAPI(t *testing.T, method, target string, body []byte, header []string, res *response) {
	t.Helper()
	router, err := loadSpec()
	if err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	req := httptest.NewRequest(method, "http://console.test"+target, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if res.Status == http.StatusNotFound || res.Status == http.StatusMethodNotAllowed {
			return // a route the API does not have: not the document's
		}
		t.Fatalf("%s %s: no route in the OpenAPI document: %v", method, target, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.Status, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(res.Body)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s: the response (%d %s) does not match the OpenAPI document: %v", method, target, res.Status, res.Body, err)
	}
	specMu.Lock()
	specChecked[route.Operation.OperationID]++
	specMu.Unlock()
}

// must returns v, or panics (failing the test) on err: for set-up steps
// that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
