// Package console is an embeddable web console for a
// github.com/avstudio/credits ledger: an account page (what a user's
// "Settings → Subscription" shows), a support page (find an account, see
// why its balance is what it is, refund or adjust), and a JSON API with an
// OpenAPI 3 document. [New] returns it as one http.Handler, with no web
// framework, to mount under any prefix:
//
//	mux.Handle("/billing/", http.StripPrefix("/billing", console.New(ledger, opts)))
//
// # Routes
//
// Relative to where the handler is mounted (every link and redirect it
// makes is relative, so any prefix works):
//
//	GET  accounts/{account}?before=ID&tz=ZONE             the account page
//	GET  support?account=NAME                             find an account (OpSupport)
//	GET  support/accounts/{account}                       the account page with the support forms
//	POST support/accounts/{account}/refund                entry, amount, reason: a confirmation, then the refund
//	POST support/accounts/{account}/adjust                amount (signed), reason: a confirmation, then a grant or charge
//	GET  openapi.yaml                                     the OpenAPI document of the API below
//	GET  api/prices?at=RFC3339|version=V                  the price table in force
//	GET  api/quote?action=A&resolution=R&quantity=N       a quote
//	POST api/estimate                                     a job's estimate (body read by credits.DecodeJob)
//	GET  api/accounts/{account}/balance
//	GET  api/accounts/{account}/history?after=&limit=&kind=&since=&until=
//	GET  api/accounts/{account}/entries/{id}
//	GET  api/accounts/{account}/statement?period=YYYY-MM&tz=|from=&to=
//	GET  api/accounts/{account}/usage?spender=NAME        its budgets as a spender or group ("key_*") uses them
//	POST api/accounts/{account}/grants                    {"amount", "source", "expires_at", "priority", "metadata"}
//	POST api/accounts/{account}/charges                   {"action", "resolution", "quantity", "price_version"} or {"amount"}
//	POST api/accounts/{account}/holds                     {"amount", "deadline", "metadata"}
//	POST api/accounts/{account}/holds/{hold}/capture      {"amount", "metadata"}
//	POST api/accounts/{account}/holds/{hold}/release      {"metadata"}
//	POST api/accounts/{account}/entries/{id}/refund       {"amount", "metadata"}
//
// The usage of a spender is an OpRead of the account: for each budget
// that covers the spender, as [credits.Ledger.Usage] returns them, the
// budget (cap and window), what is spent and held in its current window,
// what remains and when the window resets. The spender is required; a
// missing or invalid one is 400 with field "spender".
//
// # Authorization
//
// [Options].Authorize decides every request before the handler reads or
// writes anything, given the account named by the request's path (never
// its query, body or headers) and the [Op]. The default,
// [DefaultAuthorize], lets through only OpPublic: mounting the handler
// never exposes a ledger by accident. Hold and entry IDs in a path are
// the path account's: the ledger has no way to reach another account's.
// The support pages ask for OpSupport, and their writes for the write's
// own Op too (OpRefund; OpGrant or OpCharge for an adjustment). Browsers'
// cross-origin form posts are refused (http.CrossOriginProtection), so a
// cookie-based session cannot be ridden by another site.
//
// # Writes and errors
//
// A write takes its idempotency key from the Idempotency-Key header and
// answers 201 Created with the entry; a replay of a request already
// applied answers the same, with Idempotent-Replayed: true. Bodies are
// strict JSON objects: an unknown or repeated member is bad input naming
// it; amounts are JSON numbers or decimal strings, exact, at most six
// decimal places.
//
// Errors are RFC 9457 problem documents (application/problem+json) with
// the members error (the library's sentinel, such as
// "ErrInsufficientCredits"; its documentation is the type), and, for bad
// input, field, value and reason from the [*credits.InputError] (a key's
// field is "Idempotency-Key"). Statuses: 400 ErrInvalidInput; 402
// ErrInsufficientCredits, with requested, available and shortfall; 402
// ErrBudgetExceeded, a charge or hold of a spender over its budget, with
// spender, budget, cap, window, spent, held, requested and resets_at; 404
// ErrHoldNotFound, ErrEntryNotFound, ErrUnknownAccount; 409
// ErrIdempotencyConflict (with entry, the first request's), ErrHoldClosed,
// ErrAlreadyClaimed; 422 ErrNotRefundable, ErrUnknownPriceVersion,
// ErrOverflow; 401 or 403 from Authorize; 500, saying nothing of the
// cause (which goes to Options.Logger), for anything else.
//
// Insufficient credits are 402 Payment Required rather than 409: the
// request is well formed and conflicts with no other request; only more
// credits (a payment) make it succeed, and a client can tell that from a
// 409, which a retry with a new key or a fresh read resolves. A spender
// over its budget is 402 too, for the same reason: the request is well
// formed and only a larger budget, or the window's end (resets_at), lets
// it through; it is not 429, whose Retry-After invites a client to retry
// what is refused until the budget changes.
//
// # Pages
//
// The account page shows the balance (total, held, available), the plan
// and next renewal from Options.Subscription, what rolls over, the
// current period's statement, a burn-down chart of the balance over the
// last Options.ChartPeriods periods as inline SVG with the run-out
// forecast of [credits.Forecast], the open holds (holds in the history
// with no capture, release or expiry, whose deadline has not passed) and
// the history, newest first, Options.HistoryPage entries a page. Amounts
// are exact (credits.Credits String). Dates are shown in the viewer's
// time zone: the IANA zone the tz query parameter names, remembered in
// the tz cookie, else UTC; the page's time zone form offers the
// browser's own zone.
package console
