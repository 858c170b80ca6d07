package sqliteledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
)

// A backup taken while writers run opens as a ledger, every account's
// stored state in it is what its entries rebuild, it holds every
// operation acknowledged before the backup began, and each operation it
// holds was acknowledged by the end (or is the one in flight).
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	b, path := openTemp(t)
	l := credits.NewLedger(b, credits.Options{})
	accounts := make([]string, 20)
	for i := range accounts {
		accounts[i] = fmt.Sprint("acct-", i)
		if _, err := l.Grant(ctx, accounts[i], credits.GrantRequest{Key: "g", Amount: 1000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}

	type acked struct {
		account, key string
		at           int64 // the count of operations acknowledged so far, once this one was
		entries      int   // the entries it made
	}
	var (
		mu     sync.Mutex
		acks   []acked
		n      atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		failed = make(chan error, 4)
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a := accounts[rng.IntN(len(accounts))]
				key := fmt.Sprintf("w%d-%d", w, i)
				var err error
				entries := 1
				switch rng.IntN(3) {
				case 0:
					_, err = l.Grant(ctx, a, credits.GrantRequest{Key: key, Amount: credits.Credit, Source: credits.SourceTopUp})
				case 1:
					_, err = l.Charge(ctx, a, credits.ChargeRequest{Key: key, Amount: credits.Credit / 2})
				default:
					var h credits.Entry
					if h, err = l.Hold(ctx, a, credits.HoldRequest{Key: key, Amount: credits.Credit}); err == nil {
						key, entries = key+"-c", 2
						_, err = l.Capture(ctx, a, credits.CaptureRequest{Key: key, Hold: h.ID, Amount: credits.Credit / 4})
					}
				}
				if err != nil {
					failed <- fmt.Errorf("%s %s: %w", a, key, err)
					return
				}
				mu.Lock()
				acks = append(acks, acked{a, key, n.Add(1), entries})
				mu.Unlock()
			}
		}()
	}
	// Let the writers get going, then back up while they write.
	for n.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	before := n.Load()
	dst := filepath.Join(t.TempDir(), "backup.db")
	start := time.Now()
	if err := b.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	during := n.Load() - before
	close(stop)
	wg.Wait()
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
	if during == 0 {
		t.Log("no write was acknowledged while the backup ran (it was quick)")
	}
	t.Logf("backup of %s in %v, %d writes acknowledged meanwhile", path, took, during)

	cb := openFile(t, dst, sqliteledger.Options{})
	total := 0
	for _, a := range accounts {
		total += len(checkConsistent(t, cb, a))
	}
	for _, ack := range acks {
		_, err := cb.EntryByKey(ctx, ack.account, ack.key)
		switch {
		case ack.at <= before && err != nil:
			t.Errorf("%s %s, acknowledged before the backup began: %v", ack.account, ack.key, err)
		case err != nil && !errors.Is(err, credits.ErrEntryNotFound):
			t.Errorf("%s %s: %v", ack.account, ack.key, err)
		}
	}
	// The backup verifies: every account rebuilt from its history, its
	// chain and its stored state, with no difference.
	report, err := credits.NewLedger(cb, credits.Options{}).VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Err(); err != nil {
		t.Errorf("the backup does not verify: %v", err)
	}
	if report.Accounts != int64(len(accounts)) || report.Entries != int64(total) {
		t.Errorf("VerifyAll checked %d accounts, %d entries; the backup has %d accounts, %d entries", report.Accounts, report.Entries, len(accounts), total)
	}
	// Every entry in the backup was acknowledged, but for those in flight
	// when it was taken (at most two per writer: a hold is acknowledged
	// with its capture).
	done := len(accounts)
	for _, a := range acks {
		done += a.entries
	}
	if total > done+8 {
		t.Errorf("the backup holds %d entries, only %d were acknowledged", total, done)
	}
	// The source still works, and the backup is a file of its own.
	if _, err := l.Grant(ctx, accounts[0], credits.GrantRequest{Key: "after", Amount: 1, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.EntryByKey(ctx, accounts[0], "after"); !errors.Is(err, credits.ErrEntryNotFound) {
		t.Errorf("a write after the backup is in it: %v", err)
	}
}

// Backup refuses to overwrite a file, or to back up onto the ledger's own
// file; a cancelled backup leaves nothing behind.
func TestBackupRefuses(t *testing.T) {
	ctx := context.Background()
	b, path := openTemp(t)
	l := credits.NewLedger(b, credits.Options{})
	if _, err := l.Grant(ctx, "a", credits.GrantRequest{Key: "g", Amount: credits.Credit, Source: credits.SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"", ":memory:", "file:x.db", path, existing} {
		err := b.Backup(ctx, dst)
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field != "dst" {
			t.Errorf("Backup(%q) = %v, want an *InputError naming dst", dst, err)
		}
	}
	if data, err := os.ReadFile(existing); err != nil || string(data) != "keep me" {
		t.Errorf("the existing file after the refused backup: %q, %v", data, err)
	}
	if err := b.Backup(ctx, filepath.Join(dir, "no", "such", "dir.db")); err == nil {
		t.Error("Backup into a directory that does not exist: no error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Backup(cancelled, filepath.Join(dir, "cancelled.db")); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup with a cancelled context: %v, want context.Canceled", err)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("files left behind: %v, want only existing.db", names)
	}
}
