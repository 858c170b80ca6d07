package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger/pgledgertest"
	"github.com/jackc/pgx/v5"
)

// TestLedgerPostgres runs the ledger subcommands against a real
// PostgreSQL server (CREDITS_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/postgres), in a fresh schema chosen
// with --schema and dropped afterwards. Without a server it is skipped,
// unless CREDITS_REQUIRE_POSTGRES=1.
func TestLedgerPostgres(t *testing.T) {
	schema := pgledgertest.Schema(t, "credits_cli_") // skips (or fails, in CI) without a server
	url := pgledgertest.URL()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	c := &ledgerCLI{t: t, dbArgs: []string{"--db", url, "--schema", schema}, now: start}
	ledgerScenario(t, c)
	scenarioEnd := c.now
	c.now = start
	ledgerReplays(t, c)
	c.now = scenarioEnd

	// The CLI wrote to the schema it was given, and only there.
	var entries int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "entries"}.Sanitize()+" WHERE account = 'alice'").Scan(&entries); err != nil || entries != 10 {
		t.Errorf("%d entries of alice in %s (%v), want 10", entries, schema, err)
	}

	// An operation that times out has an unknown outcome: the error names
	// the key it was tried under, and running it again with that key
	// applies it once. Here another session holds alice's row lock, so
	// the charge waits until its --timeout.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{schema, "accounts"}.Sanitize()+" WHERE id = 'alice' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	r := c.run("charge", "--account", "alice", "chat_message", "--timeout", "2s")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wantFail(t, r, exitInput, "credits ledger charge: ", "(the outcome is unknown: run the same command with --key cli-")
	m := regexp.MustCompile(`--key (cli-[0-9a-f]{20}) to apply it at most once`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no key in %q", r.stderr)
	}
	c.want("charge 11: -3 credits (1 x chat_message, prices v1); balance 108\n", "charge", "--account", "alice", "chat_message", "--key", m[1])
	c.want("charge 11: -3 credits (1 x chat_message, prices v1); replayed: key \""+m[1]+"\" was already applied, nothing changed; balance now 108\n",
		"charge", "--account", "alice", "chat_message", "--key", m[1])
	if b := c.balance("alice"); b.Total != 108*credits.Credit {
		t.Errorf("balance %+v after one charge of 3", b)
	}

	// The ledger the CLI wrote verifies; an entry changed behind its back
	// (its append-only trigger disabled) does not.
	if out := c.ok("verify", "--account", "alice"); !regexp.MustCompile(`^verified account "alice": 11 entries \(11 chained\), head [0-9a-f]{64}: no differences\n$`).MatchString(out) {
		t.Errorf("verify --account alice: %q", out)
	}
	if out := c.ok("verify", "--all"); !regexp.MustCompile(`^verified \d+ accounts, \d+ entries: no differences\n$`).MatchString(out) {
		t.Errorf("verify --all: %q", out)
	}
	entriesTable := pgx.Identifier{schema, "entries"}.Sanitize()
	for _, stmt := range []string{
		"ALTER TABLE " + entriesTable + " DISABLE TRIGGER entries_no_update_or_delete",
		"UPDATE " + entriesTable + " SET amount = amount * 2 WHERE account = 'alice' AND id = 2",
		"ALTER TABLE " + entriesTable + " ENABLE TRIGGER entries_no_update_or_delete",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	for _, args := range [][]string{{"--account", "alice"}, {"--all"}} {
		r := c.run("verify", args...)
		if r.code != exitInput || !strings.Contains(r.stdout, `account "alice", entry 2: its fields and the entry before it do not hash to its hash`) ||
			!strings.Contains(r.stderr, "differences between the ledger and its history") {
			t.Errorf("verify %v after entry 2 was changed: exit %d, %q %q", args, r.code, r.stdout, r.stderr)
		}
	}

	wantFail(t, c.run("balance", "--account", "alice", "--schema", "Bad-Schema"), exitInput, `credits ledger balance: pgledger: schema: "Bad-Schema"`)
	wantFail(t, (&ledgerCLI{t: t, dbArgs: []string{"--db", "postgres://%zz"}, now: start}).run("balance", "--account", "alice"),
		exitInput, "credits ledger balance: --db: ")
}
