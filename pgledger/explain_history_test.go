package pgledger_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/avstudio/credits/pgledger"
	"github.com/jackc/pgx/v5"
)

// TestHistoryPagesUseIndexes runs, with EXPLAIN ANALYZE under the generic
// plan a cached prepared statement may switch to, the history queries of
// a page of 100 on one account of 100,000 entries (1 in 100 a grant, 1 in
// 100 of one spender; one hour apart): since a time in the middle, until
// one, both, of one kind, of a kind since a time, of a spender. No node
// of the plan may read (or filter out) more than 1,000 rows: each page
// walks an index from where it begins, not the account's history from
// the cursor (a generic plan once walked the primary key for a time
// range: 40 ms at 100,000 entries).
func TestHistoryPagesUseIndexes(t *testing.T) {
	ctx := context.Background()
	b, conn := seeded(t, func(s string) string {
		return `
INSERT INTO ` + s + `.accounts (id, version, state) VALUES ('acct', 100000, '\x7b7d'), ('other', 1000, '\x7b7d');
INSERT INTO ` + s + `.entries (account, id, kind, time, amount, balance_after, key, request_hash, spender)
  SELECT a, i, CASE WHEN i % 100 = 0 THEN 'grant' ELSE 'charge' END,
         timestamptz '2026-01-01' + i * interval '1 hour', 1, i, 'key-' || i, i,
         CASE WHEN i % 100 = 1 THEN 'key_live_3' ELSE '' END
  FROM (VALUES ('acct', 100000), ('other', 1000)) v(a, n), generate_series(1, n) i;
ANALYZE ` + s + `.accounts;
ANALYZE ` + s + `.entries`
	})
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	const (
		since = `timestamptz '2026-01-01' + interval '50000 hours'`
		until = `timestamptz '2026-01-01' + interval '90000 hours'`
	)
	cases := []struct {
		name                         string
		kinds, since, until, spender bool
		args                         string
		want                         []string // indexes the plan must use
	}{
		{"since", false, true, false, false, `'acct', 10, 100, ` + since, []string{"entries_account_time", "entries_pkey"}},
		{"until", false, false, true, false, `'acct', 60000, 100, ` + until, []string{"entries_account_time", "entries_pkey"}},
		{"since until", false, true, true, false, `'acct', 10, 100, ` + since + `, ` + until, []string{"entries_account_time", "entries_pkey"}},
		{"of a kind", true, false, false, false, `'acct', 10, 100, '{grant}'`, []string{"entries_account_kind_id"}},
		{"of two kinds", true, false, false, false, `'acct', 10, 100, '{grant,hold}'`, []string{"entries_account_kind_id"}},
		{"of a kind since", true, true, false, false, `'acct', 10, 100, '{grant}', ` + since, []string{"entries_account_kind_id", "entries_account_time"}},
		{"of a spender", false, false, false, true, `'acct', 10, 100, 'key_live_3'`, []string{"entries_account_spender_id"}},
		{"of a spender since", false, true, false, true, `'acct', 10, 100, ` + since + `, 'key_live_3'`, []string{"entries_account_spender_id", "entries_account_time"}},
	}
	rowsRe := regexp.MustCompile(`actual time=\S+ rows=(\d+) loops=(\d+)|Rows Removed by \w+: (\d+)`)
	for i, c := range cases {
		stmt := fmt.Sprintf("history_%d", i)
		if _, err := conn.Exec(ctx, "PREPARE "+stmt+" AS "+pgledger.HistorySQL(b, c.kinds, c.since, c.until, c.spender)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE "+stmt+"("+c.args+")", pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		plan := strings.Join(lines, "\n")
		most := 0
		for _, m := range rowsRe.FindAllStringSubmatch(plan, -1) {
			n := 0
			if m[1] != "" {
				r, _ := strconv.Atoi(m[1])
				l, _ := strconv.Atoi(m[2])
				n = r * l
			} else {
				n, _ = strconv.Atoi(m[3])
			}
			most = max(most, n)
		}
		ok := most <= 1000 && !strings.Contains(plan, "Seq Scan") && strings.Contains(plan, "rows=100 loops=1")
		for _, idx := range c.want {
			ok = ok && strings.Contains(plan, idx)
		}
		if !ok {
			t.Errorf("history %s: a node reads %d rows, or the plan misses %v, or the page is not 100 entries:\n%s", c.name, most, c.want, plan)
		} else {
			t.Logf("history %s (generic plan):\n%s", c.name, plan)
		}
	}
}
