package sqliteledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

func openInternal(t *testing.T, opts Options) *Backend {
	t.Helper()
	b, err := Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// Every connection, the writer's and the readers', is set up as Options say.
func TestConnectionSettings(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		sync string // PRAGMA synchronous: 1 NORMAL, 2 FULL
		busy string
	}{
		{Options{}, "2", "5000"},
		{Options{Synchronous: SynchronousNormal, BusyTimeout: 1500 * time.Millisecond}, "1", "1500"},
	} {
		b := openInternal(t, tc.opts)
		for name, db := range map[string]*sql.DB{"writer": b.writer, "reader": b.reader} {
			want := map[string]string{"journal_mode": "wal", "synchronous": tc.sync, "busy_timeout": tc.busy, "foreign_keys": "1"}
			if name == "reader" {
				want["query_only"] = "1"
			} else {
				want["query_only"] = "0"
			}
			for p, v := range want {
				if got := pragma(t, db, p); got != v {
					t.Errorf("%+v: %s connection: PRAGMA %s = %s, want %s", tc.opts, name, p, got, v)
				}
			}
		}
		if _, err := b.reader.Exec(`INSERT INTO accounts (id, version, state) VALUES ('x', 0, x'')`); err == nil {
			t.Error("a read connection wrote to the file")
		}
	}
}

// The hot path's lookups and every shape of history query use an index
// and walk no entries but the account's, from its cursor.
func TestQueriesUseIndexes(t *testing.T) {
	b := openInternal(t, Options{})
	plan := func(query string, args ...any) string {
		t.Helper()
		rows, err := b.reader.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var steps []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, detail)
		}
		return strings.Join(steps, "; ")
	}
	check := func(what, plan string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: plan %q lacks %q", what, plan, w)
			}
		}
		if strings.Contains(plan, "SCAN entries") {
			t.Errorf("%s: plan %q scans the entries", what, plan)
		}
	}
	check("load state", plan(sqlLoadState, "a"), "SEARCH a USING INDEX sqlite_autoindex_accounts_1 (id=?)",
		"SEARCH entries USING PRIMARY KEY (account=?)")
	check("feed", plan(sqlFeed, 0, 10), "SEARCH entries USING INDEX entries_seq (seq>?)")
	check("entry by ID", plan(sqlReadEntry, "a", 1), "SEARCH entries USING PRIMARY KEY (account=? AND id=?)")
	check("entry by key", plan(sqlReadKey, "a", "k"), "SEARCH k USING COVERING INDEX entries_key (account=? AND key=?)",
		"SEARCH e USING PRIMARY KEY (account=? AND id=?)")
	check("keys stored, of an Update's operations", plan(sqlKeysStored, "a", `["k1","k2"]`),
		"SEARCH k USING COVERING INDEX entries_key (account=? AND key=?)")
	check("entry time, for a time bound", plan(sqlEntryTime, "a", 1), "SEARCH entries USING PRIMARY KEY (account=? AND id=?)")
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []credits.HistoryQuery{
		{After: 10, Limit: 100},
		{After: 10, Limit: 100, Since: since, Until: since.Add(time.Hour)},
		{Limit: 100, Kinds: []credits.Kind{credits.KindCharge, credits.KindHold}, Since: since},
		// A spender's history walks the primary key too, filtering on
		// the way (there is no index on spender).
		{After: 10, Limit: 100, Spender: "key_live_7"},
		{Limit: 100, Spender: "key_live_7", Kinds: []credits.Kind{credits.KindCharge}, Until: since},
	} {
		// Time bounds are turned into IDs (timeBounds) before the query.
		first, last := int64(0), int64(0)
		if !q.Since.IsZero() || !q.Until.IsZero() {
			first, last = 5000, 6000
		}
		query, args := entriesQuery("a", &q, first, last)
		p := plan(query, args...)
		if first != 0 {
			check("history in a time range", p, "SEARCH entries USING PRIMARY KEY (account=? AND id>? AND id<?)")
		} else {
			check("history", p, "SEARCH entries USING PRIMARY KEY (account=? AND id>?)")
		}
		if strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("history: plan %q sorts", p)
		}
	}
	// Kinds other than charges walk the partial index of migration 8,
	// once per kind; several kinds' walks, a page each at most, are
	// merged (a sort of those rows only).
	for _, q := range []credits.HistoryQuery{
		{After: 10, Limit: 100, Kinds: []credits.Kind{credits.KindGrant}},
		{After: 10, Limit: 100, Kinds: []credits.Kind{credits.KindGrant}, Since: since},
		{Limit: 100, Kinds: []credits.Kind{credits.KindRefund, credits.KindHold, credits.KindRefund}, Until: since},
		{Limit: 100, Kinds: []credits.Kind{credits.KindHold}, Spender: "key_live_7"},
	} {
		first, last := int64(0), int64(0)
		if !q.Since.IsZero() || !q.Until.IsZero() {
			first, last = 5000, 6000
		}
		query, args := entriesQuery("a", &q, first, last)
		p := plan(query, args...)
		want := "SEARCH entries USING INDEX entries_account_kind_id (account=? AND kind=? AND id>?)"
		if first != 0 {
			want = "SEARCH entries USING INDEX entries_account_kind_id (account=? AND kind=? AND id>? AND id<?)"
		}
		check("history of kinds", p, want)
		if strings.Count(p, "entries_account_kind_id") != len(slices.Compact(slices.Sorted(slices.Values(q.Kinds)))) {
			t.Errorf("history of kinds %v: plan %q: not one walk per kind", q.Kinds, p)
		}
		if len(q.Kinds) == 1 && strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("history of a kind: plan %q sorts", p)
		}
	}
}
