package console

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// Op is what a request does, as [Options].Authorize sees it.
type Op string

// The operations a request may ask for.
const (
	// OpPublic: what concerns no account: prices, quotes, estimates, the
	// OpenAPI document, the stylesheet. Authorize sees account "".
	OpPublic Op = "public"
	// OpRead: read an account: its balance, history, entries, statement,
	// its spenders' usage and account page.
	OpRead Op = "read"
	// OpSupport: the support pages: the search form (account "") and an
	// account's support view, which shows the refund and adjust forms.
	OpSupport Op = "support"

	// The writes, one per ledger operation. The support page's adjust
	// form is an OpGrant (adding credits) or an OpCharge (taking them).
	OpGrant   Op = "grant"
	OpCharge  Op = "charge"
	OpHold    Op = "hold"
	OpCapture Op = "capture"
	OpRelease Op = "release"
	OpRefund  Op = "refund"
)

// IsWrite reports whether op changes an account.
func (op Op) IsWrite() bool {
	switch op {
	case OpGrant, OpCharge, OpHold, OpCapture, OpRelease, OpRefund:
		return true
	}
	return false
}

// The errors an Authorize function returns to refuse a request (or errors
// wrapping them). Any other error refuses it too, as ErrForbidden does.
var (
	// ErrUnauthenticated: the request says nobody, or nobody known
	// (401 Unauthorized).
	ErrUnauthenticated = errors.New("console: not authenticated")
	// ErrForbidden: the request's principal may not do this
	// (403 Forbidden).
	ErrForbidden = errors.New("console: forbidden")
)

// Options configures the handler [New] returns. The zero value serves the
// public API only: its Authorize refuses every account and every write.
type Options struct {
	// Authorize decides every request before anything is read or
	// written: account is the account the request is about (from its
	// path, never from its query, body or headers; "" for OpPublic and
	// the support search form) and op what it does with it. A nil error
	// lets it through; ErrUnauthenticated answers 401, anything else 403.
	// Nil means DefaultAuthorize.
	Authorize func(r *http.Request, account string, op Op) error

	// Subscription returns the subscription of account that the service
	// stores, if it has one, for the account page's plan, next renewal,
	// rollover and current period. Nil: no account has a subscription
	// (the page then shows calendar months in the viewer's time zone).
	Subscription func(ctx context.Context, account string) (credits.Subscription, bool, error)

	// Logger receives the errors that become a 500 response. Nil means
	// slog.Default().
	Logger *slog.Logger

	// HistoryPage is how many entries a page of the account page's
	// history shows. Zero means 25.
	HistoryPage int

	// SignIn, if not empty, is where a page refused as unauthenticated
	// (401) sends the viewer to sign in: a path relative to the
	// handler's root (such as "login", served by the service) or an
	// absolute URL.
	SignIn string

	// ChartPeriods is how many periods, the current one included, the
	// account page's burn-down chart covers. Zero means 6.
	ChartPeriods int
}

// DefaultAuthorize is the Authorize of the zero Options: it lets through
// OpPublic requests and refuses everything else, so that mounting the
// handler never exposes a ledger by accident.
func DefaultAuthorize(_ *http.Request, account string, op Op) error {
	if account == "" && op == OpPublic {
		return nil
	}
	return ErrForbidden
}

// handler is the console: the API, the pages and their files.
type handler struct {
	ledger *credits.Ledger
	opts   Options
	log    *slog.Logger
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection
	rest   http.Handler // mux, behind cop
	pages  *pages
}

// New returns the console of ledger: its JSON API, its OpenAPI document
// and its pages (see the package documentation for the routes). The
// handler serves paths relative to where it is mounted: mount it with
// http.StripPrefix under any prefix. Cross-origin form posts from
// browsers are refused (http.CrossOriginProtection).
func New(ledger *credits.Ledger, opts Options) http.Handler {
	if opts.Authorize == nil {
		opts.Authorize = DefaultAuthorize
	}
	if opts.HistoryPage <= 0 {
		opts.HistoryPage = 25
	}
	if opts.ChartPeriods <= 0 {
		opts.ChartPeriods = 6
	}
	h := &handler{ledger: ledger, opts: opts, log: opts.Logger, mux: http.NewServeMux(), pages: loadPages()}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.routes()
	h.cop = http.NewCrossOriginProtection()
	h.rest = h.cop.Handler(h.mux)
	return h
}

// ServeHTTP serves a request. The route services call most, GET
// api/accounts/{account}/balance, is matched here by hand: ServeMux's
// matching costs more than the ledger's read (BENCHMARKS.md, "Console").
// A path it is not sure of (escaped, or with a dot segment) goes to the
// mux, which cleans it first.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.RawPath == "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/api/accounts/"); ok {
			if account, ok := strings.CutSuffix(rest, "/balance"); ok && account != "" && account != "." && account != ".." && !strings.Contains(account, "/") {
				if err := h.opts.Authorize(r, account, OpRead); err != nil {
					h.refuse(w, r, err)
					return
				}
				h.balance(w, r, account)
				return
			}
		}
	}
	h.rest.ServeHTTP(w, r)
}

// routes registers every route, each with the Op it asks Authorize for.
func (h *handler) routes() {
	m := h.mux
	// The JSON API.
	m.HandleFunc("GET /openapi.yaml", h.public(h.openAPI))
	m.HandleFunc("GET /api/prices", h.public(h.apiPrices))
	m.HandleFunc("GET /api/quote", h.public(h.apiQuote))
	m.HandleFunc("POST /api/estimate", h.public(h.apiEstimate))
	m.HandleFunc("GET /api/accounts/{account}/balance", h.account(OpRead, h.apiBalance))
	m.HandleFunc("GET /api/accounts/{account}/history", h.account(OpRead, h.apiHistory))
	m.HandleFunc("GET /api/accounts/{account}/entries/{id}", h.account(OpRead, h.apiEntry))
	m.HandleFunc("GET /api/accounts/{account}/statement", h.account(OpRead, h.apiStatement))
	m.HandleFunc("GET /api/accounts/{account}/usage", h.account(OpRead, h.apiUsage))
	m.HandleFunc("POST /api/accounts/{account}/grants", h.account(OpGrant, h.apiGrant))
	m.HandleFunc("POST /api/accounts/{account}/charges", h.account(OpCharge, h.apiCharge))
	m.HandleFunc("POST /api/accounts/{account}/holds", h.account(OpHold, h.apiHold))
	m.HandleFunc("POST /api/accounts/{account}/holds/{hold}/capture", h.account(OpCapture, h.apiCapture))
	m.HandleFunc("POST /api/accounts/{account}/holds/{hold}/release", h.account(OpRelease, h.apiRelease))
	m.HandleFunc("POST /api/accounts/{account}/entries/{id}/refund", h.account(OpRefund, h.apiRefund))
	m.HandleFunc("/api/", h.public(h.apiNotFound))

	// The pages.
	m.HandleFunc("GET /static/{file}", h.public(h.static))
	m.HandleFunc("GET /{$}", h.public(h.index))
	m.HandleFunc("GET /accounts/{account}", h.account(OpRead, h.accountPage))
	m.HandleFunc("GET /support", h.supportGate(h.supportSearch))
	m.HandleFunc("GET /support/accounts/{account}", h.account(OpSupport, h.supportPage))
	m.HandleFunc("POST /support/accounts/{account}/refund", h.account(OpSupport, h.supportRefund))
	m.HandleFunc("POST /support/accounts/{account}/adjust", h.account(OpSupport, h.supportAdjust))
}

// public wraps a handler of a request about no account.
func (h *handler) public(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.opts.Authorize(r, "", OpPublic); err != nil {
			h.refuse(w, r, err)
			return
		}
		fn(w, r)
	}
}

// supportGate wraps the support search form: OpSupport on no account.
func (h *handler) supportGate(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.opts.Authorize(r, "", OpSupport); err != nil {
			h.refuse(w, r, err)
			return
		}
		fn(w, r)
	}
}

// account wraps a handler of a request about the account its path names:
// the only place an account comes from.
func (h *handler) account(op Op, fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.opts.Authorize(r, r.PathValue("account"), op); err != nil {
			h.refuse(w, r, err)
			return
		}
		fn(w, r)
	}
}

// refuse answers a request Authorize refused: 401 or 403, as a problem
// for the API and as a page for the pages.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status, title := http.StatusForbidden, "Forbidden"
	if errors.Is(err, ErrUnauthenticated) {
		status, title = http.StatusUnauthorized, "Not authenticated"
	}
	if isAPI(r) {
		writeProblem(w, problem{Status: status, Title: title, Detail: "the request is not authorized"})
		return
	}
	msg := "You may not see this page."
	if status == http.StatusUnauthorized {
		msg = "Sign in to see this page."
	}
	d := &pageData{Title: title, Base: baseOf(r), TZ: "UTC", Loc: time.UTC, Message: msg}
	if status == http.StatusUnauthorized && h.opts.SignIn != "" {
		d.SignIn = h.opts.SignIn
		if !strings.Contains(d.SignIn, "://") {
			d.SignIn = d.Base + d.SignIn
		}
	}
	h.render(w, r, status, "error", d)
}
