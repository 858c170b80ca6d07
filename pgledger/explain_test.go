package pgledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/jackc/pgx/v5"
)

// TestQueriesUseIndexes asks the planner, on a table of 300 accounts of 60
// entries each, most with one of five spenders (statistics collected),
// how it runs the idempotency lookup
// and every form of the history query, both with the values known (a
// custom plan) and as the generic plan a cached prepared statement may
// switch to. Every plan must be an index scan, never a sequential scan;
// the lookup must use the unique (account, key) index.
func TestQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	b, conn := seeded(t, func(s string) string {
		return `
INSERT INTO ` + s + `.accounts (id, version, state)
  SELECT 'acct-' || a, 60, '\x7b7d' FROM generate_series(1, 300) a;
INSERT INTO ` + s + `.entries (account, id, kind, time, amount, balance_after, key, request_hash, spender)
  SELECT 'acct-' || a, i, (ARRAY['grant','charge','hold','capture','release','refund'])[1 + i % 6],
         timestamptz '2026-01-01' + i * interval '1 hour', 1, i,
         CASE WHEN i % 3 = 0 THEN '' ELSE 'key-' || i END, i,
         CASE WHEN i % 4 = 0 THEN '' ELSE 'key_live_' || (i % 5) END
  FROM generate_series(1, 300) a, generate_series(1, 60) i;
ANALYZE ` + s + `.accounts;
ANALYZE ` + s + `.entries`
	})

	type query struct {
		name, sql, args, wantIndex string
	}
	queries := []query{
		{"idempotency lookup", pgledger.KeyedEntrySQL(b), `'acct-7', 'key-5'`, "entries_account_key"},
	}
	for f := 0; f < 16; f++ {
		kinds, since, until, spender := f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
		args := `'acct-7', 10, 100`
		name := "history"
		want := ""
		if kinds {
			args += `, '{charge}'`
			name += " of a kind"
		}
		if since {
			args += `, '2026-01-02'`
			name += " since"
		}
		if until {
			args += `, '2026-01-03'`
			name += " until"
		}
		if spender {
			args += `, 'key_live_3'`
			name += " of a spender"
			if f == 8 {
				want = "entries_account_spender_id" // a spender's history alone: its own index
			}
		}
		queries = append(queries, query{name, pgledger.HistorySQL(b, kinds, since, until, spender), args, want})
	}
	for i, q := range queries {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			stmt := fmt.Sprintf("explained_%d_%s", i, mode[6:12])
			if _, err := conn.Exec(ctx, "PREPARE "+stmt+" AS "+q.sql); err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			rows, err := conn.Query(ctx, "EXPLAIN EXECUTE "+stmt+"("+q.args+")", pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			plan := strings.Join(lines, "\n")
			if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "Index") ||
				(q.wantIndex != "" && !strings.Contains(plan, q.wantIndex)) {
				t.Errorf("%s (%s): not an index scan:\n%s", q.name, mode, plan)
			} else {
				t.Logf("%s (%s):\n%s", q.name, mode, plan)
			}
		}
	}
}

// TestWritesReusePlans runs charges one after another on a pool of one
// connection and asks the server how it planned each statement it
// prepared: every statement run more than five times must run on its
// cached generic plan, not be planned again on every call. (The lookup of
// a batch's keys as key = ANY($2), estimated at ten rows, was planned
// again on every charge: 0.25 ms of a single writer's 0.7.)
func TestWritesReusePlans(t *testing.T) {
	ctx := context.Background()
	b, pool, schema := onOneConnection(t)
	// A history of 20,000 entries, 100 accounts of 200, 2 in 3 keyed.
	s := pgx.Identifier{schema}.Sanitize()
	_, err := pool.Exec(ctx, `
INSERT INTO `+s+`.accounts (id, version, state) SELECT 'acct-' || a, 200, '\x7b7d' FROM generate_series(1, 100) a;
INSERT INTO `+s+`.entries (account, id, kind, time, amount, balance_after, key, request_hash)
  SELECT 'acct-' || a, i, 'grant', timestamptz '2026-01-01' + i * interval '1 hour', 1, i,
         CASE WHEN i % 3 = 0 THEN '' ELSE 'key-' || i END, i
  FROM generate_series(1, 100) a, generate_series(1, 200) i;
ANALYZE `+s+`.accounts;
ANALYZE `+s+`.entries`)
	if err != nil {
		t.Fatal(err)
	}
	chargeOneByOne(t, credits.NewLedger(b, credits.Options{}), "a", 30)
	rows, err := pool.Query(ctx, "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '%'", schema)
	if err != nil {
		t.Fatal(err)
	}
	type plans struct {
		Statement       string
		Generic, Custom int64
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[plans])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no prepared statement of the ledger's on the connection")
	}
	for _, p := range got {
		t.Logf("generic %d, custom %d: %.120s", p.Generic, p.Custom, p.Statement)
		if p.Custom > 5 {
			t.Errorf("planned again on %d of %d calls: %s", p.Custom, p.Custom+p.Generic, p.Statement)
		}
	}
}
