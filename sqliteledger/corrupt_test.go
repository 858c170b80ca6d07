package sqliteledger_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/internal/sqlentry"
	"github.com/avstudio/credits/sqliteledger"
)

// The corruption tests damage a real ledger file, byte by byte or row by
// row behind the library's back, and check that every read and write of
// every account either answers exactly what it answers on the undamaged
// file or fails with ErrCorrupt: never a plain error. A wrong answer is
// allowed only where the backend cannot tell on its own (an entry before
// the last changed so that it still decodes, or removed, found only by
// walking the chain of entry hashes), and only if the damage is found all
// the same: the backend refused an operation of the account with
// ErrCorrupt, or Ledger.Verify, run on every account of the damaged file,
// reports a *credits.CorruptError naming it. Verify reports nothing on the
// undamaged file.

var (
	corruptAccounts = []string{"alice", "bob", "carol"}
	corruptT0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// corruptKeys are the idempotency keys of each account's entries, in
// order: every read the test makes by key.
var corruptKeys = []string{"g", "c1", "h1", "cap1", "c2", "r1"}

// buildCorruptible writes the file the corruption tests damage: three
// accounts of six entries each (a grant, charges, a hold, its capture, a
// refund), some with metadata, then vacuumed, so that every value is
// stored once (no stale copy in free space) and the write-ahead log is
// gone.
func buildCorruptible(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pristine.db")
	b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := credits.NewLedger(b, credits.Options{Now: func() time.Time { return corruptT0 }})
	for _, a := range corruptAccounts {
		must := func(e credits.Entry, err error) credits.Entry {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		must(l.Grant(ctx, a, credits.GrantRequest{Key: "g", Amount: 100 * credits.Credit, Source: credits.SourceTopUp, Metadata: map[string]string{"order": "o-" + a}}))
		c1 := must(l.Charge(ctx, a, credits.ChargeRequest{Key: "c1", Amount: 3 * credits.Credit, Metadata: map[string]string{"note": "flip-" + a}}))
		h := must(l.Hold(ctx, a, credits.HoldRequest{Key: "h1", Amount: 10 * credits.Credit}))
		must(l.Capture(ctx, a, credits.CaptureRequest{Key: "cap1", Hold: h.ID, Amount: 4 * credits.Credit}))
		must(l.Charge(ctx, a, credits.ChargeRequest{Key: "c2", Action: credits.ChatMessage}))
		must(l.Refund(ctx, a, credits.RefundRequest{Key: "r1", Entry: c1.ID, Amount: credits.Credit}))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("VACUUM"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the write-ahead log is still there after closing: %v", err)
	}
	return path
}

// copyFile copies src to a new file in dir, returning its path.
func copyFile(t *testing.T, src, dir string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, fmt.Sprintf("copy-%d.db", rand.Int64()))
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// outcome is what one operation answered: its result, or its error.
type outcome struct {
	op      string
	answer  string // the result, or "not found", or a plain error's text
	corrupt bool   // failed with ErrCorrupt
	plain   bool   // a backend failure other than ErrCorrupt
}

// openDamaged opens a Ledger on the (damaged) file at path, at the
// corruption tests' clock, and the function that closes it (each test
// damages the file again once it is closed).
func openDamaged(t *testing.T, path string) (*credits.Ledger, func() error) {
	t.Helper()
	b, err := sqliteledger.Open(context.Background(), path, sqliteledger.Options{})
	if err != nil {
		t.Fatalf("Open of the damaged file: %v", err)
	}
	return credits.NewLedger(b, credits.Options{Now: func() time.Time { return corruptT0 }}), b.Close
}

// observe opens the file and runs every operation the test checks on
// each account: the balance, the whole history, the charges, each entry
// by ID (and the one past the last) and by key, the retry of a charge
// already applied, a new charge, and the balance after it.
func observe(t *testing.T, path string) map[string][]outcome {
	t.Helper()
	ctx := context.Background()
	l, closeFile := openDamaged(t, path)
	defer closeFile()
	out := make(map[string][]outcome)
	for _, a := range corruptAccounts {
		var os []outcome
		record := func(op string, v any, err error) {
			o := outcome{op: op, answer: fmt.Sprintf("%+v", v)}
			switch {
			case errors.Is(err, credits.ErrCorrupt):
				o.answer, o.corrupt = "corrupt", true
			case errors.Is(err, credits.ErrEntryNotFound):
				o.answer = "not found"
			case err != nil:
				// A refusal of the ledger's (say, an idempotency
				// conflict) is an answer; a failure of the backend
				// that is not ErrCorrupt is not.
				o.answer, o.plain = "error: "+err.Error(), errors.Is(err, credits.ErrBackend)
			}
			os = append(os, o)
		}
		bal, err := l.Balance(ctx, a)
		record("balance", bal, err)
		page, err := l.History(ctx, a, credits.HistoryQuery{Limit: 1000})
		record("history", page, err)
		page, err = l.History(ctx, a, credits.HistoryQuery{Limit: 1000, Kinds: []credits.Kind{credits.KindCharge}})
		record("history of charges", page, err)
		for id := int64(1); id <= int64(len(corruptKeys))+1; id++ {
			e, err := l.Entry(ctx, a, id)
			record(fmt.Sprint("entry ", id), e, err)
		}
		for _, k := range corruptKeys {
			e, err := l.EntryByKey(ctx, a, k)
			record("entry under key "+k, e, err)
		}
		e, err := l.Charge(ctx, a, credits.ChargeRequest{Key: "c1", Amount: 3 * credits.Credit, Metadata: map[string]string{"note": "flip-" + a}})
		record("retry of c1", e, err)
		e, err = l.Charge(ctx, a, credits.ChargeRequest{Key: "new", Amount: credits.Credit})
		record("new charge", e, err)
		bal, err = l.Balance(ctx, a)
		record("balance after", bal, err)
		out[a] = os
	}
	return out
}

// verifyFile opens the file and runs Ledger.Verify on every account,
// returning the accounts it reports problems of (a *credits.CorruptError
// naming the account) with the first problem's text. A failure of Verify
// itself (not a problem it found) fails the test.
func verifyFile(t *testing.T, path string) map[string]string {
	t.Helper()
	ctx := context.Background()
	l, closeFile := openDamaged(t, path)
	defer closeFile()
	found := make(map[string]string)
	for _, a := range corruptAccounts {
		c, err := l.Verify(ctx, a)
		if err != nil {
			t.Errorf("Verify(%s): %v, want its problems in the report", a, err)
			continue
		}
		for _, p := range c.Problems {
			if p.Account != a {
				t.Errorf("Verify(%s): a problem naming %q: %v", a, p.Account, p)
			}
		}
		if len(c.Problems) > 0 {
			found[a] = c.Problems[0].Error()
		}
	}
	return found
}

// verdict is what judge found.
type verdict struct {
	corrupt        int      // answers refused with ErrCorrupt
	wrongChainOnly int      // wrong answers of the chainOnly accounts
	wrongFiltered  int      // wrong answers of filtered history reads, allowed by filteredOnly
	failures       []string // everything else that differs
	refused        []string // the accounts with an operation refused with ErrCorrupt
	wrong          []string // the accounts with a wrong answer, allowed only if the damage is found
}

// judge compares what a damaged file answered (got) with what the
// undamaged one did (want), for every account. chainOnly are the
// accounts whose wrong answers only an entry chain could catch: they are
// counted, not failed; with filteredOnly, so are wrong answers of a
// filtered history read. strict are the accounts that must answer exactly
// as before, without even ErrCorrupt.
func judge(want, got map[string][]outcome, chainOnly, strict []string, filteredOnly bool) verdict {
	var v verdict
	for _, a := range corruptAccounts {
		refused := false // the new charge was refused as corrupt
		for i, g := range got[a] {
			w := want[a][i]
			if g.op == "new charge" {
				refused = g.corrupt
			}
			if g.op == "balance after" && refused {
				w = want[a][0] // nothing was charged: the balance before
				w.op = g.op
			}
			if g.corrupt && !slices.Contains(v.refused, a) {
				v.refused = append(v.refused, a)
			}
			if g.answer != w.answer && !g.corrupt && !g.plain && !slices.Contains(v.wrong, a) {
				v.wrong = append(v.wrong, a)
			}
			switch {
			case g.answer == w.answer:
			case g.plain:
				v.failures = append(v.failures, fmt.Sprintf("%s: %s: a plain error, not ErrCorrupt: %s", a, g.op, g.answer))
			case g.corrupt && !slices.Contains(strict, a):
				v.corrupt++
			case g.corrupt:
				v.failures = append(v.failures, fmt.Sprintf("%s: %s: ErrCorrupt, for an account the damage does not touch", a, g.op))
			case slices.Contains(chainOnly, a):
				v.wrongChainOnly++
			case filteredOnly && g.op == "history of charges":
				v.wrongFiltered++
			default:
				v.failures = append(v.failures, fmt.Sprintf("%s: %s: a silent wrong answer:\n\t got %s\n\twant %s", a, g.op, g.answer, w.answer))
			}
		}
	}
	return v
}

// rawEntries reads every entry row of the file by a full scan of the
// table, as the library would decode it (in sqlentry's encoding). ok is
// false if the scan fails or a row does not decode: the library can tell.
func rawEntries(t *testing.T, path string) (rows map[string]credits.Entry, ok bool) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Query(`SELECT ` + sqlentry.Columns + ` FROM entries`)
	if err != nil {
		return nil, false
	}
	defer r.Close()
	rows = make(map[string]credits.Entry)
	for r.Next() {
		e, err := sqliteledger.ScanEntry(r)
		if err != nil {
			return nil, false
		}
		rows[fmt.Sprintf("%q/%d", e.Account, e.ID)] = e
	}
	return rows, r.Err() == nil
}

// integrityCheck returns what SQLite's PRAGMA integrity_check says of the
// file: "ok", or the first problem it finds (a b-tree out of order, an
// index that does not match its table, a value of the wrong type in a
// STRICT table).
func integrityCheck(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var msg string
	if err := db.QueryRow("PRAGMA integrity_check(1)").Scan(&msg); err != nil {
		return err.Error()
	}
	return msg
}

// changedAccounts returns the accounts whose entry rows differ between
// two raw reads.
func changedAccounts(before, after map[string]credits.Entry) []string {
	var out []string
	add := func(a string) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for k, e := range before {
		if f, ok := after[k]; !ok || fmt.Sprintf("%+v", e) != fmt.Sprintf("%+v", f) {
			add(e.Account)
		}
	}
	for k, e := range after {
		if _, ok := before[k]; !ok {
			add(e.Account)
		}
	}
	return out
}

// cell is one cell of a b-tree leaf page of the file: a row of the
// accounts table or of the entries table (WITHOUT ROWID, so an index
// b-tree), at off, n bytes long.
type cell struct {
	table  string
	off, n int
}

// leafCells lists the cells of the leaf pages of the accounts and entries
// tables, parsed from the file's bytes (https://sqlite.org/fileformat.html):
// the pages from the dbstat virtual table, the cells from each page's
// cell pointer array, their lengths from their varints.
func leafCells(t *testing.T, path string) (cells []cell, pages map[string][]int, pageSize int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT name, pageno FROM dbstat WHERE name IN ('accounts', 'entries') AND pagetype = 'leaf' ORDER BY pageno`)
	if err != nil {
		t.Fatal(err)
	}
	pages = make(map[string][]int)
	for rows.Next() {
		var name string
		var pgno int
		if err := rows.Scan(&name, &pgno); err != nil {
			t.Fatal(err)
		}
		pages[name] = append(pages[name], pgno)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, pgnos := range pages {
		for _, pgno := range pgnos {
			base := (pgno - 1) * pageSize
			hdr := base
			if pgno == 1 {
				hdr += 100
			}
			kind := data[hdr]
			if kind != 0x0d && kind != 0x0a {
				t.Fatalf("%s: page %d is of type %#x, not a leaf", name, pgno, kind)
			}
			n := int(binary.BigEndian.Uint16(data[hdr+3:]))
			for i := range n {
				off := base + int(binary.BigEndian.Uint16(data[hdr+8+2*i:]))
				payload, l := varint(data[off:])
				size := l + int(payload)
				if kind == 0x0d { // a table leaf cell also holds the rowid
					_, l := varint(data[off+l:])
					size += l
				}
				cells = append(cells, cell{table: name, off: off, n: size})
			}
		}
	}
	return cells, pages, pageSize
}

// varint decodes one of SQLite's big-endian varints, returning its value
// and length.
func varint(b []byte) (uint64, int) {
	var v uint64
	for i := range 8 {
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return v<<8 | uint64(b[8]), 9
}

// cellHolding returns the cell of table whose bytes contain needle.
func cellHolding(t *testing.T, data []byte, cells []cell, table string, needle []byte) cell {
	t.Helper()
	for _, c := range cells {
		if c.table == table && strings.Contains(string(data[c.off:c.off+c.n]), string(needle)) {
			return c
		}
	}
	t.Fatalf("no cell of %s holds %q", table, needle)
	return cell{}
}

// flip is one damage: the bit of the byte at off.
type flip struct {
	what string
	off  int
	bit  byte
}

// TestCorruptFileBitFlips flips one bit at a time in a copy of a ledger
// file: in every byte of one account's state row and of one of its entry
// rows, and in bytes drawn at random from the leaf pages of both tables
// (cells, headers and free space). After each, every operation on every
// account must answer as on the undamaged file or fail with ErrCorrupt;
// a flip inside the state's bytes must leave the other accounts answering
// exactly as before. Flips whose damaged entry row still decodes are what
// only the entry chain can catch: their wrong answers are counted and
// logged, and the damage must be found: Verify (run on every account of
// each damaged file) reports the account, or the backend refused one of
// its operations with ErrCorrupt. Verify reports nothing on the
// undamaged file, nor, for a flip inside alice's state, on bob or carol.
// What neither finds is a flip that changes nothing the ledger reads (free
// space, a page's unused bytes, a b-tree field SQLite does not consult on
// these reads): no answer changes then, and no entry row either.
func TestCorruptFileBitFlips(t *testing.T) {
	pristine := buildCorruptible(t)
	dir := t.TempDir()
	want := observe(t, copyFile(t, pristine, dir))
	for a, os := range want {
		for _, o := range os {
			if o.corrupt || o.plain {
				t.Fatalf("the undamaged file: %s: %s: %s", a, o.op, o.answer)
			}
		}
	}
	if found := verifyFile(t, copyFile(t, pristine, dir)); len(found) > 0 {
		t.Fatalf("Verify on the undamaged file: %v", found)
	}
	rawBefore, ok := rawEntries(t, pristine)
	if !ok || len(rawBefore) != len(corruptAccounts)*len(corruptKeys) {
		t.Fatalf("the undamaged file's entries: %d rows, ok %v", len(rawBefore), ok)
	}

	data, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	cells, pages, pageSize := leafCells(t, pristine)
	var state []byte
	db := rawDB(t, pristine)
	if err := db.QueryRow(`SELECT state FROM accounts WHERE id = 'alice'`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	stateCell := cellHolding(t, data, cells, "accounts", state)
	stateAt := stateCell.off + strings.Index(string(data[stateCell.off:stateCell.off+stateCell.n]), string(state))
	entryCell := cellHolding(t, data, cells, "entries", []byte("flip-alice"))

	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 13))
	var flips []flip
	random := 200
	step := 1
	if race {
		// The race detector makes SQLite about 25 times slower; CI runs
		// the whole test without it.
		random, step = 20, 10
	}
	for i := 0; i < stateCell.n; i += step {
		flips = append(flips, flip{"alice's state row", stateCell.off + i, byte(1) << rng.IntN(8)})
	}
	for i := 0; i < entryCell.n; i += step {
		flips = append(flips, flip{"alice's entry c1", entryCell.off + i, byte(1) << rng.IntN(8)})
	}
	var leaves []int
	for _, p := range pages {
		leaves = append(leaves, p...)
	}
	for range random {
		pgno := leaves[rng.IntN(len(leaves))]
		flips = append(flips, flip{"a leaf page", (pgno-1)*pageSize + rng.IntN(pageSize), byte(1) << rng.IntN(8)})
	}

	counts := map[string]int{}
	for _, f := range flips {
		bytes := slices.Clone(data)
		bytes[f.off] ^= f.bit
		path := filepath.Join(dir, "damaged.db")
		if err := os.WriteFile(path, bytes, 0o644); err != nil {
			t.Fatal(err)
		}
		var strict, chainOnly []string
		if f.off >= stateAt && f.off < stateAt+len(state) {
			strict = []string{"bob", "carol"}
		}
		rawAfter, decodes := rawEntries(t, path)
		if decodes {
			chainOnly = changedAccounts(rawBefore, rawAfter)
		}
		damaged := integrityCheck(t, path)
		verified := verifyFile(t, path)
		got := observe(t, path)
		v := judge(want, got, chainOnly, strict, damaged != "ok")
		for _, a := range corruptAccounts {
			_, byVerify := verified[a]
			switch {
			case slices.Contains(strict, a) && byVerify:
				v.failures = append(v.failures, fmt.Sprintf("%s: Verify reports damage the flip did not do: %s", a, verified[a]))
			case (slices.Contains(chainOnly, a) || slices.Contains(v.wrong, a)) && !byVerify && !slices.Contains(v.refused, a):
				v.failures = append(v.failures, fmt.Sprintf("%s: damaged (entry rows changed: %v, wrong answers: %v), found by neither the backend nor Verify",
					a, slices.Contains(chainOnly, a), slices.Contains(v.wrong, a)))
			}
		}
		if len(verified) > 0 && v.corrupt == 0 {
			counts["found by Verify alone"]++
		}
		if strict != nil && !got["alice"][0].corrupt {
			v.failures = append(v.failures, "alice: balance: "+got["alice"][0].answer+", want ErrCorrupt: the state's checksum must catch any flip of its bytes")
		}
		for _, msg := range v.failures {
			t.Errorf("%s, file offset %d (page %d), bit %#02x (a full scan of the entries decodes: %v, changed accounts %q; integrity_check: %s): %s",
				f.what, f.off, f.off/pageSize+1, f.bit, decodes, chainOnly, damaged, msg)
		}
		switch {
		case v.wrongChainOnly > 0:
			counts["wrong answers only the entry chain can catch (each found)"]++
			t.Logf("%s, offset %d bit %#02x: an entry row of %v changed and still decodes: %d wrong answers (the chain's to catch)",
				f.what, f.off, f.bit, chainOnly, v.wrongChainOnly)
		case v.wrongFiltered > 0:
			counts["wrong filtered history (each found)"]++
			t.Logf("%s, offset %d bit %#02x: a filtered history read misses an entry of a damaged row (integrity_check: %s)", f.what, f.off, f.bit, damaged)
		case v.corrupt > 0:
			counts["refused with ErrCorrupt"]++
		default:
			counts["no answer changed"]++
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			_ = os.Remove(path + suffix)
		}
	}
	t.Logf("seed %d: %d flips: %v", seed, len(flips), counts)
}

// TestCorruptRowsBehindTheLibrary changes, deletes and adds rows of a copy
// of a ledger file with SQL, the append-only triggers dropped, and checks
// each operation on the damaged account against what it must answer: as
// on the undamaged file ("" below), ErrCorrupt ("corrupt"), or, where the
// backend cannot tell on its own, anything ("chain": what it answered is
// logged). Every case is damage, and Ledger.Verify, run on each account
// before the operations, must report alice in every one (the chain of
// entry hashes, the IDs, or the state rebuilt from the history differs),
// and nothing of bob or carol, nor of any account on the undamaged file.
// The other accounts answer exactly as on the undamaged file.
func TestCorruptRowsBehindTheLibrary(t *testing.T) {
	pristine := buildCorruptible(t)
	dir := t.TempDir()
	want := observe(t, copyFile(t, pristine, dir))
	if found := verifyFile(t, copyFile(t, pristine, dir)); len(found) > 0 {
		t.Fatalf("Verify on the undamaged file: %v", found)
	}
	var aliceState string
	if err := rawDB(t, pristine).QueryRow(`SELECT state FROM accounts WHERE id = 'alice'`).Scan(&aliceState); err != nil {
		t.Fatal(err)
	}
	// A state that decodes, and says alice has 1,000 credits more.
	richer := strings.Replace(aliceState, `"remaining":90`, `"remaining":1090`, 1)
	if richer == aliceState {
		t.Fatalf("no lot of 90 credits in alice's state %s", aliceState)
	}
	writes := map[string]string{"retry of c1": "corrupt", "new charge": "corrupt", "balance after": "corrupt"}
	stateCorrupt := map[string]string{"balance": "corrupt"}
	for k, v := range writes {
		stateCorrupt[k] = v
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := make(map[string]string)
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	entryCorrupt := map[string]string{"history": "corrupt", "history of charges": "corrupt", "entry 2": "corrupt",
		"entry under key c1": "corrupt", "retry of c1": "corrupt"}
	for _, tc := range []struct {
		name   string
		sql    []string
		expect map[string]string // op: "corrupt" or "chain"; the others answer as before
	}{
		{"the last entry deleted", []string{`DELETE FROM entries WHERE account = 'alice' AND id = 6`},
			with(stateCorrupt, "history", "corrupt", "entry 6", "corrupt", "entry under key r1", "chain")},
		{"an entry in the middle deleted", []string{`DELETE FROM entries WHERE account = 'alice' AND id = 3`},
			map[string]string{"history": "corrupt", "entry 3": "corrupt", "entry under key h1": "chain"}},
		{"the state deleted", []string{`DELETE FROM accounts WHERE id = 'alice'`}, stateCorrupt},
		{"the version changed", []string{`UPDATE accounts SET version = 5 WHERE id = 'alice'`}, stateCorrupt},
		// The checksum catches damage, not edits: an UPDATE of a state
		// clears its checksum (the trigger of migration 7, for writers
		// that do not know the column), and anyone could compute one.
		{"the state changed", []string{`UPDATE accounts SET state = CAST('` + richer + `' AS BLOB) WHERE id = 'alice'`},
			map[string]string{"balance": "chain", "new charge": "chain", "balance after": "chain"}},
		{"the state changed, its checksum kept", []string{`DROP TRIGGER accounts_state_check`, `UPDATE accounts SET state = CAST('` + richer + `' AS BLOB) WHERE id = 'alice'`},
			stateCorrupt},
		{"an entry added past the state", []string{`INSERT INTO entries (account, id, kind, time, amount, balance_after, key)
			VALUES ('alice', 7, 'grant', 0, 5000000, 96000000, 'x')`},
			with(stateCorrupt, "history", "chain", "entry 7", "chain")},
		{"an entry's amount changed", []string{`UPDATE entries SET amount = -1000000 WHERE account = 'alice' AND id = 2`},
			map[string]string{"history": "chain", "history of charges": "chain", "entry 2": "chain", "entry under key c1": "chain", "retry of c1": "chain"}},
		{"an entry's kind unknown", []string{`UPDATE entries SET kind = 'gift' WHERE account = 'alice' AND id = 2`}, entryCorrupt},
		{"an entry's metadata not JSON", []string{`UPDATE entries SET metadata = '{"note": ' WHERE account = 'alice' AND id = 2`}, entryCorrupt},
		{"an entry's metadata not strings", []string{`UPDATE entries SET metadata = '{"note": 1}' WHERE account = 'alice' AND id = 2`}, entryCorrupt},
		{"an entry's ID changed", []string{`UPDATE entries SET id = 9 WHERE account = 'alice' AND id = 3`},
			with(stateCorrupt, "history", "corrupt", "entry 3", "corrupt", "entry under key h1", "chain")},
		{"an entry moved to another account", []string{`UPDATE entries SET account = 'dave' WHERE account = 'alice' AND id = 6`},
			with(stateCorrupt, "history", "corrupt", "entry 6", "corrupt", "entry under key r1", "chain")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := copyFile(t, pristine, dir)
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(0)")
			if err != nil {
				t.Fatal(err)
			}
			for _, stmt := range append([]string{`DROP TRIGGER entries_no_update`, `DROP TRIGGER entries_no_delete`}, tc.sql...) {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			verified := verifyFile(t, path)
			for _, a := range corruptAccounts {
				switch _, found := verified[a]; {
				case a == "alice" && !found:
					t.Errorf("Verify(alice): no problem found")
				case a == "alice":
					t.Logf("Verify(alice): %s", verified[a])
				case found:
					t.Errorf("Verify(%s): %s, for an account the damage does not touch", a, verified[a])
				}
			}
			got := observe(t, path)
			for _, a := range corruptAccounts {
				for i, g := range got[a] {
					w := want[a][i]
					expect := ""
					if a == "alice" {
						expect = tc.expect[g.op]
					}
					switch {
					case expect == "corrupt" && !g.corrupt:
						t.Errorf("%s: %s: %s, want ErrCorrupt", a, g.op, g.answer)
					case expect == "chain" && g.answer != w.answer:
						t.Logf("%s: %s: only a chain can tell: answered %.200s", a, g.op, g.answer)
					case expect == "" && g.answer != w.answer:
						t.Errorf("%s: %s: got %.300s\n\twant %.300s", a, g.op, g.answer, w.answer)
					}
				}
			}
		})
	}
}

// One Update batching a write of an account whose state is damaged with
// a write of a healthy one: the first's operations are refused with
// ErrCorrupt and not decided, the second's committed.
func TestCorruptAccountInABatch(t *testing.T) {
	ctx := context.Background()
	pristine := buildCorruptible(t)
	path := copyFile(t, pristine, t.TempDir())
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE accounts SET state_check = state_check + 1 WHERE id = 'alice'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b := openFile(t, path, sqliteledger.Options{})
	decided := map[string]bool{}
	op := func(account string) credits.WriteOp {
		return credits.WriteOp{Key: "", Decide: func(s *credits.AccountState, _ *credits.Entry) ([]credits.Entry, error) {
			decided[account] = true
			return nil, nil
		}}
	}
	writes := []credits.Write{
		{Account: "alice", Ops: []credits.WriteOp{op("alice"), op("alice")}},
		{Account: "bob", Ops: []credits.WriteOp{op("bob")}},
	}
	if err := b.Update(ctx, writes); err != nil {
		t.Fatalf("Update: %v, want the batch committed", err)
	}
	for _, o := range writes[0].Ops {
		var ce *credits.CorruptError
		if !errors.As(o.Err, &ce) || ce.Account != "alice" {
			t.Errorf("alice's operation: %v, want a *CorruptError naming alice", o.Err)
		}
	}
	if decided["alice"] || !decided["bob"] || writes[1].Ops[0].Err != nil {
		t.Errorf("decided %v, bob's error %v: want bob's decided alone, without error", decided, writes[1].Ops[0].Err)
	}
	// Through a Ledger, the refusal is the backend's failure.
	l := credits.NewLedger(b, credits.Options{Now: func() time.Time { return corruptT0 }})
	if _, err := l.Charge(ctx, "alice", credits.ChargeRequest{Key: "z", Amount: 1}); !errors.Is(err, credits.ErrCorrupt) || !errors.Is(err, credits.ErrBackend) {
		t.Errorf("charge of alice: %v, want ErrCorrupt and ErrBackend", err)
	}
	if _, err := l.Charge(ctx, "bob", credits.ChargeRequest{Key: "z", Amount: 1}); err != nil {
		t.Errorf("charge of bob: %v", err)
	}
}
