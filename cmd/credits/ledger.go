package main

// This file is the "credits ledger" command group: operations on a ledger
// kept in a SQLite file or a PostgreSQL database.
//
//	credits ledger grant     --account A (--amount N --source S [--expires T] [--priority N] | --free-tier [--claim EMAIL])
//	credits ledger charge    --account A (ACTION [--resolution R] [--quantity N] [--price-version V] [--prices FILE] | --amount N)
//	credits ledger hold      --account A --amount N [--deadline T | --ttl D]
//	credits ledger capture   --account A --hold ID --amount N
//	credits ledger release   --account A --hold ID
//	credits ledger refund    --account A --entry ID [--amount N]
//	credits ledger balance   --account A
//	credits ledger history   --account A [--after ID] [--limit N] [--kind K]... [--since T] [--until T]
//	credits ledger statement --account A [--period YYYY-MM | --from T --to T]
//	credits ledger feed      [--after CURSOR] [--limit N] [--follow] [--account A]
//	credits ledger notices   [--after CURSOR] [--limit N] [--follow] [--account A]
//	credits ledger verify    (--account A | --all)
//	credits ledger backup    --db FILE --to FILE
//
// Every subcommand also takes --db (a SQLite file, default ./credits.db, or
// a postgres:// or postgresql:// URL) and --timeout; all but backup take
// --schema (PostgreSQL only) and --json; writes take --key. The decisions the CLI makes on the
// library's behalf are documented on runLedger.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/avstudio/credits/sqliteledger"
	"github.com/jackc/pgx/v5/pgxpool"
)

// defaultDB is the ledger --db names when it is not given.
const defaultDB = "./credits.db"

// defaultLedgerTimeout bounds a whole ledger subcommand (connecting,
// migrating and the operation) when --timeout is not given.
const defaultLedgerTimeout = time.Minute

// ledgerCommands is the dispatch table of "credits ledger".
func ledgerCommands() []command {
	return []command{
		{"grant", "--account A (--amount N --source topup|adjustment|subscription|refund [--expires RFC3339] [--priority N] | --free-tier [--claim EMAIL]) [--key K]",
			"add credits to an account as a new lot, or claim its one-time free tier", runLedgerGrant},
		{"charge", "--account A (ACTION [--resolution R] [--quantity N] [--price-version V] [--prices FILE] | --amount N) [--key K]",
			"spend credits on an action, priced by the price book, or a raw amount", runLedgerCharge},
		{"hold", "--account A --amount N [--deadline RFC3339 | --ttl DURATION] [--key K]",
			"reserve credits for work in flight; prints the hold's ID", runLedgerHold},
		{"capture", "--account A --hold ID --amount N [--key K]",
			"close a hold by spending all or part of it; the rest goes back", runLedgerCapture},
		{"release", "--account A --hold ID [--key K]",
			"close a hold without spending it", runLedgerRelease},
		{"refund", "--account A --entry ID [--amount N] [--key K]",
			"give back credits for a charge or capture, in full or in part", runLedgerRefund},
		{"balance", "--account A",
			"print an account's total, held and available credits", runLedgerBalance},
		{"history", "--account A [--after ID] [--limit N] [--kind K[,K...]]... [--since RFC3339] [--until RFC3339]",
			"print a page of an account's entries, oldest first", runLedgerHistory},
		{"statement", "--account A [--period YYYY-MM | --from RFC3339 --to RFC3339]",
			"print an account's statement for a period (default: this month, UTC)", runLedgerStatement},
		{"feed", "[--after CURSOR] [--limit N] [--follow] [--account A]",
			"print every account's entries in the order they committed; --follow waits for new ones", runLedgerFeed},
		{"notices", "[--after CURSOR] [--limit N] [--follow] [--account A]",
			"print the feed's notices: low balance, expiring credits, lapsed holds, free tier, renewals", runLedgerNotices},
		{"verify", "(--account A | --all)",
			"check accounts against their history and hash chain; exit 1 on any difference", runLedgerVerify},
		{"backup", "--db FILE --to FILE [--timeout D]",
			"copy a SQLite ledger, while it is in use, to a new file", runLedgerBackup},
	}
}

// runLedger: credits ledger SUBCOMMAND [flags].
//
// Decisions the command line makes where the library leaves a choice:
//   - Writes need an idempotency key. Without --key, a random one
//     ("cli-" and 20 hex digits) is made and printed with the result (in
//     --json output it is the entry's "key"), and with an error whose
//     outcome is unknown (a lost connection, a timeout), so that the
//     same command run again with --key applies the operation at most
//     once. A free-tier claim takes no --key: it is idempotent per account
//     and claim key by itself. Its --claim is an email address, made the
//     claim key by credits.NormalizeEmail (trimmed and lower-cased), so
//     that one address is one claim however it is written; what is not an
//     address is bad input.
//   - A write reports whether it was a replay of a request already
//     applied under its key (the ledger tells an observer on the write's
//     context), and prints the balance read after the write: on a replay
//     the entry's own balance_after is the balance it left back then.
//   - Reads (balance, history, statement, feed, notices, verify) take no --key, and do not create
//     a SQLite file that does not exist: they fail, naming it. A file
//     they may not write (read-only media) they read read-only.
//   - hold --ttl D sets the ledger's hold TTL rather than a deadline of
//     now+D, so that running the same hold again with the same --key is a
//     retry, not a conflicting request.
//   - Flags missing, conflicting or not meant for the subcommand are bad
//     usage (exit 2); a malformed value (an amount, an instant, an ID) is
//     bad input (exit 1), as with the pricing commands.
func runLedger(e *env, args []string) int {
	return e.dispatch("ledger", ledgerCommands(), e.ledgerUsage, args)
}

func (e *env) ledgerUsage(w io.Writer) {
	fmt.Fprintln(w, "credits ledger keeps accounts of credits: in a SQLite file (--db PATH, default "+defaultDB+")")
	fmt.Fprintln(w, "or in PostgreSQL (--db postgres://... or postgresql://..., tables in --schema, default "+pgledger.DefaultSchema+").")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	for _, c := range ledgerCommands() {
		fmt.Fprintf(w, "  credits ledger %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every subcommand takes --db and --timeout; all but backup --schema and --json; those of one account")
	fmt.Fprintln(w, "--account (required; verify takes --account A or --all). verify rebuilds accounts from their")
	fmt.Fprintln(w, "history and checks the hash chain: it prints every difference and exits 1 if there is any. The")
	fmt.Fprintln(w, "writes take --key, an idempotency key: without one, a random key is made and printed, so")
	fmt.Fprintln(w, "that the same command run again with --key KEY is applied at most once. A write prints its")
	fmt.Fprintln(w, "entry and the balance now; run again with the same key, it says it was replayed and changed")
	fmt.Fprintln(w, "nothing (in --json output, \"replayed\": true, and the balance now in \"balance_now\").")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'credits ledger SUBCOMMAND -h' for a subcommand's flags.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 bad input or a refused operation, 2 bad usage.")
}

// ledgerFlags is a ledger subcommand's flag set with the flags every
// ledger subcommand has.
type ledgerFlags struct {
	*flags  // the parser shared with the pricing commands; its pricing flags are not registered
	name    string
	write   bool
	db      string
	schema  string
	account string
	key     string
	json    bool
	timeout time.Duration

	anyAccount bool // --account is optional: it narrows what is read (feed, notices), or is one choice (verify)
}

// newLedgerFlags returns the flags of the ledger subcommand name; a write
// also takes --key.
func newLedgerFlags(name string, write bool) *ledgerFlags {
	var c command
	for _, lc := range ledgerCommands() {
		if lc.name == name {
			c = lc
		}
	}
	fs := flag.NewFlagSet("credits ledger "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &ledgerFlags{flags: &flags{FlagSet: fs, cmd: command{name: "ledger " + name, args: c.args, summary: c.summary}}, name: name, write: write,
		anyAccount: name == "feed" || name == "notices" || name == "verify"}
	fs.StringVar(&f.db, "db", defaultDB, "the ledger: a SQLite file `path`, or a postgres:// or postgresql:// URL")
	fs.StringVar(&f.schema, "schema", "", "PostgreSQL only: the `schema` of the ledger's tables (default "+pgledger.DefaultSchema+"; created if missing)")
	accountUsage := "the account `name` (required)"
	switch {
	case name == "verify":
		accountUsage = "the account `name` to verify (or --all)"
	case f.anyAccount:
		accountUsage = "only this account's entries (default: every account's)"
	}
	timeout := defaultLedgerTimeout
	if name == "verify" {
		timeout = defaultVerifyTimeout
	}
	fs.StringVar(&f.account, "account", "", accountUsage)
	fs.BoolVar(&f.json, "json", false, "print JSON")
	fs.DurationVar(&f.timeout, "timeout", timeout, "give up after this `duration` (connecting included)")
	if write {
		fs.StringVar(&f.key, "key", "", "idempotency `key`: the same command with the same key is applied once (default: a new random key, printed)")
	}
	return f
}

// cmdName is the subcommand's name in messages: "ledger grant".
func (f *ledgerFlags) cmdName() string { return "ledger " + f.name }

// parse parses the arguments and checks the common flags. It returns the
// positional arguments; done is true when the command should exit with
// code.
func (f *ledgerFlags) parse(e *env, args []string) (pos []string, code int, done bool) {
	pos, code, done = f.flags.parse(e, args)
	if done {
		return nil, code, true
	}
	if f.account == "" && !f.anyAccount {
		return nil, e.usageErr(f.cmdName(), "--account is required"), true
	}
	if f.schema != "" && !isPostgresURL(f.db) {
		return nil, e.usageErr(f.cmdName(), "--schema is for a PostgreSQL --db (postgres://...)"), true
	}
	if f.timeout <= 0 {
		return nil, e.usageErr(f.cmdName(), "--timeout must be more than zero"), true
	}
	return pos, 0, false
}

// parseNoArgs is parse for a subcommand that takes no arguments, only flags.
func (f *ledgerFlags) parseNoArgs(e *env, args []string) (code int, done bool) {
	pos, code, done := f.parse(e, args)
	if done {
		return code, true
	}
	if len(pos) != 0 {
		return e.usageErr(f.cmdName(), fmt.Sprintf("unexpected argument %q", pos[0])), true
	}
	return 0, false
}

// given reports whether the flag name was set on the command line.
func (f *ledgerFlags) given(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			set = true
		}
	})
	return set
}

// onlyWith reports bad usage if any of names was given without the flag
// or argument described by with (ok false).
func (f *ledgerFlags) onlyWith(e *env, ok bool, with string, names ...string) (int, bool) {
	if ok {
		return 0, false
	}
	for _, n := range names {
		if f.given(n) {
			return e.usageErr(f.cmdName(), fmt.Sprintf("--%s needs %s", n, with)), true
		}
	}
	return 0, false
}

func isPostgresURL(db string) bool {
	lower := strings.ToLower(db)
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://")
}

// withLedger opens the ledger --db names, calls fn with it under the
// --timeout, and closes the ledger. A SQLite file is created (and its
// schema migrated) only for a write; a PostgreSQL schema is migrated
// every time (it is idempotent, and cheap once done).
func (f *ledgerFlags) withLedger(e *env, opts credits.Options, fn func(ctx context.Context, l *credits.Ledger) int) int {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if opts.Now == nil {
		opts.Now = e.now
	}
	backend, closeBackend, err := openBackend(ctx, f.db, f.schema, f.write)
	if err != nil {
		return e.fail(f.cmdName(), err)
	}
	code := fn(ctx, credits.NewLedger(backend, opts))
	if err := closeBackend(); err != nil && code == exitOK {
		return e.fail(f.cmdName(), err)
	}
	return code
}

// openBackend opens the ledger db names: a PostgreSQL database (its
// schema migrated) or a SQLite file, which is created only if create is
// set. closer releases it.
func openBackend(ctx context.Context, db, schema string, create bool) (_ credits.Backend, closer func() error, _ error) {
	if isPostgresURL(db) {
		cfg, err := pgxpool.ParseConfig(db)
		if err != nil {
			return nil, nil, fmt.Errorf("--db: %w", err)
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		pgOpts := pgledger.Options{Schema: schema}
		if err := pgledger.Migrate(ctx, pool, pgOpts); err != nil {
			pool.Close()
			return nil, nil, err
		}
		backend, err := pgledger.New(pool, pgOpts)
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		return backend, func() error { pool.Close(); return nil }, nil
	}
	if !create {
		if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: no ledger file (a write, such as 'credits ledger grant', creates it)", db)
		}
	}
	backend, err := sqliteledger.Open(ctx, db, sqliteledger.Options{})
	if err != nil && !create {
		// A read of a file this process may not write (a backup on
		// read-only media) reads it read-only.
		if ro, rerr := sqliteledger.Open(ctx, db, sqliteledger.Options{ReadOnly: true}); rerr == nil {
			backend, err = ro, nil
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return backend, backend.Close, nil
}

// writeEntry runs the command's one write, an operation op of the
// ledger: it makes an idempotency key if --key was not given, and runs fn
// under it (see runWrite).
func (f *ledgerFlags) writeEntry(e *env, opts credits.Options, op credits.Op, fn func(ctx context.Context, l *credits.Ledger, key string) (credits.Entry, error)) int {
	key, generated := f.key, false
	if key == "" {
		var err error
		if key, err = randomKey(); err != nil {
			return e.fail(f.cmdName(), err)
		}
		generated = true
	}
	replay := fmt.Sprintf("key %q was already applied", key)
	return f.runWrite(e, opts, op, key, generated, replay, func(ctx context.Context, l *credits.Ledger) (credits.Entry, error) {
		return fn(ctx, l, key)
	})
}

// writeResult is what a write prints with --json: its entry's fields,
// whether the write was a replay, and the account's balance read after
// it. The entry's balance_after is the balance the entry left when it was
// first written; balance_now is the balance now, which on a replay may
// differ.
type writeResult struct {
	credits.Entry
	Replayed   bool        `json:"replayed"`    // the request was applied before: this is its first result, and nothing changed
	BalanceNow balanceJSON `json:"balance_now"` // the account's balance, read after the write
}

// runWrite runs fn, the command's one write (an operation op of the ledger,
// under the idempotency key key, "" for a free-tier claim), and prints
// the entry it returns, whether it was a replay (the ledger reports it to
// an observer on the write's context; replay says why, in words), and the
// balance now. For a key it made (generated), it prints the key, and
// names it in an error whose outcome is unknown.
func (f *ledgerFlags) runWrite(e *env, opts credits.Options, op credits.Op, key string, generated bool, replay string,
	fn func(ctx context.Context, l *credits.Ledger) (credits.Entry, error)) int {
	return f.withLedger(e, opts, func(ctx context.Context, l *credits.Ledger) int {
		replayed := false
		wctx := credits.WithObserver(ctx, func(_ context.Context, ev credits.Event) {
			if ev.Op == op && ev.Account == f.account {
				replayed = ev.Replayed
			}
		})
		entry, err := fn(wctx, l)
		if err != nil {
			if generated && !isLedgerRefusal(err) {
				err = fmt.Errorf("%w (the outcome is unknown: run the same command with --key %s to apply it at most once)", err, key)
			}
			return e.fail(f.cmdName(), err)
		}
		bal, err := l.Balance(ctx, f.account)
		if err != nil {
			done := "was applied"
			if replayed {
				done = "was applied before"
			}
			if key != "" {
				done += " under --key " + key
			}
			return e.fail(f.cmdName(), fmt.Errorf("%s %d %s, but reading the balance after it failed: %w", entry.Kind, entry.ID, done, err))
		}
		now := balanceJSON{Account: bal.Account, Total: bal.Total, Held: bal.Held, Available: bal.Available}
		if f.json {
			return e.writeJSON(f.cmdName(), writeResult{Entry: entry, Replayed: replayed, BalanceNow: now})
		}
		if !replayed {
			replay = ""
		}
		s := describeWrite(&entry, replay, now.Total) + "\n"
		if generated {
			s += fmt.Sprintf("idempotency key %s (made for this run: to retry it, run the same command with --key %s)\n", key, key)
		}
		return e.write(f.cmdName(), s)
	})
}

// randomKey returns a new idempotency key: "cli-" and 20 hex digits.
func randomKey() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make an idempotency key: %w", err)
	}
	return "cli-" + hex.EncodeToString(b[:]), nil
}

// ledgerRefusals are the errors by which the ledger refuses an operation
// for certain, having changed nothing.
var ledgerRefusals = []error{
	credits.ErrInvalidInput, credits.ErrOverflow, credits.ErrInsufficientCredits,
	credits.ErrIdempotencyConflict, credits.ErrUnknownAccount, credits.ErrEntryNotFound,
	credits.ErrHoldNotFound, credits.ErrHoldClosed, credits.ErrAlreadyClaimed,
	credits.ErrNotRefundable, credits.ErrUnknownPriceVersion,
}

// isLedgerRefusal reports whether err is a refusal by the ledger's rules,
// as opposed to a failure whose outcome is unknown (a lost connection, a
// timeout).
func isLedgerRefusal(err error) bool {
	for _, r := range ledgerRefusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// instantText formats t for tables, to the second, in UTC.
func instantText(t time.Time) string { return t.UTC().Format(time.RFC3339) }
