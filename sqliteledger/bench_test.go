package sqliteledger_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/benchkit"
	"github.com/avstudio/credits/sqliteledger"
)

var benchSyncModes = []sqliteledger.Synchronous{sqliteledger.SynchronousFull, sqliteledger.SynchronousNormal}

// BenchmarkSQLiteCharge measures one charge by action (a chat message,
// with an idempotency key) through a credits.Ledger on a SQLite file,
// with synchronous FULL and NORMAL, against a baseline run in the same
// process on the same kind of file with the same settings:
//
//	BenchmarkSQLiteCharge/FULL            ledger.Charge, synchronous=FULL
//	BenchmarkSQLiteCharge/NORMAL          ledger.Charge, synchronous=NORMAL
//	BenchmarkSQLiteCharge/baseline/FULL   the least SQL a correct debit needs, FULL
//	BenchmarkSQLiteCharge/baseline/NORMAL the same, NORMAL
//
// Compare each with the baseline of its own synchronous setting.
func BenchmarkSQLiteCharge(b *testing.B) {
	for _, s := range benchSyncModes {
		b.Run(string(s), func(b *testing.B) { benchLedgerCharge(b, s) })
	}
	b.Run("baseline", func(b *testing.B) {
		for _, s := range benchSyncModes {
			b.Run(string(s), func(b *testing.B) { benchBaselineCharge(b, s) })
		}
	})
}

// cpuMeter reports, next to the wall-clock ns/op, the process's CPU time
// per operation (cpu-ns/op): on a machine shared with other work the
// wall clock also counts the time spent waiting for a core.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU(b *testing.B) cpuMeter {
	b.ReportAllocs()
	b.ResetTimer()
	start, ok := processCPU()
	return cpuMeter{start, ok}
}

func (m cpuMeter) stop(b *testing.B) {
	b.StopTimer()
	if end, ok := processCPU(); ok && m.ok {
		b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
	}
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "charge-" + strconv.Itoa(i)
	}
	return keys
}

func benchLedgerCharge(b *testing.B, s sqliteledger.Synchronous) {
	ctx := context.Background()
	backend := openFile(b, filepath.Join(b.TempDir(), "bench.db"), sqliteledger.Options{Synchronous: s})
	l := credits.NewLedger(backend, credits.Options{})
	if _, err := l.Grant(ctx, "acct", credits.GrantRequest{Key: "grant", Amount: 1_000_000_000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
		b.Fatal(err)
	}
	keys := benchKeys(b.N)
	cpu := startCPU(b)
	for i := range b.N {
		if _, err := l.Charge(ctx, "acct", credits.ChargeRequest{Key: keys[i], Action: credits.ChatMessage}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
	if bal, err := l.Balance(ctx, "acct"); err != nil || bal.Total != (1_000_000_000-3*credits.Credits(b.N))*credits.Credit {
		b.Fatalf("balance after %d charges: %s, %v", b.N, bal.Total, err)
	}
}

// baselineSchema is the least a correct debit needs: a balance that a
// conditional UPDATE takes from without going below zero, and an entry
// per debit, unique per account and idempotency key so that a retry
// cannot debit twice.
const baselineSchema = `
CREATE TABLE IF NOT EXISTS bl_accounts (
	id      TEXT    NOT NULL PRIMARY KEY,
	balance INTEGER NOT NULL,
	last_id INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS bl_entries (
	account       TEXT    NOT NULL,
	id            INTEGER NOT NULL,
	time          INTEGER NOT NULL,
	amount        INTEGER NOT NULL,
	balance_after INTEGER NOT NULL,
	key           TEXT    NOT NULL,
	PRIMARY KEY (account, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS bl_entries_key ON bl_entries (account, key);
`

var errBaselineInsufficient = errors.New("baseline: insufficient credits")

// benchBaselineCharge debits with one transaction of two statements, on
// a connection set up as the Backend's write connection is: WAL, the
// same synchronous setting, BEGIN IMMEDIATE, prepared statements.
func benchBaselineCharge(b *testing.B, s sqliteledger.Synchronous) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "baseline.db")
	db, err := sql.Open("sqlite", fmt.Sprintf("file:%s?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(%s)&_txlock=immediate", path, s))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode = WAL`).Scan(&mode); err != nil || mode != "wal" {
		b.Fatalf("journal_mode %q, %v", mode, err)
	}
	if _, err := db.Exec(baselineSchema); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO bl_accounts (id, balance, last_id) VALUES ('acct', ?, 0)`, int64(1_000_000_000*credits.Credit)); err != nil {
		b.Fatal(err)
	}
	debit, err := db.Prepare(`UPDATE bl_accounts SET balance = balance - ?1, last_id = last_id + 1
		WHERE id = ?2 AND balance >= ?1 RETURNING last_id, balance`)
	if err != nil {
		b.Fatal(err)
	}
	defer debit.Close()
	insert, err := db.Prepare(`INSERT INTO bl_entries (account, id, time, amount, balance_after, key) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer insert.Close()
	charge := func(key string, amount credits.Credits) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var id, balance int64
		err = tx.StmtContext(ctx, debit).QueryRowContext(ctx, int64(amount), "acct").Scan(&id, &balance)
		if errors.Is(err, sql.ErrNoRows) {
			return errBaselineInsufficient
		}
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Microsecond).UnixMicro()
		if _, err := tx.StmtContext(ctx, insert).ExecContext(ctx, "acct", id, now, -int64(amount), balance, key); err != nil {
			return err
		}
		return tx.Commit()
	}
	keys := benchKeys(b.N)
	cpu := startCPU(b)
	for i := range b.N {
		if err := charge(keys[i], 3*credits.Credit); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
	var balance int64
	if err := db.QueryRow(`SELECT balance FROM bl_accounts WHERE id = 'acct'`).Scan(&balance); err != nil || balance != int64((1_000_000_000-3*credits.Credits(b.N))*credits.Credit) {
		b.Fatalf("baseline balance after %d debits: %d, %v", b.N, balance, err)
	}
}

// BenchmarkSQLiteFeed measures the feed on a SQLite file (synchronous
// FULL): a consumer reading while 16 writers charge (entries/s), and the
// time from a charge's commit to its notice in a consumer's handler.
func BenchmarkSQLiteFeed(b *testing.B) {
	open := func(b *testing.B) *sqliteledger.Backend {
		return openFile(b, filepath.Join(b.TempDir(), "feed.db"), sqliteledger.Options{})
	}
	b.Run("throughput/writers=16", func(b *testing.B) { benchkit.Throughput(b, open(b), 16) })
	b.Run("latency", func(b *testing.B) { benchkit.Latency(b, open(b)) })
}

// BenchmarkSQLiteHotAccount measures charges/s from 1 and 16 goroutines
// through one Ledger on a SQLite file (synchronous FULL), with group
// commit (the default: on SQLite every account shares the one writer, so
// every account is hot) and without (Options.NoBatching), all on one
// account. Compare each batched case with its unbatched one:
//
//	go test -c -o /tmp/sqliteledger.test && for i in 1 2 3 4 5; do
//	  /tmp/sqliteledger.test -test.run '^$' -test.bench SQLiteHotAccount -test.benchtime 2s
//	done
func BenchmarkSQLiteHotAccount(b *testing.B) {
	for _, workers := range []int{1, 16} {
		for _, batched := range []bool{true, false} {
			name := fmt.Sprintf("workers=%d/batched", workers)
			if !batched {
				name = fmt.Sprintf("workers=%d/unbatched", workers)
			}
			b.Run(name, func(b *testing.B) {
				backend := openFile(b, filepath.Join(b.TempDir(), "hot.db"), sqliteledger.Options{})
				benchkit.HotAccount(b, backend, credits.Options{NoBatching: !batched}, workers)
			})
		}
	}
}
