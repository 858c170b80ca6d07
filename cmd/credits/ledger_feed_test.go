package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"
)

// feed prints every entry with the cursor after it; --after a line's
// cursor goes on from the next; notices prints only the notices.
func TestLedgerFeed(t *testing.T) {
	c, _ := newSQLiteCLI(t)
	c.ok("grant", "--account", "alice", "--free-tier", "--claim", "alice@example.com")
	c.ok("grant", "--account", "bob", "--amount", "10", "--source", "topup", "--key", "t1")
	c.ok("hold", "--account", "bob", "--amount", "4", "--ttl", "1m", "--key", "h1")
	c.now = c.now.Add(2 * time.Minute)
	c.ok("charge", "--account", "bob", "--amount", "1", "--key", "c1") // records the lapse of h1 first

	var lines []feedLineJSON
	for _, l := range strings.Split(strings.TrimSpace(c.ok("feed", "--json")), "\n") {
		var fl feedLineJSON
		if err := json.Unmarshal([]byte(l), &fl); err != nil {
			t.Fatalf("feed --json line %q: %v", l, err)
		}
		lines = append(lines, fl)
	}
	if len(lines) != 5 || lines[0].Account != "alice" || lines[1].Account != "bob" || lines[3].Notice != "hold_lapsed" {
		t.Fatalf("feed --json: %+v", lines)
	}
	rest := c.ok("feed", "--json", "--after", string(lines[1].Cursor))
	if n := strings.Count(rest, "\n"); n != 3 || !strings.Contains(rest, `"id":2`) {
		t.Fatalf("feed --after the second line's cursor: %d lines:\n%s", n, rest)
	}
	text := c.ok("notices")
	if !strings.Contains(text, "alice #1  grant (free_tier_claimed)") || !strings.Contains(text, "hold 2 lapsed") || strings.Contains(text, "charge") {
		t.Fatalf("notices:\n%s", text)
	}
	if got := c.ok("feed", "--account", "alice"); strings.Contains(got, "bob") || !strings.Contains(got, "next: --after") {
		t.Fatalf("feed --account alice:\n%s", got)
	}
	wantFail(t, c.run("feed", "--after", "nonsense"), exitInput, `--after`)
}

// feed --follow prints entries as they commit, until interrupted.
func TestLedgerFeedFollow(t *testing.T) {
	c, _ := newSQLiteCLI(t)
	c.ok("grant", "--account", "a", "--amount", "10", "--source", "topup", "--key", "t1")
	var out, errOut syncBuffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, now: func() time.Time { return start }}
	code := make(chan int, 1)
	go func() {
		code <- e.main(append(append([]string{"ledger", "feed"}, c.dbArgs...), "--follow", "--poll", "5ms"))
	}()
	waitFor := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), what); {
			if time.Now().After(deadline) {
				t.Fatalf("feed --follow did not print %q; it printed:\n%s%s", what, out.String(), errOut.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("a #1")
	c.ok("charge", "--account", "a", "--amount", "2", "--key", "c1")
	waitFor("a #2  charge  -2")
	// The follower has its interrupt handler by now (it printed): an
	// interrupt ends it, with the cursor to go on from.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("feed --follow exited %d after an interrupt: %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("feed --follow did not stop on an interrupt")
	}
	if !strings.Contains(out.String(), "next: --after s2") {
		t.Fatalf("feed --follow's last line: %s", out.String())
	}
}
