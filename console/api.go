package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/avstudio/credits"
)

// This file is the API's reads. Each handler reads its input from the
// path and query only, calls the ledger once (or the price book), and
// writes the library's own JSON form of the result.

// writeJSON writes v as application/json with status.
func (h *handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// table returns the price table a pricing request names: ?version=, or
// the one in force ?at= (default now).
func (h *handler) table(r *http.Request) (*credits.PriceTable, error) {
	if v := r.URL.Query().Get("version"); v != "" {
		if r.URL.Query().Has("at") {
			return nil, badRequest("at", r.URL.Query().Get("at"), "give at or version, not both")
		}
		return h.ledger.Prices().Version(v)
	}
	at := h.ledger.Now()
	if err := queryTime(r, "at", &at); err != nil {
		return nil, err
	}
	return h.ledger.Prices().At(at)
}

// GET /api/prices?at=RFC3339|version=V: the price table in force.
func (h *handler) apiPrices(w http.ResponseWriter, r *http.Request) {
	t, err := h.table(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, t)
}

// GET /api/quote?action=A&resolution=R&quantity=N&at=|version=: the
// price of N units of an action.
func (h *handler) apiQuote(w http.ResponseWriter, r *http.Request) {
	t, err := h.table(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	if !q.Has("action") {
		h.fail(w, r, badRequest("action", "", "is required"))
		return
	}
	a, err := credits.ParseAction(q.Get("action"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var opts credits.QuoteOptions
	if s := q.Get("resolution"); s != "" {
		if opts.Resolution, err = credits.ParseResolution(s); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if err := queryInt(r, "quantity", &opts.Quantity); err != nil {
		h.fail(w, r, err)
		return
	}
	quote, err := t.Quote(a, opts)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, quote)
}

// POST /api/estimate?at=|version=, a job as the body: its estimate. The
// body is read by credits.DecodeJob: the same errors, field paths and
// limits.
func (h *handler) apiEstimate(w http.ResponseWriter, r *http.Request) {
	t, err := h.table(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	job, err := credits.DecodeJob(r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	est, err := t.EstimateJob(job)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, est)
}

// GET /api/accounts/{account}/balance. The balance is what services ask
// for most, so it is written without reflection (appendBalance), in the
// form json.Marshal gives it.
func (h *handler) apiBalance(w http.ResponseWriter, r *http.Request) {
	h.balance(w, r, r.PathValue("account"))
}

func (h *handler) balance(w http.ResponseWriter, r *http.Request, account string) {
	b, err := h.ledger.Balance(r.Context(), account)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	bp := balanceBufs.Get().(*[]byte)
	buf := appendBalance((*bp)[:0], &b)
	hd := w.Header()
	hd["Content-Type"] = []string{"application/json"}
	hd["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
	*bp = buf
	balanceBufs.Put(bp)
}

// balanceBufs recycles the buffers balances are written in (a Write
// must not keep its argument, so the buffer is free once it returns).
var balanceBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// appendBalance appends the JSON form of b, exactly as json.Marshal
// writes it, and a newline.
func appendBalance(buf []byte, b *credits.Balance) []byte {
	buf = append(buf, `{"account":`...)
	buf = appendJSONString(buf, b.Account)
	for _, f := range [...]struct {
		name string
		c    credits.Credits
	}{{`,"total":`, b.Total}, {`,"held":`, b.Held}, {`,"available":`, b.Available}} {
		buf = append(buf, f.name...)
		buf, _ = f.c.AppendText(buf)
	}
	buf = append(buf, `,"as_of":"`...)
	buf = b.AsOf.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","version":`...)
	buf = strconv.AppendInt(buf, b.Version, 10)
	return append(buf, "}\n"...)
}

// appendJSONString appends s as a JSON string, escaped as json.Marshal
// escapes it: plain printable ASCII as it is, anything else by
// encoding/json itself.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(buf, q...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// historyPage is the JSON form of a page of history.
type historyPage struct {
	Account string          `json:"account"`
	Entries []credits.Entry `json:"entries"`
	Next    int64           `json:"next"` // the after= of the next page; 0 on the last
}

// historyQuery reads a history query from the query string: after, limit,
// kind (repeated or comma-separated), since and until.
func historyQuery(r *http.Request) (credits.HistoryQuery, error) {
	var q credits.HistoryQuery
	if err := queryInt(r, "after", &q.After); err != nil {
		return q, err
	}
	var limit int64
	if err := queryInt(r, "limit", &limit); err != nil {
		return q, err
	}
	if limit < 0 || limit > 1000 {
		return q, badRequest("limit", r.URL.Query().Get("limit"), "must be 0 to 1000")
	}
	q.Limit = int(limit)
	for _, list := range r.URL.Query()["kind"] {
		for name := range strings.SplitSeq(list, ",") {
			k, err := credits.ParseKind(strings.TrimSpace(name))
			if err != nil {
				return q, err
			}
			q.Kinds = append(q.Kinds, k)
		}
	}
	if err := queryTime(r, "since", &q.Since); err != nil {
		return q, err
	}
	if err := queryTime(r, "until", &q.Until); err != nil {
		return q, err
	}
	return q, nil
}

// GET /api/accounts/{account}/history?after=&limit=&kind=&since=&until=.
func (h *handler) apiHistory(w http.ResponseWriter, r *http.Request) {
	q, err := historyQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	account := r.PathValue("account")
	p, err := h.ledger.History(r.Context(), account, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if p.Entries == nil {
		p.Entries = []credits.Entry{}
	}
	h.writeJSON(w, r, http.StatusOK, historyPage{Account: account, Entries: p.Entries, Next: p.Next})
}

// GET /api/accounts/{account}/entries/{id}.
func (h *handler) apiEntry(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	e, err := h.ledger.Entry(r.Context(), r.PathValue("account"), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, e)
}

// GET /api/accounts/{account}/statement?from=&to= | period=YYYY-MM&tz=:
// the statement of a period (default: the current one).
func (h *handler) apiStatement(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	period, err := h.statementPeriod(r, account)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := h.ledger.Statement(r.Context(), account, period)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, st)
}

// statementPeriod reads the period a statement request names: from and
// to (RFC 3339), or period=YYYY-MM (a calendar month in the zone tz=,
// default UTC), or, with neither, the current period: the account's
// subscription's if it has one, else the calendar month.
func (h *handler) statementPeriod(r *http.Request, account string) (credits.Period, error) {
	q := r.URL.Query()
	loc, err := queryZone(r)
	if err != nil {
		return credits.Period{}, err
	}
	switch {
	case q.Has("from") || q.Has("to"):
		if q.Has("period") {
			return credits.Period{}, badRequest("period", q.Get("period"), "give period or from and to, not both")
		}
		var p credits.Period
		if err := queryTime(r, "from", &p.Start); err != nil {
			return p, err
		}
		if err := queryTime(r, "to", &p.End); err != nil {
			return p, err
		}
		if p.Start.IsZero() || p.End.IsZero() {
			return p, badRequest("from", q.Get("from"), "from and to go together")
		}
		return p, nil
	case q.Has("period"):
		m, err := time.ParseInLocation("2006-01", q.Get("period"), loc)
		if err != nil {
			return credits.Period{}, badRequest("period", q.Get("period"), "must be a month, YYYY-MM")
		}
		return credits.Period{Start: m, End: m.AddDate(0, 1, 0)}, nil
	}
	sub, ok, err := h.subscription(r, account)
	if err != nil {
		return credits.Period{}, err
	}
	return currentPeriod(sub, ok, h.ledger.Now(), loc), nil
}

// currentPeriod is the period that contains now: the subscription's, or
// the calendar month in loc.
func currentPeriod(sub credits.Subscription, ok bool, now time.Time, loc *time.Location) credits.Period {
	if ok {
		return sub.PeriodAt(now)
	}
	n := now.In(loc)
	start := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, loc)
	return credits.Period{Start: start, End: start.AddDate(0, 1, 0)}
}

// subscription asks Options.Subscription for the account's subscription,
// checking what it returns.
func (h *handler) subscription(r *http.Request, account string) (credits.Subscription, bool, error) {
	if h.opts.Subscription == nil {
		return credits.Subscription{}, false, nil
	}
	sub, ok, err := h.opts.Subscription(r.Context(), account)
	if err != nil || !ok {
		return credits.Subscription{}, false, err
	}
	if err := sub.Validate(); err != nil {
		return credits.Subscription{}, false, errBadSubscription{account, err}
	}
	return sub, true, nil
}

// errBadSubscription is an invalid subscription from Options.Subscription:
// the service's fault, not the request's, so it is no InputError to the
// client (it answers 500).
type errBadSubscription struct {
	account string
	err     error
}

func (e errBadSubscription) Error() string {
	return "console: Options.Subscription of account " + e.account + ": " + e.err.Error()
}

// spenderUsage is the JSON form of a spender's usage: one item per budget
// that covers it, as credits.Ledger.Usage returns them.
type spenderUsage struct {
	Account string          `json:"account"`
	Spender string          `json:"spender"`
	Usage   []credits.Usage `json:"usage"` // empty when no budget covers the spender
}

// GET /api/accounts/{account}/usage?spender=NAME: what a spender (or a
// group, "key_*") spent and holds in the current window of each budget
// that covers it. The spender is required; the ledger checks its name
// (the problem names the field "spender").
func (h *handler) apiUsage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("spender") {
		h.fail(w, r, badRequest("spender", "", "is required: a spender, or a group (\"key_*\")"))
		return
	}
	if len(q["spender"]) > 1 {
		h.fail(w, r, badRequest("spender", q.Get("spender"), "given twice"))
		return
	}
	account, spender := r.PathValue("account"), q.Get("spender")
	u, err := h.ledger.Usage(r.Context(), account, spender)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if u == nil {
		u = []credits.Usage{}
	}
	h.writeJSON(w, r, http.StatusOK, spenderUsage{Account: account, Spender: spender, Usage: u})
}
