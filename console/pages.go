package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// This file renders the pages: the account page, the support pages and
// their confirmation step, from the templates in templates/ and the
// files in static/.

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pages holds the parsed templates.
type pages struct {
	t *template.Template
}

func loadPages() *pages {
	funcs := template.FuncMap{
		"when":       when,
		"signed":     signed,
		"minus":      func(c credits.Credits) string { return signed(-c) },
		"describe":   describe,
		"refundable": refundable,
		"spendLabel": spendLabel,
		"add":        func(a, b float64) float64 { return a + b },
		"sub":        func(a, b float64) float64 { return a - b },
		"maxEntries": func() int { return maxViewPages * 1000 },
	}
	return &pages{t: template.Must(template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))}
}

// param is a name and value of a form's hidden field.
type param struct{ Name, Value string }

// pageData is what every template receives.
type pageData struct {
	Title   string
	Base    string         // the way back to the handler's root, "../"
	TZ      string         // the viewer's time zone's name
	Loc     *time.Location // ... the zone
	Keep    []param        // query parameters the time zone form keeps
	Support bool           // the support view: its links and forms
	Message string         // an error or notice
	Query   string         // the support search's account
	SignIn  string         // where to sign in, on a 401 page

	View  *accountView
	Page  string // the account (or support) page's path, from the page itself
	Flash string // what the last support action did

	// The confirmation step.
	Summary     string
	Key         string
	Hidden      []param
	AmountField bool
	Amount      string
	AmountHint  string
	Reason      string
	Button      string
	Back        string
}

// newPage starts the data of a page for r, in the viewer's time zone.
func newPage(w http.ResponseWriter, r *http.Request, title string) (*pageData, error) {
	loc, err := viewerZone(w, r)
	if err != nil {
		return nil, err
	}
	return &pageData{Title: title, Base: baseOf(r), TZ: loc.String(), Loc: loc}, nil
}

// render writes the template name with d.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	var b bytes.Buffer
	if err := h.pages.t.ExecuteTemplate(&b, name, d); err != nil {
		h.log.ErrorContext(r.Context(), "console: render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// errorPage answers a page request with a short page saying what is wrong.
func (h *handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	d := &pageData{Title: title, Base: baseOf(r), TZ: "UTC", Loc: time.UTC, Message: msg}
	h.render(w, r, status, "error", d)
}

// pageFail answers a page request that failed with err, as the API would
// (its status), on a page.
func (h *handler) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	if p, ok := problemOf(err); ok {
		h.errorPage(w, r, p.Status, p.Title, p.Detail)
		return
	}
	h.log.ErrorContext(r.Context(), "console: page failed", "path", r.URL.Path, "err", err)
	h.errorPage(w, r, http.StatusInternalServerError, "Internal error", "The ledger could not answer. Try again.")
}

// seeOther redirects to a path relative to the handler's root, with a
// relative Location, so that it works under any prefix.
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Location", baseOf(r)+path)
	w.WriteHeader(http.StatusSeeOther)
}

// GET /static/{file}.
func (h *handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(staticFiles, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// GET /: where to go.
func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	d, err := newPage(w, r, "Credits console")
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "index", d)
}

// GET /accounts/{account}?before=ID&tz=ZONE: the account page.
func (h *handler) accountPage(w http.ResponseWriter, r *http.Request) {
	h.viewPage(w, r, false)
}

// GET /support/accounts/{account}: the account page with the support
// forms.
func (h *handler) supportPage(w http.ResponseWriter, r *http.Request) {
	h.viewPage(w, r, true)
}

func (h *handler) viewPage(w http.ResponseWriter, r *http.Request, support bool) {
	account := r.PathValue("account")
	d, err := newPage(w, r, account)
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	var before int64
	if s := r.URL.Query().Get("before"); s != "" {
		if before, err = strconv.ParseInt(s, 10, 64); err != nil || before <= 0 {
			h.pageFail(w, r, badRequest("before", s, "must be an entry's ID"))
			return
		}
		d.Keep = append(d.Keep, param{"before", s})
	}
	v, err := h.loadView(r, account, d.Loc, before)
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	d.View, d.Support = v, support
	d.Page = d.Base + accountPath(account)
	if support {
		d.Page = d.Base + "support/" + accountPath(account)
		d.Title = "Support: " + account
		if id := r.URL.Query().Get("done"); id != "" {
			d.Flash = "Recorded as entry #" + id + "."
			if r.URL.Query().Get("replayed") == "true" {
				d.Flash = "Already recorded, as entry #" + id + ": nothing changed."
			}
		}
	}
	h.render(w, r, http.StatusOK, "account", d)
}

// GET /support?account=NAME: the search form, or the account's support
// view.
func (h *handler) supportSearch(w http.ResponseWriter, r *http.Request) {
	d, err := newPage(w, r, "Support")
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	d.Support = true
	if account := strings.TrimSpace(r.URL.Query().Get("account")); account != "" {
		seeOther(w, r, "support/"+accountPath(account))
		return
	}
	h.render(w, r, http.StatusOK, "search", d)
}

// newKey makes the idempotency key of a support action, once, when its
// confirmation is shown: confirming twice applies it once.
func newKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "console-" + hex.EncodeToString(b[:])
}

// POST /support/accounts/{account}/refund: entry, then amount, reason,
// key and confirm=yes. Without confirm it shows what would be refunded.
func (h *handler) supportRefund(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	if err := h.opts.Authorize(r, account, OpRefund); err != nil {
		h.refuse(w, r, err)
		return
	}
	d, err := newPage(w, r, "Refund")
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PostFormValue("entry"), 10, 64)
	if err != nil || id <= 0 {
		h.pageFail(w, r, badRequest("entry", r.PostFormValue("entry"), "must be an entry's ID"))
		return
	}
	target, err := h.ledger.Entry(r.Context(), account, id)
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	d.Support = true
	d.Back = d.Base + "support/" + accountPath(account)
	d.Hidden = []param{{"entry", strconv.FormatInt(id, 10)}}
	d.AmountField, d.AmountHint, d.Button = true, "empty: all that is left", "Confirm refund"
	d.Summary = fmt.Sprintf("Refund entry #%d of %s: %s, %s credits, on %s.", id, account, describe(target), (-target.Amount).String(), when(target.Time, d.Loc))
	d.Amount, d.Reason, d.Key = r.PostFormValue("amount"), strings.TrimSpace(r.PostFormValue("reason")), r.PostFormValue("key")
	if d.Key == "" {
		d.Key = newKey()
	}
	if !refundable(target) {
		d.Message = fmt.Sprintf("Entry #%d is a %s: only charges and captures are refunded.", id, target.Kind)
		h.render(w, r, http.StatusUnprocessableEntity, "confirm", d)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		h.render(w, r, http.StatusOK, "confirm", d)
		return
	}
	var amount credits.Credits
	if d.Amount != "" {
		if amount, err = credits.Parse(d.Amount); err != nil {
			h.confirmFailed(w, r, d, badRequest("amount", d.Amount, "must be an amount of credits, such as 12 or 2.5"))
			return
		}
	}
	if d.Reason == "" {
		h.confirmFailed(w, r, d, badRequest("reason", "", "a reason is required"))
		return
	}
	h.supportWrite(w, r, d, account, func(ctx context.Context) (credits.Entry, error) {
		return h.ledger.Refund(ctx, account, credits.RefundRequest{Key: d.Key, Entry: id, Amount: amount,
			Metadata: map[string]string{"reason": d.Reason, "via": "support console"}})
	})
}

// POST /support/accounts/{account}/adjust: amount (signed) and reason,
// then key and confirm=yes. A positive amount is a grant from source
// adjustment, a negative one a charge of a raw amount; either records
// the reason in the entry's metadata.
func (h *handler) supportAdjust(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	d, err := newPage(w, r, "Adjust")
	if err != nil {
		h.pageFail(w, r, err)
		return
	}
	d.Support = true
	d.Back = d.Base + "support/" + accountPath(account)
	d.AmountField, d.AmountHint = true, "negative to take away"
	d.Amount, d.Reason, d.Key = strings.TrimSpace(r.PostFormValue("amount")), strings.TrimSpace(r.PostFormValue("reason")), r.PostFormValue("key")
	if d.Key == "" {
		d.Key = newKey()
	}
	amount, err := credits.Parse(d.Amount)
	if err != nil || amount == 0 {
		d.Button = "Review adjustment"
		h.confirmFailed(w, r, d, badRequest("amount", d.Amount, "must be a non-zero amount of credits, such as 10 or -2.5"))
		return
	}
	op := OpGrant
	if amount < 0 {
		op = OpCharge
	}
	if err := h.opts.Authorize(r, account, op); err != nil {
		h.refuse(w, r, err)
		return
	}
	if amount > 0 {
		d.Summary = fmt.Sprintf("Add %s credits to %s, as an adjustment grant.", amount, account)
		d.Button = "Confirm: add " + amount.String()
	} else {
		d.Summary = fmt.Sprintf("Take %s credits from %s, as a charge.", -amount, account)
		d.Button = "Confirm: take " + (-amount).String()
	}
	if r.PostFormValue("confirm") != "yes" {
		h.render(w, r, http.StatusOK, "confirm", d)
		return
	}
	if d.Reason == "" {
		h.confirmFailed(w, r, d, badRequest("reason", "", "a reason is required"))
		return
	}
	md := map[string]string{"reason": d.Reason, "via": "support console"}
	h.supportWrite(w, r, d, account, func(ctx context.Context) (credits.Entry, error) {
		if amount > 0 {
			return h.ledger.Grant(ctx, account, credits.GrantRequest{Key: d.Key, Amount: amount, Source: credits.SourceAdjustment, Metadata: md})
		}
		return h.ledger.Charge(ctx, account, credits.ChargeRequest{Key: d.Key, Amount: -amount, Metadata: md})
	})
}

// supportWrite runs a confirmed support action and goes back to the
// support view, saying what it recorded; a refusal shows the
// confirmation again with the reason.
func (h *handler) supportWrite(w http.ResponseWriter, r *http.Request, d *pageData, account string, op func(ctx context.Context) (credits.Entry, error)) {
	replayed := false
	ctx := credits.WithObserver(r.Context(), func(_ context.Context, ev credits.Event) { replayed = replayed || ev.Replayed })
	e, err := op(ctx)
	if err != nil {
		h.confirmFailed(w, r, d, err)
		return
	}
	seeOther(w, r, withParams("support/"+accountPath(account), "done", strconv.FormatInt(e.ID, 10), "replayed", strconv.FormatBool(replayed)))
}

// confirmFailed shows the confirmation again with what went wrong, with
// the status the API would answer.
func (h *handler) confirmFailed(w http.ResponseWriter, r *http.Request, d *pageData, err error) {
	p, ok := problemOf(err)
	if !ok {
		h.pageFail(w, r, err)
		return
	}
	d.Message = p.Detail
	if d.Button == "" {
		d.Button = "Confirm"
	}
	h.render(w, r, p.Status, "confirm", d)
}

// The template functions.

// when formats an instant in the viewer's zone.
func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// signed formats an amount with its sign: +30, -20, 0.
func signed(c credits.Credits) string {
	if c > 0 {
		return "+" + c.String()
	}
	return c.String()
}

func refundable(e credits.Entry) bool {
	return (e.Kind == credits.KindCharge || e.Kind == credits.KindCapture) && e.Amount < 0
}

func spendLabel(l credits.SpendLine) string {
	switch {
	case l.Kind == credits.KindCapture:
		return "captured holds"
	case l.Action == 0:
		return "raw amounts"
	default:
		return l.Action.String()
	}
}

// describe says what an entry is, in a few words.
func describe(e credits.Entry) string {
	var s string
	switch e.Kind {
	case credits.KindGrant:
		s = "Grant: " + e.Source.String()
		if !e.ExpiresAt.IsZero() {
			s += ", expires " + e.ExpiresAt.UTC().Format(time.DateOnly)
		}
	case credits.KindCharge:
		if e.Action == 0 {
			s = "Charge"
		} else {
			s = "Charge: " + e.Action.String()
			if e.Resolution != 0 {
				s += " " + e.Resolution.String()
			}
			if e.Quantity > 1 {
				s += fmt.Sprintf(" ×%d", e.Quantity)
			}
		}
	case credits.KindHold:
		s = fmt.Sprintf("Hold of %s", e.Held)
	case credits.KindCapture:
		s = fmt.Sprintf("Capture of hold #%d", e.Hold)
	case credits.KindRelease:
		s = fmt.Sprintf("Release of hold #%d", e.Hold)
	case credits.KindRefund:
		s = fmt.Sprintf("Refund of #%d", e.Reverses)
	case credits.KindExpire:
		if e.Hold != 0 {
			s = fmt.Sprintf("Hold #%d lapsed", e.Hold)
		} else {
			s = fmt.Sprintf("Expired: lot #%d", e.Lot)
		}
	case credits.KindRollover:
		s = "Rollover"
	default:
		s = e.Kind.String()
	}
	if reason := e.Metadata["reason"]; reason != "" {
		s += " (" + reason + ")"
	}
	return s
}
