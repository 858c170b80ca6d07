package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// problem is an RFC 9457 problem document with the console's extension
// members: the library's sentinel, the field at fault, and the details of
// a refusal.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`

	Error  string `json:"error,omitempty"`  // the sentinel's name: "ErrInsufficientCredits"
	Field  string `json:"field,omitempty"`  // *credits.InputError: the field at fault
	Value  string `json:"value,omitempty"`  // ... the value found there
	Reason string `json:"reason,omitempty"` // ... what is wrong with it

	Requested *credits.Credits `json:"requested,omitempty"` // insufficient credits: what was needed
	Available *credits.Credits `json:"available,omitempty"` // ... what the account could spend
	Shortfall *credits.Credits `json:"shortfall,omitempty"` // ... the difference
	Entry     int64            `json:"entry,omitempty"`     // idempotency conflict: the first request's entry

	Spender  string           `json:"spender,omitempty"`   // budget exceeded: the spender refused
	Budget   *string          `json:"budget,omitempty"`    // ... the budget's scope ("" for the default)
	Cap      *credits.Credits `json:"cap,omitempty"`       // ... its cap per window
	Window   *credits.Window  `json:"window,omitempty"`    // ... its window
	Spent    *credits.Credits `json:"spent,omitempty"`     // ... charged in the window so far
	Held     *credits.Credits `json:"held,omitempty"`      // ... held by the spender's open holds
	ResetsAt *time.Time       `json:"resets_at,omitempty"` // ... when the window ends
}

// docBase is where the library's errors are documented: a problem's type
// is the sentinel's documentation.
const docBase = "https://pkg.go.dev/github.com/avstudio/credits"

// sentinels maps each of the library's errors to its name and status.
// The order matters: the first that matches wins.
var sentinels = []struct {
	err    error
	name   string
	status int
}{
	{credits.ErrInvalidInput, "ErrInvalidInput", http.StatusBadRequest},
	{credits.ErrInsufficientCredits, "ErrInsufficientCredits", http.StatusPaymentRequired},
	{credits.ErrBudgetExceeded, "ErrBudgetExceeded", http.StatusPaymentRequired},
	{credits.ErrIdempotencyConflict, "ErrIdempotencyConflict", http.StatusConflict},
	{credits.ErrHoldNotFound, "ErrHoldNotFound", http.StatusNotFound},
	{credits.ErrEntryNotFound, "ErrEntryNotFound", http.StatusNotFound},
	{credits.ErrUnknownAccount, "ErrUnknownAccount", http.StatusNotFound},
	{credits.ErrHoldClosed, "ErrHoldClosed", http.StatusConflict},
	{credits.ErrAlreadyClaimed, "ErrAlreadyClaimed", http.StatusConflict},
	{credits.ErrNotRefundable, "ErrNotRefundable", http.StatusUnprocessableEntity},
	{credits.ErrUnknownPriceVersion, "ErrUnknownPriceVersion", http.StatusUnprocessableEntity},
	{credits.ErrOverflow, "ErrOverflow", http.StatusUnprocessableEntity},
}

// problemOf describes err, an error of the library, as a problem; ok is
// false for an error that is none of the library's (a backend failure).
func problemOf(err error) (p problem, ok bool) {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			p = problem{Type: docBase + "#" + s.name, Title: sentinelTitle(s.err), Status: s.status,
				Detail: strings.TrimPrefix(err.Error(), "credits: "), Error: s.name}
			ok = true
			break
		}
	}
	if !ok {
		return problem{}, false
	}
	var in *credits.InputError
	if errors.As(err, &in) {
		p.Field, p.Value, p.Reason = apiField(in.Field), in.Value, in.Reason
		p.Detail = (&credits.InputError{Field: p.Field, Value: in.Value, Reason: in.Reason}).Error()
	}
	var short *credits.InsufficientCreditsError
	if errors.As(err, &short) {
		p.Requested, p.Available, p.Shortfall = &short.Requested, &short.Available, &short.Shortfall
	}
	var budget *credits.BudgetExceededError
	if errors.As(err, &budget) {
		p.Spender, p.Budget, p.Cap, p.Window = budget.Spender, &budget.Budget, &budget.Cap, &budget.Window
		p.Spent, p.Held, p.Requested = &budget.Spent, &budget.Held, &budget.Requested
		if !budget.ResetsAt.IsZero() {
			p.ResetsAt = &budget.ResetsAt
		}
	}
	var conflict *credits.IdempotencyConflictError
	if errors.As(err, &conflict) {
		p.Entry = conflict.EntryID
	}
	return p, true
}

// apiField names a field of the library's requests as the API does: the
// idempotency key comes from a header.
func apiField(f string) string {
	if f == "key" {
		return "Idempotency-Key"
	}
	return f
}

func sentinelTitle(err error) string {
	s := err.Error()
	return strings.ToUpper(s[:1]) + s[1:]
}

// badRequest is a problem of the console's own: input the library never
// saw (a path, query or body the console could not read).
func badRequest(field, value, reason string) error {
	return &credits.InputError{Field: field, Value: value, Reason: reason}
}

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, p problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// fail answers an API request that failed with err: the library's errors
// as their problem, anything else as a 500 that says nothing of the
// cause (which goes to the log).
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if p, ok := problemOf(err); ok {
		writeProblem(w, p)
		return
	}
	h.log.ErrorContext(r.Context(), "console: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeProblem(w, problem{Status: http.StatusInternalServerError, Title: "Internal error",
		Detail: "the ledger could not answer; try again (writes with the same Idempotency-Key are applied once)"})
}

// isAPI reports whether r is a request to the JSON API (answered with
// problems) rather than to a page.
func isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/openapi.yaml"
}

func (h *handler) apiNotFound(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, problem{Status: http.StatusNotFound, Title: "Not found", Detail: "no such API route: " + r.Method + " " + r.URL.Path})
}
