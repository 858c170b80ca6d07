package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to change a ledger file behind the library's back
)

// newVerifyCLI returns a SQLite ledger with two accounts: alice, with
// entries 1 (grant 10), 2 (charge 3) and 3 (charge 2), and bob, with one
// grant.
func newVerifyCLI(t *testing.T) (*ledgerCLI, string) {
	c, path := newSQLiteCLI(t)
	c.ok("grant", "--account", "alice", "--amount", "10", "--source", "topup", "--key", "g1")
	c.ok("charge", "--account", "alice", "--amount", "3", "--key", "c1")
	c.ok("charge", "--account", "alice", "--amount", "2", "--key", "c2")
	c.ok("grant", "--account", "bob", "--amount", "4", "--source", "topup", "--key", "g1")
	return c, path
}

// tamper runs statements on a ledger file with database/sql, behind the
// library's back, its append-only triggers dropped first.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range append([]string{`DROP TRIGGER IF EXISTS entries_no_update`, `DROP TRIGGER IF EXISTS entries_no_delete`}, stmts...) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

var headLine = regexp.MustCompile(`^verified account "alice": 3 entries \(3 chained\), head [0-9a-f]{64}: no differences\n$`)

// A healthy ledger verifies, one account or all of them, with exit 0.
func TestLedgerVerifyHealthy(t *testing.T) {
	c, _ := newVerifyCLI(t)
	if out := c.ok("verify", "--account", "alice"); !headLine.MatchString(out) {
		t.Errorf("verify --account alice: %q", out)
	}
	c.want("verified 2 accounts, 4 entries: no differences\n", "verify", "--all")
	c.want("verified account \"carol\": 0 entries (0 chained), head none: no differences\n", "verify", "--account", "carol")

	// The head is the hash of alice's last entry, as history prints it.
	var v verifyJSON
	if err := json.Unmarshal([]byte(c.ok("verify", "--account", "alice", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	entries := c.history("alice", 100)
	if v.Account != "alice" || v.Accounts != 1 || v.Entries != 3 || v.Chained != 3 || len(v.Differences) != 0 ||
		v.Head.IsZero() || v.Head != entries[len(entries)-1].Hash {
		t.Errorf("verify --account alice --json: %+v", v)
	}
}

// A ledger changed behind the library's back fails to verify with exit
// 1: the report names the account and the entry, and says what differs.
func TestLedgerVerifyTampered(t *testing.T) {
	c, path := newVerifyCLI(t)
	tamper(t, path, `UPDATE entries SET amount = amount * 2 WHERE account = 'alice' AND id = 2`)

	for _, args := range [][]string{{"--account", "alice"}, {"--all"}} {
		r := c.run("verify", args...)
		if r.code != exitInput {
			t.Errorf("verify %v: exit %d, want 1", args, r.code)
		}
		if !strings.Contains(r.stdout, `account "alice", entry 2: its fields and the entry before it do not hash to its hash`) ||
			!strings.Contains(r.stdout, `account "alice", entry 2: it says balance 7, the history adds up to 4`) ||
			strings.Contains(r.stdout, `"bob"`) {
			t.Errorf("verify %v: stdout\n%s", args, r.stdout)
		}
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		summary := lines[len(lines)-1]
		want := regexp.MustCompile(`^verified account "alice": 3 entries \(3 chained\), head [0-9a-f]{64}: \d+ differences$`)
		if args[0] == "--all" {
			want = regexp.MustCompile(`^verified 2 accounts, 4 entries: \d+ differences$`)
		}
		if !want.MatchString(summary) || !strings.HasSuffix(summary, " "+countOf(int64(len(lines)-1), "difference")) {
			t.Errorf("verify %v: summary %q after %d lines", args, summary, len(lines)-1)
		}
		if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "credits ledger verify: ") || !strings.Contains(r.stderr, "differences between the ledger and its history") {
			t.Errorf("verify %v: stderr %q", args, r.stderr)
		}
	}
	c.want("verified account \"bob\": 1 entry (1 chained), head "+c.history("bob", 1)[0].Hash.String()+": no differences\n", "verify", "--account", "bob")

	// --json: the same differences, as objects.
	r := c.run("verify", "--all", "--json")
	var v verifyJSON
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("%v in %s", err, r.stdout)
	}
	if r.code != exitInput || v.Accounts != 2 || v.Entries != 4 || v.Account != "" || len(v.Differences) < 2 {
		t.Errorf("verify --all --json: exit %d, %+v", r.code, v)
	}
	for _, d := range v.Differences {
		if d.Account != "alice" || (d.Entry != 2 && d.Entry != 0) || d.Reason == "" {
			t.Errorf("difference %+v", d)
		}
	}

	// A removed entry, too.
	tamper(t, path, `DELETE FROM entries WHERE account = 'bob'`)
	r = c.run("verify", "--account", "bob")
	if r.code != exitInput || !strings.Contains(r.stdout, `account "bob"`) {
		t.Errorf("verify --account bob after its entry was removed: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// --json prints exactly these fields; with --all, no account, and no head.
func TestLedgerVerifyJSON(t *testing.T) {
	c, _ := newVerifyCLI(t)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.ok("verify", "--account", "alice", "--json")), &fields); err != nil {
		t.Fatal(err)
	}
	got := rawStrings(fields)
	if !regexp.MustCompile(`^"[0-9a-f]{64}"$`).MatchString(got["head"]) {
		t.Errorf("head %s", got["head"])
	}
	delete(got, "head")
	want := map[string]string{"account": `"alice"`, "chained": "3", "accounts": "1", "entries": "3", "differences": "[]"}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v and head", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
	fields = nil
	if err := json.Unmarshal([]byte(c.ok("verify", "--all", "--json")), &fields); err != nil {
		t.Fatal(err)
	}
	if got := rawStrings(fields); got["accounts"] != "2" || got["entries"] != "4" || got["differences"] != "[]" || got["head"] != `""` || got["account"] != "" {
		t.Errorf("verify --all --json: %v", got)
	}
}

// With --all, a line on stderr says how far it got, at most every
// verifyProgressEvery.
func TestLedgerVerifyProgress(t *testing.T) {
	c, _ := newVerifyCLI(t)
	defer func(d time.Duration) { verifyProgressEvery = d }(verifyProgressEvery)
	verifyProgressEvery = 0
	r := c.run("verify", "--all")
	if r.code != exitOK || r.stdout != "verified 2 accounts, 4 entries: no differences\n" {
		t.Fatalf("exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if want := "credits ledger verify: 1 account, 3 entries verified so far, 0 differences\n" +
		"credits ledger verify: 2 accounts, 4 entries verified so far, 0 differences\n"; r.stderr != want {
		t.Errorf("progress %q, want %q", r.stderr, want)
	}
	// Not with --account, which checks one account.
	if out := c.ok("verify", "--account", "alice"); !headLine.MatchString(out) {
		t.Errorf("verify --account alice: %q", out)
	}
}

// Bad usage exits 2 before the ledger is opened; bad values, and a ledger
// that is not there, exit 1, naming the flag or the file.
func TestLedgerVerifyBadFlags(t *testing.T) {
	c, path := newSQLiteCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "credits ledger verify: want --account A or --all (see 'credits ledger verify -h')"},
		{[]string{"--account", ""}, "want --account A or --all"},
		{[]string{"--account", "a", "--all"}, "want --account A or --all, not both"},
		{[]string{"--all", "--account", ""}, "not both"},
		{[]string{"--all", "extra"}, `unexpected argument "extra"`},
		{[]string{"--all", "--key", "k"}, "flag provided but not defined: -key"},
		{[]string{"--all", "--schema", "s"}, "--schema is for a PostgreSQL --db"},
		{[]string{"--all", "--timeout", "0s"}, "--timeout must be more than zero"},
		{[]string{"--all", "--all=maybe"}, "invalid boolean value"},
	} {
		wantFail(t, c.run("verify", tc.args...), exitUsage, tc.want)
	}
	wantFail(t, c.run("verify", "--all"), exitInput, "credits ledger verify: "+path+": no ledger file")
	if _, err := os.Stat(path); err == nil {
		t.Error("verify created the ledger file")
	}
	c, _ = newVerifyCLI(t)
	wantFail(t, c.run("verify", "--account", strings.Repeat("a", 300)), exitInput, "--account")
	wantFail(t, c.run("verify", "--account", "$x"), exitInput, "--account")
	wantFail(t, (&ledgerCLI{t: t, dbArgs: []string{"--db", filepath.Join(t.TempDir(), "none.db")}}).run("verify", "--account", "a"), exitInput, "no ledger file")
}
