package pgledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
