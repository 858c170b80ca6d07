package main

// This file is "credits serve": the console of github.com/avstudio/credits/console
// (account pages, support pages, the JSON API) on a ledger in a SQLite file
// or a PostgreSQL database, for a support team that wants it as is.
//
//	credits serve [--db PATH|URL] [--schema S] [--addr HOST:PORT] [--admin-token T] [--private] [--subscriptions FILE]
//
// Who may do what:
//   - the public API (prices, quotes, estimates, the OpenAPI document):
//     anyone who reaches --addr;
//   - reading an account (its page, its balance, history and statements
//     in the API): anyone who reaches --addr, unless --private, which
//     asks for the admin token for reads too;
//   - writes (the API's grants, charges, holds, captures, releases,
//     refunds) and the support pages (with their refund and adjust
//     forms): the admin token only. Without --admin-token the console is
//     read-only: every write is refused.
//
// The admin token is presented as "Authorization: Bearer T" (API clients)
// or by signing in at /login with it, which sets an HttpOnly, SameSite=Strict
// cookie holding an HMAC of the token (not the token); /logout clears it.
// --admin-token may be left out in favour of $CREDITS_ADMIN_TOKEN, so that
// it is not in the process list. --addr defaults to the loopback
// interface: put the console behind TLS before listening elsewhere.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/console"
	"github.com/avstudio/credits/pgledger"
)

// adminCookie is the cookie a sign-in sets.
const adminCookie = "credits_admin"

// server is the serve command's authorization and sign-in.
type server struct {
	token   string // "" for a read-only console
	private bool
	session string // the cookie's value: an HMAC of the token
	subs    map[string]credits.Subscription
}

func runServe(e *env, args []string) int {
	fs := flag.NewFlagSet("credits serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c command
	for _, cmd := range commands() {
		if cmd.name == "serve" {
			c = cmd
		}
	}
	f := &flags{FlagSet: fs, cmd: c}
	db := fs.String("db", defaultDB, "the ledger: a SQLite file `path`, or a postgres:// or postgresql:// URL")
	schema := fs.String("schema", "", "PostgreSQL only: the `schema` of the ledger's tables (default "+pgledger.DefaultSchema+")")
	addr := fs.String("addr", "127.0.0.1:8080", "listen on this `host:port`")
	token := fs.String("admin-token", "", "the `token` that writes and the support pages need (default $CREDITS_ADMIN_TOKEN; none: read-only)")
	private := fs.Bool("private", false, "reads of accounts need the admin token too")
	pricesFile := fs.String("prices", "", "price charges with the price book in this JSON `file` (default: the built-in R-Credits book)")
	subsFile := fs.String("subscriptions", "", "a JSON `file` of the accounts' subscriptions: {\"alice\": {subscription}, ...}")
	pos, code, done := f.parse(e, args)
	if done {
		return code
	}
	if len(pos) != 0 {
		return e.usageErr("serve", fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	if *schema != "" && !isPostgresURL(*db) {
		return e.usageErr("serve", "--schema is for a PostgreSQL --db (postgres://...)")
	}
	if *token == "" {
		*token = os.Getenv("CREDITS_ADMIN_TOKEN")
	}
	if *private && *token == "" {
		return e.usageErr("serve", "--private needs --admin-token (or $CREDITS_ADMIN_TOKEN)")
	}
	s := &server{token: *token, private: *private}
	if s.token != "" {
		m := hmac.New(sha256.New, []byte(s.token))
		m.Write([]byte("credits serve session"))
		s.session = hex.EncodeToString(m.Sum(nil))
	}
	if *subsFile != "" {
		b, err := os.ReadFile(*subsFile)
		if err != nil {
			return e.fail("serve", err)
		}
		if err := json.Unmarshal(b, &s.subs); err != nil {
			return e.fail("serve", fmt.Errorf("--subscriptions %s: %w", *subsFile, err))
		}
	}

	ctx := e.interrupt
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	openCtx, cancel := context.WithTimeout(ctx, defaultLedgerTimeout)
	backend, closeBackend, err := openBackend(openCtx, *db, *schema, false)
	cancel()
	if err != nil {
		return e.fail("serve", err)
	}
	defer closeBackend()
	opts := credits.Options{Now: e.now}
	if *pricesFile != "" {
		if opts.Prices, err = loadPriceBook(*pricesFile); err != nil {
			return e.fail("serve", err)
		}
	}
	ledger := credits.NewLedger(backend, opts)

	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	mux := http.NewServeMux()
	mux.Handle("/", console.New(ledger, console.Options{Authorize: s.authorize, Subscription: s.subscription, Logger: log, SignIn: "login"}))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return e.fail("serve", err)
	}
	srv := &http.Server{Handler: http.NewCrossOriginProtection().Handler(mux), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	mode := "read-only (no --admin-token)"
	if s.token != "" {
		mode = "writes need the admin token"
		if s.private {
			mode += ", reads too"
		}
	}
	fmt.Fprintf(e.stdout, "credits serve: the console of %s on http://%s/ (%s)\n", redactDB(*db), ln.Addr(), mode)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return e.fail("serve", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return e.fail("serve", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return e.fail("serve", err)
	}
	return exitOK
}

// redactDB is the --db for messages: a URL's password left out.
func redactDB(db string) string {
	if i, j := strings.Index(db, "://"), strings.LastIndex(db, "@"); i >= 0 && j > i {
		if k := strings.Index(db[i+3:j], ":"); k >= 0 {
			return db[:i+3+k] + ":xxxxx" + db[j:]
		}
	}
	return db
}

// admin reports whether r presents the admin token, as a bearer token or
// as the sign-in cookie.
func (s *server) admin(r *http.Request) bool {
	if s.token == "" {
		return false
	}
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(auth), []byte(s.token)) == 1
	}
	if c, err := r.Cookie(adminCookie); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session)) == 1
	}
	return false
}

// authorize is the console's Authorize (see the file comment).
func (s *server) authorize(r *http.Request, _ string, op console.Op) error {
	switch {
	case op == console.OpPublic:
		return nil
	case op == console.OpRead && !s.private:
		return nil
	case s.token == "":
		return console.ErrForbidden // read-only
	case !s.admin(r):
		return console.ErrUnauthenticated
	}
	return nil
}

func (s *server) subscription(_ context.Context, account string) (credits.Subscription, bool, error) {
	sub, ok := s.subs[account]
	return sub, ok, nil
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title><link rel="stylesheet" href="static/console.css"></head>
<body><main><h1>Sign in</h1>
{{if .}}<p class="notice bad">{{.}}</p>{{end}}
<form method="post" action="login" class="stack">
<label for="token">Admin token</label><input id="token" name="token" type="password" required autofocus autocomplete="current-password">
<button type="submit">Sign in</button></form></main></body></html>
`))

func (s *server) loginPage(w http.ResponseWriter, _ *http.Request) {
	s.renderLogin(w, http.StatusOK, "")
}

func (s *server) renderLogin(w http.ResponseWriter, status int, msg string) {
	if s.token == "" {
		status, msg = http.StatusForbidden, "This console is read-only: it was started without an admin token."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginTemplate.Execute(w, msg)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	given := r.PostFormValue("token")
	if s.token == "" || subtle.ConstantTimeCompare([]byte(given), []byte(s.token)) != 1 {
		s.renderLogin(w, http.StatusUnauthorized, "That is not the admin token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: s.session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: 12 * 3600})
	w.Header().Set("Location", "support")
	w.WriteHeader(http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, _ *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Location", "./")
	w.WriteHeader(http.StatusSeeOther)
}
