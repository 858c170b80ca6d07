package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
	"github.com/google/go-cmp/cmp"
)

// ledgerCLI runs "credits ledger" subcommands in-process on one ledger, at
// a clock the test moves.
type ledgerCLI struct {
	t      *testing.T
	dbArgs []string // --db and, for PostgreSQL, --schema
	now    time.Time
}

// start is the clock every ledger test starts at.
var start = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// newSQLiteCLI returns a ledgerCLI on a new SQLite file in t.TempDir(),
// and the file's path.
func newSQLiteCLI(t *testing.T) (*ledgerCLI, string) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	return &ledgerCLI{t: t, dbArgs: []string{"--db", path}, now: start}, path
}

// run runs "credits ledger SUB --db ... ARGS...".
func (c *ledgerCLI) run(sub string, args ...string) result {
	c.t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, now: func() time.Time { return c.now }}
	full := append(append([]string{"ledger", sub}, c.dbArgs...), args...)
	return result{e.main(full), out.String(), errOut.String()}
}

// ok runs a subcommand that must succeed and returns what it printed.
func (c *ledgerCLI) ok(sub string, args ...string) string {
	c.t.Helper()
	r := c.run(sub, args...)
	if r.code != exitOK || r.stderr != "" {
		c.t.Fatalf("ledger %s %v: exit %d, stderr %q", sub, args, r.code, r.stderr)
	}
	return r.stdout
}

// want runs a subcommand that must succeed and print exactly want.
func (c *ledgerCLI) want(want, sub string, args ...string) {
	c.t.Helper()
	if got := c.ok(sub, args...); got != want {
		c.t.Errorf("ledger %s %v:\n got %q\nwant %q", sub, args, got, want)
	}
}

// entry runs a write with --json and decodes the entry it prints.
func (c *ledgerCLI) entry(sub string, args ...string) credits.Entry {
	c.t.Helper()
	var e credits.Entry
	out := c.ok(sub, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		c.t.Fatalf("ledger %s %v --json: %v in %s", sub, args, err, out)
	}
	return e
}

// balance returns an account's balance as "balance --json" prints it.
func (c *ledgerCLI) balance(account string) balanceJSON {
	c.t.Helper()
	var b balanceJSON
	out := c.ok("balance", "--account", account, "--json")
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		c.t.Fatalf("balance --json: %v in %s", err, out)
	}
	return b
}

// history returns every entry of an account, read one page of size limit
// at a time through "history --json", following the cursor.
func (c *ledgerCLI) history(account string, limit int, filters ...string) []credits.Entry {
	c.t.Helper()
	var all []credits.Entry
	after := int64(0)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			c.t.Fatal("history: the cursor does not end")
		}
		var page historyJSON
		args := append([]string{"--account", account, "--json", "--limit", strconv.Itoa(limit), "--after", strconv.FormatInt(after, 10)}, filters...)
		out := c.ok("history", args...)
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			c.t.Fatalf("history --json: %v in %s", err, out)
		}
		if page.Account != account || len(page.Entries) > limit {
			c.t.Fatalf("history page %+v for %s, limit %d", page, account, limit)
		}
		all = append(all, page.Entries...)
		if page.Next == 0 {
			return all
		}
		if page.Next != page.Entries[len(page.Entries)-1].ID {
			c.t.Fatalf("next %d after a page ending at %d", page.Next, page.Entries[len(page.Entries)-1].ID)
		}
		after = page.Next
	}
}

// snapshot is everything the CLI can tell about an account: for checking
// that a failed operation changed nothing.
func (c *ledgerCLI) snapshot(account string) string {
	c.t.Helper()
	h := c.run("history", "--account", account, "--json", "--limit", "1000")
	b := c.run("balance", "--account", account, "--json")
	return h.stdout + h.stderr + b.stdout + b.stderr
}

// refused runs a write that must fail with exit status code and one line
// on stderr containing each of parts, and checks it changed nothing.
func (c *ledgerCLI) refused(account string, code int, parts []string, sub string, args ...string) {
	c.t.Helper()
	before := c.snapshot(account)
	wantFail(c.t, c.run(sub, args...), code, parts...)
	if after := c.snapshot(account); after != before {
		c.t.Errorf("ledger %s %v failed but changed the account:\nbefore %s\nafter  %s", sub, args, before, after)
	}
}

// ledgerScenario runs every subcommand on an empty ledger, as a user
// would, and checks what each prints. The SQLite and the PostgreSQL
// tests run it: both backends must print the same.
func ledgerScenario(t *testing.T, c *ledgerCLI) {
	const alice = "alice"
	a := []string{"--account", alice}
	with := func(args ...string) []string { return append(append([]string{}, a...), args...) }

	// The free tier, once per account and claim key.
	c.want("grant 1: +30 credits (free_tier); balance 30\n", "grant", with("--free-tier", "--claim", "alice@example.com")...)
	c.want("grant 1: +30 credits (free_tier); replayed: the free tier was already claimed by this account, nothing changed; balance now 30\n",
		"grant", with("--free-tier", "--claim", " Alice@Example.com")...)
	// The claim key is the normalized address: another spelling of it is
	// the same person.
	for _, claim := range []string{"alice@example.com", "ALICE@example.COM", "\talice@Example.com "} {
		c.refused("bob", exitInput, []string{`credits ledger grant: claim key "alice@example.com" was used by another account: free tier already claimed`},
			"grant", "--account", "bob", "--free-tier", "--claim", claim)
	}
	c.refused("bob", exitInput, []string{`credits ledger grant: --claim: "alice": not an email address: no '@'`},
		"grant", "--account", "bob", "--free-tier", "--claim", "alice")
	c.refused("bob", exitInput, []string{`credits ledger grant: --claim: "alice@": not an email address: nothing after the '@'`},
		"grant", "--account", "bob", "--free-tier", "--claim", "alice@")
	c.refused(alice, exitInput, []string{"free tier already claimed"}, "grant", with("--free-tier", "--claim", "alice2@example.com")...)

	// Charges priced by action.
	c.want("charge 2: -3 credits (1 x chat_message, prices v1); balance 27\n", "charge", with("chat_message", "--key", "chat-1")...)
	c.want("charge 3: -20 credits (1 x video_generation at 1080p, prices v1); balance 7\n",
		"charge", with("video_generation", "--resolution", "1080p", "--key", "clip-1")...)
	// A retry returns the first result, says it is one, and prints the
	// balance now, not the one the first run left; another request under
	// the key is refused.
	c.want("charge 2: -3 credits (1 x chat_message, prices v1); replayed: key \"chat-1\" was already applied, nothing changed; balance now 7\n",
		"charge", with("chat_message", "--key", "chat-1")...)
	c.refused(alice, exitInput, []string{`credits ledger charge: account "alice": idempotency key "chat-1" was used for a different request (entry 2)`},
		"charge", with("render", "--key", "chat-1")...)
	// Not enough credits: the shortfall, and nothing changes.
	c.refused(alice, exitInput, []string{`credits ledger charge: account "alice": insufficient credits: needs 40, has 7 available (short by 33)`},
		"charge", with("video_generation", "--resolution", "4k", "--key", "clip-2")...)

	// A top-up, then a job: hold, capture part, the rest goes back.
	c.want("grant 4: +100 credits (topup); balance 107\n", "grant", with("--amount", "100", "--source", "topup", "--key", "topup-1")...)
	c.want("hold 5: 21 credits held (until 2025-06-01T09:30:00Z); balance 107 (capture or release it with --hold 5)\n",
		"hold", with("--amount", "21", "--ttl", "30m", "--key", "job-1/hold")...)
	if got, want := c.balance(alice), (balanceJSON{alice, 107 * credits.Credit, 21 * credits.Credit, 86 * credits.Credit}); got != want {
		t.Errorf("balance with a hold: %+v, want %+v", got, want)
	}
	c.refused(alice, exitInput, []string{"insufficient credits: needs 87, has 86 available (short by 1)"}, "charge", with("--amount", "87", "--key", "big")...)
	c.want("capture 6: -16 credits (of hold 5, 5 back); balance 91\n", "capture", with("--hold", "5", "--amount", "16", "--key", "job-1/capture")...)
	c.refused(alice, exitInput, []string{`credits ledger capture: hold 5 of account "alice" was captured or released: hold already closed`},
		"capture", with("--hold", "5", "--amount", "1", "--key", "job-1/capture-again")...)

	// Refunds: in part, then the rest, never more.
	c.want("refund 7: +5 credits (of entry 3); balance 96\n", "refund", with("--entry", "3", "--amount", "5", "--key", "refund-1")...)
	c.want("refund 8: +15 credits (of entry 3); balance 111\n", "refund", with("--entry", "3", "--key", "refund-2")...)
	c.refused(alice, exitInput, []string{"only 0 of its 20 is left to refund: not refundable"}, "refund", with("--entry", "3", "--key", "refund-3")...)
	c.refused(alice, exitInput, []string{"entry 4 of account \"alice\" is a grant, not a charge or capture: not refundable"},
		"refund", with("--entry", "4", "--key", "refund-4")...)

	// A hold released.
	c.want("hold 9: 10 credits held (until 2025-06-01T10:00:00Z); balance 111 (capture or release it with --hold 9)\n",
		"hold", with("--amount", "10", "--key", "job-2/hold")...)
	c.want("release 10: hold 9 released, 10 credits back; balance 111\n", "release", with("--hold", "9", "--key", "job-2/release")...)
	c.refused(alice, exitInput, []string{`credits ledger release: account "alice" has no hold 4: hold not found`},
		"release", with("--hold", "4", "--key", "job-3/release")...)

	// The balance, as text and as exactly four JSON fields.
	c.want("alice: 111 credits, 0 held, 111 available\n", "balance", a...)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.ok("balance", with("--json")...)), &fields); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"account": `"alice"`, "total": "111", "held": "0", "available": "111"}, rawStrings(fields)); diff != "" {
		t.Errorf("balance --json (-want +got):\n%s", diff)
	}

	// The history, as a table and page by page.
	c.want(`ID  TIME                  KIND     AMOUNT  HELD  BALANCE  DETAIL                                    KEY
 1  2025-06-01T09:00:00Z  grant       +30             30  free_tier                                 $free_tier
 2  2025-06-01T09:00:00Z  charge       -3             27  1 x chat_message, prices v1               chat-1
 3  2025-06-01T09:00:00Z  charge      -20              7  1 x video_generation at 1080p, prices v1  clip-1
 4  2025-06-01T09:00:00Z  grant      +100            107  topup                                     topup-1
 5  2025-06-01T09:00:00Z  hold          0   +21      107  until 2025-06-01T09:30:00Z                job-1/hold
 6  2025-06-01T09:00:00Z  capture     -16   -21       91  of hold 5, 5 back                         job-1/capture
 7  2025-06-01T09:00:00Z  refund       +5             96  of entry 3                                refund-1
 8  2025-06-01T09:00:00Z  refund      +15            111  of entry 3                                refund-2
 9  2025-06-01T09:00:00Z  hold          0   +10      111  until 2025-06-01T10:00:00Z                job-2/hold
10  2025-06-01T09:00:00Z  release       0   -10      111  of hold 9                                 job-2/release
`, "history", a...)
	c.want(`ID  TIME                  KIND    AMOUNT  HELD  BALANCE  DETAIL                                    KEY
 2  2025-06-01T09:00:00Z  charge      -3             27  1 x chat_message, prices v1               chat-1
 3  2025-06-01T09:00:00Z  charge     -20              7  1 x video_generation at 1080p, prices v1  clip-1
more entries: run again with --after 3
`, "history", with("--kind", "charge,refund", "--limit", "2")...)
	all := c.history(alice, 1000)
	if len(all) != 10 {
		t.Fatalf("%d entries, want 10", len(all))
	}
	var sum credits.Credits
	for i, e := range all {
		sum += e.Amount
		if e.ID != int64(i+1) || e.BalanceAfter != sum || e.Account != alice {
			t.Errorf("entry %d: %+v; the sum so far is %s", i+1, e, sum)
		}
	}
	for _, limit := range []int{1, 3, 7} {
		if diff := cmp.Diff(all, c.history(alice, limit)); diff != "" {
			t.Errorf("history in pages of %d differs from one page (-one +paged):\n%s", limit, diff)
		}
	}
	kinds := c.history(alice, 4, "--kind", "refund", "--kind", "hold,release")
	if got := kindsOf(kinds); got != "hold refund refund hold release" {
		t.Errorf("history --kind refund --kind hold,release: %s", got)
	}

	// The statement of June, as text and JSON.
	c.now = time.Date(2025, 7, 2, 0, 0, 0, 0, time.UTC)
	c.want(`Statement of alice, 2025-06-01T00:00:00Z to 2025-07-01T00:00:00Z

opening balance        0
granted             +130
  free_tier          +30  1 grant
  topup             +100  1 grant
spent                -39
  chat_message        -3  1 unit in 1 charge
  video_generation   -20  1 unit in 1 charge
  captured holds     -16  1 capture
refunded             +20
expired                0
closing balance      111
`, "statement", with("--period", "2025-06")...)
	var st credits.Statement
	if err := json.Unmarshal([]byte(c.ok("statement", with("--json", "--from", "2025-06-01T09:00:00Z", "--to", "2025-06-01T09:00:01Z")...)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Opening != 0 || st.Closing != 111*credits.Credit || st.Opening+st.TotalGranted()+st.Refunded-st.TotalSpent()-st.Expired != st.Closing ||
		st.First != 1 || st.Last != 10 {
		t.Errorf("statement --json: %+v", st)
	}
	// July so far (the default period): nothing happened yet.
	c.want("Statement of alice, 2025-07-01T00:00:00Z to 2025-08-01T00:00:00Z (so far: as of 2025-07-02T00:00:00Z)\n\n"+
		"opening balance  111\ngranted            0\nspent              0\nrefunded           0\nexpired            0\nclosing balance  111\n",
		"statement", a...)
}

func rawStrings(m map[string]json.RawMessage) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func kindsOf(entries []credits.Entry) string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Kind.String()
	}
	return strings.Join(names, " ")
}

func TestLedgerSQLite(t *testing.T) {
	c, path := newSQLiteCLI(t)
	ledgerScenario(t, c)
	// The file is a ledger the library reads back as the CLI left it.
	ctx := context.Background()
	b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l := credits.NewLedger(b, credits.Options{Now: func() time.Time { return c.now }})
	bal, err := l.Balance(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.balance("alice"); got != (balanceJSON{bal.Account, bal.Total, bal.Held, bal.Available}) || bal.Version != 10 {
		t.Errorf("the library reads %+v, the CLI printed %+v", bal, got)
	}
}

func TestLedgerUsage(t *testing.T) {
	r := runCLI(t, "", "ledger")
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("ledger with no subcommand: %+v", r)
	}
	for _, args := range [][]string{{"ledger", "-h"}, {"ledger", "help"}, {"help", "ledger"}} {
		r := runCLI(t, "", args...)
		wantOK(t, r)
		for _, c := range ledgerCommands() {
			if !strings.Contains(r.stdout, "credits ledger "+c.name+" ") {
				t.Errorf("%v: usage lacks %s:\n%s", args, c.name, r.stdout)
			}
		}
	}
	for _, c := range ledgerCommands() {
		for _, args := range [][]string{{"ledger", c.name, "-h"}, {"ledger", "help", c.name}} {
			r := runCLI(t, "", args...)
			wantOK(t, r)
			if c.name == "backup" {
				if !strings.HasPrefix(r.stdout, "usage: credits ledger backup --db FILE --to FILE") || !strings.Contains(r.stdout, "-to file") {
					t.Errorf("%v:\n%s", args, r.stdout)
				}
				continue
			}
			account := " --account A"
			switch c.name {
			case "feed", "notices":
				account = " [--after CURSOR]"
			case "verify":
				account = " (--account A | --all)"
			}
			if !strings.HasPrefix(r.stdout, "usage: credits ledger "+c.name+account) ||
				!strings.Contains(r.stdout, "-db path") || !strings.Contains(r.stdout, "-json") {
				t.Errorf("%v:\n%s", args, r.stdout)
			}
			// Writes, and only writes, take --key.
			write := c.name != "balance" && c.name != "history" && c.name != "statement" && c.name != "feed" && c.name != "notices" && c.name != "verify"
			if strings.Contains(r.stdout, "-key key") != write {
				t.Errorf("%v: --key listed = %v, want %v", args, !write, write)
			}
		}
	}
	wantFail(t, runCLI(t, "", "ledger", "spend"), exitUsage, `credits ledger: unknown subcommand "spend" (see 'credits ledger -h')`)
	wantFail(t, runCLI(t, "", "ledger", "help", "spend"), exitUsage, `unknown subcommand "spend"`)
}

// TestLedgerUsageErrors: missing, conflicting and unknown flags are bad
// usage (exit 2), checked before the ledger is opened.
func TestLedgerUsageErrors(t *testing.T) {
	c, path := newSQLiteCLI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"balance"}, "credits ledger balance: --account is required (see 'credits ledger balance -h')"},
		{[]string{"balance", "--account", ""}, "--account is required"},
		{[]string{"balance", "--account", "a", "extra"}, `unexpected argument "extra"`},
		{[]string{"balance", "--account", "a", "--key", "k"}, "flag provided but not defined: -key"},
		{[]string{"balance", "--account", "a", "--schema", "s"}, "--schema is for a PostgreSQL --db"},
		{[]string{"balance", "--account", "a", "--timeout", "0s"}, "--timeout must be more than zero"},
		{[]string{"balance", "--account", "a", "--timeout", "soon"}, "invalid value"},
		{[]string{"grant", "--account", "a"}, "want --amount N and --source S, or --free-tier"},
		{[]string{"grant", "--account", "a", "--amount", "5"}, "want --amount N and --source S"},
		{[]string{"grant", "--account", "a", "--free-tier", "--amount", "5"}, "--amount does not go with --free-tier"},
		{[]string{"grant", "--account", "a", "--free-tier", "--priority", "1"}, "--priority does not go with --free-tier"},
		{[]string{"grant", "--account", "a", "--free-tier", "--key", "k"}, "--key does not go with --free-tier"},
		{[]string{"grant", "--account", "a", "--amount", "5", "--source", "topup", "--claim", "x"}, "--claim needs --free-tier"},
		{[]string{"grant", "--account", "a", "--free-tier", "now"}, `unexpected argument "now"`},
		{[]string{"charge", "--account", "a"}, "want an ACTION (such as chat_message) or --amount N"},
		{[]string{"charge", "--account", "a", "render", "chat_message"}, "want one ACTION, got 2 arguments"},
		{[]string{"charge", "--account", "a", "render", "--amount", "3"}, "want an ACTION or --amount, not both"},
		{[]string{"charge", "--account", "a", "--amount", "3", "--quantity", "2"}, "--quantity needs an ACTION"},
		{[]string{"charge", "--account", "a", "--amount", "3", "--resolution", "4k"}, "--resolution needs an ACTION"},
		{[]string{"charge", "--account", "a", "--amount", "3", "--price-version", "v1"}, "--price-version needs an ACTION"},
		{[]string{"charge", "--account", "a", "render", "--quantity"}, "flag needs an argument: -quantity"},
		{[]string{"hold", "--account", "a"}, "--amount is required"},
		{[]string{"hold", "--account", "a", "--amount", "1", "--ttl", "1m", "--deadline", "2030-01-01T00:00:00Z"}, "want --deadline or --ttl, not both"},
		{[]string{"capture", "--account", "a", "--hold", "1"}, "want --hold ID and --amount N"},
		{[]string{"capture", "--account", "a", "--amount", "1"}, "want --hold ID and --amount N"},
		{[]string{"release", "--account", "a"}, "--hold is required"},
		{[]string{"refund", "--account", "a", "--amount", "1"}, "--entry is required"},
		{[]string{"history", "--account", "a", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"statement", "--account", "a", "--period", "2025-06", "--from", "2025-06-01T00:00:00Z"}, "want --period or --from and --to, not both"},
		{[]string{"statement", "--account", "a", "--from", "2025-06-01T00:00:00Z"}, "--from and --to go together"},
		{[]string{"statement", "--account", "a", "--to", "2025-06-01T00:00:00Z"}, "--from and --to go together"},
	} {
		wantFail(t, c.run(tc.args[0], tc.args[1:]...), exitUsage, tc.want)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bad usage created the ledger file (%v)", err)
	}
}

// TestLedgerBadInput: malformed values and requests the ledger refuses
// are bad input (exit 1), with one line naming the flag, and change
// nothing.
func TestLedgerBadInput(t *testing.T) {
	c, _ := newSQLiteCLI(t)
	c.ok("grant", "--account", "a", "--amount", "50", "--source", "adjustment", "--key", "g")
	c.ok("charge", "--account", "a", "render", "--key", "r")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"grant", "--amount", "0", "--source", "topup"}, `--amount: "0": want an amount of credits more than zero`},
		{[]string{"grant", "--amount", "-5", "--source", "topup"}, `--amount: "-5"`},
		{[]string{"grant", "--amount", "two", "--source", "topup"}, `--amount: "two": not a decimal number`},
		{[]string{"grant", "--amount", "1e3", "--source", "topup"}, `--amount: "1e3": exponents are not allowed`},
		{[]string{"grant", "--amount", "99999999999999", "--source", "topup"}, `--amount: "99999999999999": out of range (at most 9223372036854.775807 credits either way)`},
		{[]string{"grant", "--amount", "5", "--source", "gift"}, `--source: "gift": want topup, adjustment, subscription, refund`},
		{[]string{"grant", "--amount", "5", "--source", "free_tier"}, "claim the free tier with --free-tier"},
		{[]string{"grant", "--amount", "5", "--source", "rollover"}, `--source: "rollover"`},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--expires", "tomorrow"}, `--expires: "tomorrow": want an RFC 3339 instant`},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--expires", "2025-01-01T00:00:00Z"}, "must be in the future"},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--priority", "high"}, `--priority: "high"`},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--priority", "3000000000"}, `--priority: "3000000000"`},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--key", "$mine"}, "keys beginning with '$' are reserved"},
		{[]string{"charge", "chat"}, `ACTION: "chat": unknown action (want one of chat_message, live_voice_chat, text_to_speech, `},
		{[]string{"charge", "video_generation", "--resolution", "8k"}, `--resolution: "8k": unknown resolution`},
		{[]string{"charge", "render", "--resolution", "4k"}, "only video_generation has a resolution"},
		{[]string{"charge", "render", "--quantity", "0"}, `--quantity: "0"`},
		{[]string{"charge", "render", "--quantity", "many"}, `--quantity: "many"`},
		{[]string{"charge", "render", "--price-version", "v9"}, "unknown price version"},
		{[]string{"charge", "render", "--prices", "no/such/book.json"}, "open no/such/book.json: no such file"},
		{[]string{"charge", "--amount", "0"}, `--amount: "0"`},
		{[]string{"charge", "--amount", "46"}, `insufficient credits: needs 46, has 45 available (short by 1)`},
		{[]string{"hold", "--amount", "x"}, `--amount: "x"`},
		{[]string{"hold", "--amount", "46"}, "insufficient credits: needs 46, has 45 available (short by 1)"},
		{[]string{"hold", "--amount", "1", "--ttl", "soon"}, `--ttl: "soon": want a duration`},
		{[]string{"hold", "--amount", "1", "--ttl", "-5m"}, `--ttl: "-5m"`},
		{[]string{"hold", "--amount", "1", "--deadline", "noon"}, `--deadline: "noon"`},
		{[]string{"hold", "--amount", "1", "--deadline", "2025-06-01T08:00:00Z"}, `--deadline: "2025-06-01T08:00:00Z": must be in the future`},
		{[]string{"capture", "--hold", "one", "--amount", "1"}, `--hold: "one": want an entry ID`},
		{[]string{"capture", "--hold", "0", "--amount", "1"}, `--hold: "0"`},
		{[]string{"capture", "--hold", "1", "--amount", "1"}, `account "a" has no hold 1: hold not found`},
		{[]string{"capture", "--hold", "99", "--amount", "1"}, `account "a" has no hold 99: hold not found`},
		{[]string{"release", "--hold", "-1"}, `--hold: "-1"`},
		{[]string{"refund", "--entry", "x"}, `--entry: "x"`},
		{[]string{"refund", "--entry", "2", "--amount", "6"}, `refund of 6 for entry 2 of account "a": only 5 of its 5 is left to refund: not refundable`},
		{[]string{"refund", "--entry", "7"}, `account "a" has no entry 7: entry not found`},
		{[]string{"refund", "--entry", "99"}, `account "a" has no entry 99: entry not found`},
	} {
		c.refused("a", exitInput, []string{"credits ledger " + tc.args[0] + ": ", tc.want},
			tc.args[0], append([]string{"--account", "a"}, tc.args[1:]...)...)
	}
	// An amount with too many decimal places says so, whichever write it
	// is given to (and whether the reason from credits.Parse reads
	// "1.0000001 has more than 6 decimal places" or "more than 6 decimal
	// places").
	for _, tc := range []struct {
		amount string
		args   []string
	}{
		{"1.0000001", []string{"grant", "--source", "topup"}},
		{"0.0000001", []string{"grant", "--source", "topup"}},
		{"2.5000001", []string{"charge"}},
		{"0.1234567", []string{"hold"}},
		{"1.0000001", []string{"capture", "--hold", "1"}},
		{"1.00000001", []string{"refund", "--entry", "2"}},
	} {
		c.refused("a", exitInput, []string{"credits ledger " + tc.args[0] + ": --amount: \"" + tc.amount + "\": ", "more than 6 decimal places"},
			tc.args[0], append([]string{"--account", "a", "--amount", tc.amount}, tc.args[1:]...)...)
	}

	// A hold beyond what is held, and a capture of it after its deadline.
	hold := c.entry("hold", "--account", "a", "--amount", "10", "--ttl", "1m", "--key", "h")
	c.refused("a", exitInput, []string{`credits ledger capture: --amount: "11": exceeds the 10 held by hold 3`}, "capture", "--account", "a", "--hold", "3", "--amount", "11", "--key", "c")
	c.now = c.now.Add(time.Minute)
	c.refused("a", exitInput, []string{"credits ledger capture: hold 3 of account \"a\" was closed or lapsed at its deadline", ": hold already closed"},
		"capture", "--account", "a", "--hold", "3", "--amount", "1", "--key", "c")
	if hold.ID != 3 {
		t.Errorf("hold %+v", hold)
	}

	// An account with no entries reads as empty, not as an error.
	for _, args := range [][]string{{"balance", "--account", "nobody"}, {"history", "--account", "nobody"}, {"statement", "--account", "nobody"}} {
		if r := c.run(args[0], args[1:]...); r.code != 0 || r.stderr != "" {
			t.Errorf("%v of an account with no entries: exit %d, stderr %q; want an empty answer", args, r.code, r.stderr)
		}
	}

	// Reads.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"balance", "--account", "$claim:x"}, `credits ledger balance: --account: "$claim:x": names beginning with '$' are reserved`},
		{[]string{"history", "--account", "a", "--kind", "charge,gift"}, `credits ledger history: --kind: "gift": unknown entry kind`},
		{[]string{"history", "--account", "a", "--limit", "0"}, `--limit: "0": want a whole number from 1 to 1000`},
		{[]string{"history", "--account", "a", "--limit", "1001"}, `--limit: "1001"`},
		{[]string{"history", "--account", "a", "--after", "-1"}, `--after: "-1"`},
		{[]string{"history", "--account", "a", "--since", "June"}, `--since: "June"`},
		{[]string{"history", "--account", "a", "--until", "July"}, `--until: "July"`},
		{[]string{"history", "--account", "a", "--since", "2025-06-02T00:00:00Z", "--until", "2025-06-01T00:00:00Z"}, `--until: "2025-06-01T00:00:00Z": must be after --since`},
		{[]string{"statement", "--account", "a", "--period", "June"}, `--period: "June": want a month YYYY-MM`},
		{[]string{"statement", "--account", "a", "--period", "2025-13"}, `--period: "2025-13"`},
		{[]string{"statement", "--account", "a", "--from", "2025-06-02T00:00:00Z", "--to", "2025-06-01T00:00:00Z"}, `--to: "2025-06-01T00:00:00Z": must be after --from`},
		{[]string{"statement", "--account", "a", "--from", "x", "--to", "2025-06-01T00:00:00Z"}, `--from: "x"`},
	} {
		wantFail(t, c.run(tc.args[0], tc.args[1:]...), exitInput, tc.want)
	}
}

// TestLedgerReadsDoNotCreate: a read of a ledger file that does not exist
// fails, naming it, and leaves no file behind.
func TestLedgerReadsDoNotCreate(t *testing.T) {
	c, path := newSQLiteCLI(t)
	for _, sub := range []string{"balance", "history", "statement"} {
		wantFail(t, c.run(sub, "--account", "a"), exitInput, "credits ledger "+sub+": "+path+": no ledger file")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read created %s (%v)", path, err)
	}
	wantFail(t, c.run("grant", "--account", "a", "--amount", "1", "--source", "topup", "--timeout", "1ns"), exitInput, "credits ledger grant: ", "deadline exceeded")
	dir := t.TempDir()
	wantFail(t, (&ledgerCLI{t: t, dbArgs: []string{"--db", dir}, now: start}).run("grant", "--account", "a", "--amount", "1", "--source", "topup"),
		exitInput, "credits ledger grant: sqliteledger: open "+dir)
}

// TestLedgerDefaultDB: without --db the ledger is ./credits.db.
func TestLedgerDefaultDB(t *testing.T) {
	t.Chdir(t.TempDir())
	wantOK(t, runCLI(t, "", "ledger", "grant", "--account", "a", "--amount", "2.5", "--source", "topup", "--key", "k"))
	r := runCLI(t, "", "ledger", "balance", "--account", "a")
	wantOK(t, r)
	if r.stdout != "a: 2.5 credits, 0 held, 2.5 available\n" {
		t.Errorf("balance: %q", r.stdout)
	}
	if _, err := os.Stat("credits.db"); err != nil {
		t.Error(err)
	}
}

// TestLedgerGeneratedKey: a write without --key gets a random key, which
// it prints; running it again with that key is a retry, not a second
// operation.
func TestLedgerGeneratedKey(t *testing.T) {
	c, _ := newSQLiteCLI(t)
	c.ok("grant", "--account", "a", "--amount", "10", "--source", "topup", "--key", "g")
	out := c.ok("charge", "--account", "a", "chat_message")
	m := regexp.MustCompile(`^charge 2: -3 credits \(1 x chat_message, prices v1\); balance 7\n` +
		`idempotency key (cli-[0-9a-f]{20}) \(made for this run: to retry it, run the same command with --key (cli-[0-9a-f]{20})\)\n$`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Fatalf("charge without --key printed %q", out)
	}
	c.want("charge 2: -3 credits (1 x chat_message, prices v1); replayed: key \""+m[1]+"\" was already applied, nothing changed; balance now 7\n",
		"charge", "--account", "a", "chat_message", "--key", m[1])
	// Another run without --key is another charge, under another key.
	again := c.entry("charge", "--account", "a", "chat_message")
	if again.ID != 3 || !strings.HasPrefix(again.Key, "cli-") || again.Key == m[1] {
		t.Errorf("second charge without --key: %+v", again)
	}
	if b := c.balance("a"); b.Total != 4*credits.Credit {
		t.Errorf("balance %+v, want 4 after two charges", b)
	}

	// An error whose outcome the CLI cannot know names the key to retry
	// with; a refusal by the ledger's rules does not.
	f := newLedgerFlags("charge", true)
	if _, code, done := f.parse(&env{stdout: new(bytes.Buffer), stderr: new(bytes.Buffer)}, append([]string{"--account", "a"}, c.dbArgs...)); done {
		t.Fatalf("parse: exit %d", code)
	}
	for _, tc := range []struct {
		err     error
		wantKey bool
	}{
		{errors.New("write tcp 10.0.0.1:5432: connection reset by peer"), true},
		{context.DeadlineExceeded, true},
		{&credits.InsufficientCreditsError{Account: "a", Requested: 5, Available: 4, Shortfall: 1}, false},
		{credits.ErrHoldClosed, false},
	} {
		var out, errOut bytes.Buffer
		e := &env{stdout: &out, stderr: &errOut, now: func() time.Time { return c.now }}
		var key string
		code := f.writeEntry(e, credits.Options{}, credits.OpCharge, func(_ context.Context, _ *credits.Ledger, k string) (credits.Entry, error) {
			key = k
			return credits.Entry{}, tc.err
		})
		r := result{code, out.String(), errOut.String()}
		wantFail(t, r, exitInput, "credits ledger charge: "+tc.err.Error())
		if hint := "run the same command with --key " + key + " to apply it at most once"; strings.Contains(r.stderr, hint) != tc.wantKey {
			t.Errorf("error %v: stderr %q; want the key hint: %v", tc.err, r.stderr, tc.wantKey)
		}
	}
}

// ledgerReplays runs every kind of write twice with the same key (the
// free tier: the same claim), with another write between the two that
// changes the balance, on account "r" of c's ledger. The first run prints
// the balance it left; the second says it was a replay and prints the
// balance now, not the stale one of the entry it replays, in text and in
// JSON. The SQLite and the PostgreSQL tests run it.
func ledgerReplays(t *testing.T, c *ledgerCLI) {
	r := func(args ...string) []string { return append([]string{"--account", "r"}, args...) }
	for i, tc := range []struct {
		sub           string
		args          []string
		first, replay string
	}{
		{"grant", r("--amount", "100", "--source", "topup", "--key", "g"),
			"grant 1: +100 credits (topup); balance 100",
			`grant 1: +100 credits (topup); replayed: key "g" was already applied, nothing changed; balance now 99`},
		{"grant", r("--free-tier", "--claim", "R@Example.com"),
			"grant 3: +30 credits (free_tier); balance 129",
			"grant 3: +30 credits (free_tier); replayed: the free tier was already claimed by this account, nothing changed; balance now 128"},
		{"charge", r("render", "--key", "c"),
			"charge 5: -5 credits (1 x render, prices v1); balance 123",
			`charge 5: -5 credits (1 x render, prices v1); replayed: key "c" was already applied, nothing changed; balance now 122`},
		{"hold", r("--amount", "10", "--key", "h"),
			"hold 7: 10 credits held (until 2025-06-01T10:00:00Z); balance 122 (capture or release it with --hold 7)",
			`hold 7: 10 credits held (until 2025-06-01T10:00:00Z); replayed: key "h" was already applied, nothing changed; balance now 121 (if it is still open, capture or release it with --hold 7)`},
		{"capture", r("--hold", "7", "--amount", "6", "--key", "cap"),
			"capture 9: -6 credits (of hold 7, 4 back); balance 115",
			`capture 9: -6 credits (of hold 7, 4 back); replayed: key "cap" was already applied, nothing changed; balance now 114`},
		{"hold", r("--amount", "2", "--key", "h2"),
			"hold 11: 2 credits held (until 2025-06-01T10:00:00Z); balance 114 (capture or release it with --hold 11)",
			`hold 11: 2 credits held (until 2025-06-01T10:00:00Z); replayed: key "h2" was already applied, nothing changed; balance now 113 (if it is still open, capture or release it with --hold 11)`},
		{"release", r("--hold", "11", "--key", "rel"),
			"release 13: hold 11 released, 2 credits back; balance 113",
			`release 13: hold 11 released, 2 credits back; replayed: key "rel" was already applied, nothing changed; balance now 112`},
		{"refund", r("--entry", "5", "--key", "ref"),
			"refund 15: +5 credits (of entry 5); balance 117",
			`refund 15: +5 credits (of entry 5); replayed: key "ref" was already applied, nothing changed; balance now 116`},
	} {
		c.want(tc.first+"\n", tc.sub, tc.args...)
		// Another write: a fresh one says so in JSON, and the balance now
		// is the one it left.
		var fresh writeResult
		out := c.ok("charge", r("--amount", "1", "--key", "between-"+strconv.Itoa(i), "--json")...)
		if err := json.Unmarshal([]byte(out), &fresh); err != nil {
			t.Fatalf("charge --json: %v in %s", err, out)
		}
		if fresh.Replayed || fresh.BalanceNow != c.balance("r") || fresh.BalanceNow.Total != fresh.BalanceAfter || !strings.Contains(out, `"replayed": false`) {
			t.Errorf("a fresh charge --json: %s", out)
		}
		c.want(tc.replay+"\n", tc.sub, tc.args...)
		var again writeResult
		out = c.ok(tc.sub, append(tc.args, "--json")...)
		if err := json.Unmarshal([]byte(out), &again); err != nil {
			t.Fatalf("%s --json: %v in %s", tc.sub, err, out)
		}
		now := c.balance("r")
		if !again.Replayed || again.BalanceNow != now || again.BalanceAfter == now.Total || !strings.Contains(out, `"replayed": true`) ||
			!strings.Contains(tc.first, fmt.Sprintf("%s %d: ", again.Kind, again.ID)) {
			t.Errorf("%s %v --json, run again: %s; the balance now is %+v", tc.sub, tc.args, out, now)
		}
	}
}

func TestLedgerReplay(t *testing.T) {
	c, _ := newSQLiteCLI(t)
	ledgerReplays(t, c)
}

// TestLedgerHoldTTLRetry: a hold with --ttl, run again with its key after
// the clock moved, is the same hold, not a conflicting request.
func TestLedgerHoldTTLRetry(t *testing.T) {
	c, _ := newSQLiteCLI(t)
	c.ok("grant", "--account", "a", "--amount", "10", "--source", "topup", "--key", "g")
	first := c.entry("hold", "--account", "a", "--amount", "4", "--ttl", "10m", "--key", "h")
	c.now = c.now.Add(3 * time.Minute)
	again := c.entry("hold", "--account", "a", "--amount", "4", "--ttl", "10m", "--key", "h")
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("retried hold differs (-first +again):\n%s", diff)
	}
	if want := start.Add(10 * time.Minute); !first.ExpiresAt.Equal(want) {
		t.Errorf("deadline %s, want %s", first.ExpiresAt, want)
	}
	deadline := c.entry("hold", "--account", "a", "--amount", "1", "--deadline", "2025-06-01T12:00:00+02:00", "--key", "h2")
	if !deadline.ExpiresAt.Equal(time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("--deadline: %+v", deadline)
	}
	def := c.entry("hold", "--account", "a", "--amount", "1", "--key", "h3")
	if !def.ExpiresAt.Equal(c.now.Add(time.Hour)) {
		t.Errorf("default deadline %s, want an hour after %s", def.ExpiresAt, c.now)
	}
	// The first hold lapses at its deadline: its credits are available
	// again, and the history records it.
	c.now = start.Add(10 * time.Minute)
	if b := c.balance("a"); b.Held != 2*credits.Credit || b.Available != 8*credits.Credit {
		t.Errorf("after the first hold's deadline: %+v", b)
	}
	c.ok("release", "--account", "a", "--hold", "4", "--key", "r")
	hist := c.history("a", 10, "--kind", "expire")
	if len(hist) != 1 || hist[0].Hold != first.ID {
		t.Errorf("expiries %+v, want the lapse of hold %d", hist, first.ID)
	}
}

// TestLedgerGrantOptions: a grant's expiry and priority, and the
// statement and history once the lot has expired.
func TestLedgerGrantOptions(t *testing.T) {
	c, _ := newSQLiteCLI(t)
	c.want("grant 1: +40 credits (subscription, priority 2, expires 2025-06-20T00:00:00Z); balance 40\n",
		"grant", "--account", "a", "--amount", "40", "--source", "subscription", "--priority", "2", "--expires", "2025-06-20T00:00:00Z", "--key", "s")
	e := c.entry("grant", "--account", "a", "--amount", "0.5", "--source", "refund", "--key", "r")
	if e.Amount != credits.Credit/2 || e.Source != credits.SourceRefund || e.BalanceAfter != 40*credits.Credit+credits.Credit/2 || e.Key != "r" {
		t.Errorf("grant --json: %+v", e)
	}
	c.ok("charge", "--account", "a", "image_generation", "--quantity", "3", "--key", "img")
	// On the 20th, what is left of the subscription lot (spent first, by
	// its priority) expires.
	c.now = time.Date(2025, 6, 21, 0, 0, 0, 0, time.UTC)
	c.want("a: 0.5 credits, 0 held, 0.5 available\n", "balance", "--account", "a")
	c.ok("charge", "--account", "a", "--amount", "0.5", "--key", "raw")
	c.want("Statement of a, 2025-06-01T00:00:00Z to 2025-07-01T00:00:00Z (so far: as of 2025-06-21T00:00:00Z)\n\n"+
		`opening balance         0
granted             +40.5
  subscription        +40  1 grant
  refund             +0.5  1 grant
spent               -12.5
  raw charges        -0.5  1 charge
  image_generation    -12  3 units in 1 charge
refunded                0
expired               -28
closing balance         0
`, "statement", "--account", "a", "--period", "2025-06")
	exp := c.history("a", 100, "--kind", "expire", "--since", "2025-06-20T00:00:00Z", "--until", "2025-06-22T00:00:00Z")
	if len(exp) != 1 || exp[0].Amount != -28*credits.Credit || exp[0].Lot != 1 {
		t.Errorf("expiry entries %+v", exp)
	}
	if none := c.history("a", 100, "--since", "2025-06-22T00:00:00Z"); len(none) != 0 {
		t.Errorf("entries after the last: %+v", none)
	}
	c.want("no entries\n", "history", "--account", "a", "--after", "5")
}

// TestLedgerChargePrices: --price-version and --prices pick the table a
// charge is priced with.
func TestLedgerChargePrices(t *testing.T) {
	def, err := json.Marshal(credits.DefaultPriceTable())
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.NewReplacer(`"v1"`, `"v2"`, `2025-01-01`, `2025-05-01`, `"render":5`, `"render":4.5`).Replace(string(def))
	book := filepath.Join(t.TempDir(), "book.json")
	if err := os.WriteFile(book, []byte(`{"tables":[`+string(def)+`,`+v2+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := newSQLiteCLI(t)
	c.ok("grant", "--account", "a", "--amount", "100", "--source", "topup", "--key", "g")
	c.want("charge 2: -9 credits (2 x render, prices v2); balance 91\n", "charge", "--account", "a", "render", "--quantity", "2", "--prices", book, "--key", "r1")
	c.want("charge 3: -5 credits (1 x render, prices v1); balance 86\n", "charge", "--account", "a", "render", "--prices", book, "--price-version", "v1", "--key", "r2")
	c.want("charge 4: -5 credits (1 x render, prices v1); balance 81\n", "charge", "--account", "a", "render", "--key", "r3")
	c.want("charge 5: -80 credits (2 x video_generation at 4k, prices v1); balance 1\n", "charge", "--account", "a", "video_generation", "--resolution", "4K", "--quantity", "2", "--key", "v")
	c.want("charge 6: -1 credits (raw amount); balance 0\n", "charge", "--account", "a", "--amount", "1", "--key", "raw")
	c.refused("a", exitInput, []string{`bad.json`}, "charge", "--account", "a", "render", "--prices", filepath.Join(filepath.Dir(book), "bad.json"))
}

// TestLedgerWriteFailure: output that cannot be written is an error of
// the command (through run, as main calls it).
func TestLedgerWriteFailure(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ledger.db")
	for _, args := range [][]string{
		{"ledger", "grant", "--db", db, "--account", "a", "--amount", "5", "--source", "topup", "--key", "g"},
		{"ledger", "balance", "--db", db, "--account", "a", "--json"},
		{"ledger", "history", "--db", db, "--account", "a"},
		{"ledger", "statement", "--db", db, "--account", "a"},
	} {
		var errOut bytes.Buffer
		code := run(args, strings.NewReader(""), brokenWriter{}, &errOut)
		if code != exitInput || !strings.Contains(errOut.String(), "credits "+args[0]+" "+args[1]+": pipe closed") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
	// The grant was made: only its report was lost.
	var out, errOut bytes.Buffer
	if code := run([]string{"ledger", "balance", "--db", db, "--account", "a"}, strings.NewReader(""), &out, &errOut); code != exitOK || out.String() != "a: 5 credits, 0 held, 5 available\n" {
		t.Errorf("balance after the grant: exit %d, %q %q", code, out.String(), errOut.String())
	}
}

// ledger backup copies a SQLite ledger to a new file the library opens,
// with the same accounts; it refuses to overwrite a file, a missing
// ledger, and PostgreSQL.
func TestLedgerBackup(t *testing.T) {
	c, path := newSQLiteCLI(t)
	c.ok("grant", "--account", "alice", "--amount", "10", "--source", "topup", "--key", "g1")
	c.ok("charge", "--account", "alice", "--amount", "3", "--key", "c1")
	dst := filepath.Join(t.TempDir(), "backup.db")
	r := runCLI(t, "", "ledger", "backup", "--db", path, "--to", dst)
	wantOK(t, r)
	if !strings.HasPrefix(r.stdout, "backed up "+path+" to "+dst+" (") {
		t.Errorf("stdout %q", r.stdout)
	}
	copyCLI := &ledgerCLI{t: t, dbArgs: []string{"--db", dst}, now: c.now}
	if got, want := copyCLI.balance("alice"), c.balance("alice"); got != want || got.Total != 7*credits.Credit {
		t.Errorf("the backup's balance %+v, the ledger's %+v", got, want)
	}
	wantFail(t, runCLI(t, "", "ledger", "backup", "--db", path, "--to", dst), exitInput, "already exists: a backup never overwrites a file")
	wantFail(t, runCLI(t, "", "ledger", "backup", "--db", filepath.Join(t.TempDir(), "none.db"), "--to", dst+"2"), exitInput, "no ledger file")
	wantFail(t, runCLI(t, "", "ledger", "backup", "--db", path), exitUsage, "--to is required")
	wantFail(t, runCLI(t, "", "ledger", "backup", "--db", "postgres://x/y", "--to", dst+"3"), exitUsage, "--db must be a SQLite file")
	wantFail(t, runCLI(t, "", "ledger", "backup", "--db", path, "--to", dst+"4", "--account", "a"), exitUsage, "flag provided but not defined: -account")
}

// The reads of a ledger file this process may not write (chmod 0444, or,
// for root, whom permissions do not stop, chattr +i) read it read-only;
// a write fails, naming why.
func TestLedgerReadsReadOnlyFile(t *testing.T) {
	c, path := newSQLiteCLI(t)
	c.ok("grant", "--account", "alice", "--amount", "10", "--source", "topup", "--key", "g1")
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
			t.Skipf("chattr +i (root ignores file permissions): %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
	} else if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if got := c.balance("alice"); got.Total != 10*credits.Credit {
		t.Errorf("balance of the read-only ledger: %+v", got)
	}
	r := c.run("charge", "--account", "alice", "--amount", "1", "--key", "c1")
	wantFail(t, r, exitInput, "the file is not writable by this process", "Options.ReadOnly")
}
