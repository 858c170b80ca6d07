package main

import (
	"strings"
	"testing"
)

// TestFieldLabels: a message about a bad value names what the user typed,
// the flag (--quantity) or the argument (ACTION), never a field of the
// library's request (quantity, expires_at), whether the command line or
// the library found the fault.
func TestFieldLabels(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		label string
	}{
		{[]string{"quote", "chat"}, "ACTION"},
		{[]string{"quote", "render", "--quantity", "0"}, "--quantity"},
		{[]string{"quote", "render", "--quantity", "two"}, "--quantity"},
		{[]string{"quote", "render", "--quantity", "99999999999999999999"}, "--quantity"},
		{[]string{"quote", "video_generation", "--resolution", "8k"}, "--resolution"},
		{[]string{"quote", "render", "--resolution", "4k"}, "--resolution"},
		{[]string{"quote", "render", "--at", "yesterday"}, "--at"},
		{[]string{"prices", "--at", "2025-13-01T00:00:00Z"}, "--at"},
	} {
		r := runCLI(t, "", tc.args...)
		wantFail(t, r, exitInput)
		if want := "credits " + tc.args[0] + ": " + tc.label + ": "; !strings.HasPrefix(r.stderr, want) {
			t.Errorf("%v: %q, want it to begin %q", tc.args, r.stderr, want)
		}
	}

	c, _ := newSQLiteCLI(t)
	c.ok("grant", "--account", "a", "--amount", "50", "--source", "topup", "--key", "g")
	c.ok("hold", "--account", "a", "--amount", "10", "--key", "h") // hold 2
	for _, tc := range []struct {
		args  []string
		label string
	}{
		{[]string{"grant", "--amount", "five", "--source", "topup"}, "--amount"},
		{[]string{"grant", "--amount", "5", "--source", "gift"}, "--source"},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--expires", "tomorrow"}, "--expires"},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--expires", "2025-01-01T00:00:00Z"}, "--expires"},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--priority", "high"}, "--priority"},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--key", "$mine"}, "--key"},
		{[]string{"grant", "--amount", "5", "--source", "topup", "--key", "bad\tkey"}, "--key"},
		{[]string{"grant", "--free-tier", "--claim", "bob"}, "--claim"},
		{[]string{"charge", "chat"}, "ACTION"},
		{[]string{"charge", "video_generation", "--resolution", "8k"}, "--resolution"},
		{[]string{"charge", "render", "--resolution", "4k"}, "--resolution"},
		{[]string{"charge", "render", "--quantity", "0"}, "--quantity"},
		{[]string{"charge", "render", "--quantity", "many"}, "--quantity"},
		{[]string{"charge", "--amount", "1.0000001"}, "--amount"},
		{[]string{"hold", "--amount", "1", "--ttl", "soon"}, "--ttl"},
		{[]string{"hold", "--amount", "1", "--deadline", "noon"}, "--deadline"},
		{[]string{"hold", "--amount", "1", "--deadline", "2025-06-01T08:00:00Z"}, "--deadline"},
		{[]string{"capture", "--hold", "one", "--amount", "1"}, "--hold"},
		{[]string{"capture", "--hold", "2", "--amount", "11"}, "--amount"},
		{[]string{"release", "--hold", "-1"}, "--hold"},
		{[]string{"refund", "--entry", "x"}, "--entry"},
		{[]string{"refund", "--entry", "1", "--amount", "0"}, "--amount"},
		{[]string{"balance", "--account", "$claim:x"}, "--account"},
		{[]string{"history", "--account", "a\x01"}, "--account"},
		{[]string{"history", "--kind", "gift"}, "--kind"},
		{[]string{"history", "--limit", "0"}, "--limit"},
		{[]string{"history", "--after", "-1"}, "--after"},
		{[]string{"history", "--since", "June"}, "--since"},
		{[]string{"history", "--until", "July"}, "--until"},
		{[]string{"statement", "--period", "June"}, "--period"},
		{[]string{"statement", "--from", "x", "--to", "2025-06-01T00:00:00Z"}, "--from"},
		{[]string{"statement", "--from", "2025-06-02T00:00:00Z", "--to", "2025-06-01T00:00:00Z"}, "--to"},
	} {
		args := tc.args[1:]
		if !strings.HasPrefix(strings.Join(args, " "), "--account") {
			args = append([]string{"--account", "a"}, args...)
		}
		r := c.run(tc.args[0], args...)
		wantFail(t, r, exitInput)
		if want := "credits ledger " + tc.args[0] + ": " + tc.label + ": "; !strings.HasPrefix(r.stderr, want) {
			t.Errorf("%v: %q, want it to begin %q", tc.args, r.stderr, want)
		}
	}
}
