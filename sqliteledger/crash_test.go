package sqliteledger_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/sqliteledger"
	"github.com/google/go-cmp/cmp"
)

// The crash test's knobs, read from the environment.
const (
	// crashCyclesEnv raises the number of crash cycles (at least 20).
	crashCyclesEnv = "SQLITELEDGER_CRASH_CYCLES"
	// crashSeedEnv replays a failing run: its seed is in the failure.
	crashSeedEnv = "SQLITELEDGER_CRASH_SEED"

	// The child's instructions; crashChildFileEnv also marks the child.
	crashChildFileEnv  = "SQLITELEDGER_CRASH_CHILD_FILE"
	crashChildCycleEnv = "SQLITELEDGER_CRASH_CHILD_CYCLE"
	crashChildSyncEnv  = "SQLITELEDGER_CRASH_CHILD_SYNC"
	crashChildSeedEnv  = "SQLITELEDGER_CRASH_CHILD_SEED"
	crashChildOpsEnv   = "SQLITELEDGER_CRASH_CHILD_OPS" // stop after this many operations per goroutine (0: never)
)

var crashAccounts = []string{"alice", "bob", "carol"}

// ack is one operation the child acknowledged: the request it sent, so
// that the parent can send it again, and the entry it got back.
type ack struct {
	op      string // grant, charge, charge_action, hold, capture, release
	account string
	key     string
	amount  credits.Credits
	hold    int64
	id      int64 // the entry's ID
}

func (a ack) String() string {
	return fmt.Sprintf("ACK %s %s %s %d %d %d", a.op, a.account, a.key, int64(a.amount), a.hold, a.id)
}

func parseAck(line string) (ack, error) {
	f := strings.Fields(line)
	if len(f) != 7 || f[0] != "ACK" {
		return ack{}, fmt.Errorf("not an ACK line: %q", line)
	}
	var a ack
	var nums [3]int64
	for i, s := range f[4:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return ack{}, fmt.Errorf("ACK line %q: %w", line, err)
		}
		nums[i] = n
	}
	a.op, a.account, a.key = f[1], f[2], f[3]
	a.amount, a.hold, a.id = credits.Credits(nums[0]), nums[1], nums[2]
	return a, nil
}

// send sends the acknowledged request again through l.
func (a ack) send(ctx context.Context, l *credits.Ledger) (credits.Entry, error) {
	switch a.op {
	case "grant":
		return l.Grant(ctx, a.account, credits.GrantRequest{Key: a.key, Amount: a.amount, Source: credits.SourceTopUp})
	case "charge":
		return l.Charge(ctx, a.account, credits.ChargeRequest{Key: a.key, Amount: a.amount})
	case "charge_action":
		return l.Charge(ctx, a.account, credits.ChargeRequest{Key: a.key, Action: credits.ChatMessage})
	case "hold":
		return l.Hold(ctx, a.account, credits.HoldRequest{Key: a.key, Amount: a.amount})
	case "capture":
		return l.Capture(ctx, a.account, credits.CaptureRequest{Key: a.key, Hold: a.hold, Amount: a.amount})
	case "release":
		return l.Release(ctx, a.account, credits.ReleaseRequest{Key: a.key, Hold: a.hold})
	}
	return credits.Entry{}, fmt.Errorf("unknown op %q", a.op)
}

// TestCrashChild is the process TestCrashSafety kills: it writes grants,
// charges, holds, captures and releases with idempotency keys as fast as
// it can, from several goroutines, and prints an ACK line for each one
// the ledger acknowledged. With SQLITELEDGER_CRASH_CHILD_OPS set, each
// goroutine stops after that many operations and the process closes the
// file and exits. It does nothing unless a test of this file started it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildFileEnv)
	if path == "" {
		t.Skip("the process TestCrashSafety starts and kills")
	}
	// Never outlive a parent that died before killing us.
	time.AfterFunc(30*time.Second, func() { os.Exit(3) })
	fail := func(format string, args ...any) {
		fmt.Printf("ERR "+format+"\n", args...)
		os.Exit(2)
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashChildSeedEnv), 10, 64)
	limit, _ := strconv.Atoi(os.Getenv(crashChildOpsEnv))
	cycle := os.Getenv(crashChildCycleEnv)
	ctx := context.Background()
	b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{Synchronous: sqliteledger.Synchronous(os.Getenv(crashChildSyncEnv))})
	if err != nil {
		fail("open: %v", err)
	}
	l := credits.NewLedger(b, credits.Options{})
	var out sync.Mutex
	report := func(a ack) {
		line := a.String() + "\n"
		out.Lock()
		defer out.Unlock()
		// One write of a short line: the pipe takes it whole or not at all.
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(4)
		}
	}
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var holds []ack // open holds
			for n := 0; limit == 0 || n < limit; n++ {
				a := ack{account: crashAccounts[rng.IntN(len(crashAccounts))], key: fmt.Sprintf("c%s-w%d-%d", cycle, w, n)}
				switch r := rng.IntN(100); {
				case r < 20 || n == 0:
					a.op, a.amount = "grant", credits.Credits(1+rng.IntN(50))*credits.Credit
				case r < 45:
					a.op, a.amount = "charge", credits.Credits(1+rng.IntN(5_000_000))
				case r < 60:
					a.op = "charge_action"
				case r < 80:
					a.op, a.amount = "hold", credits.Credits(1+rng.IntN(5))*credits.Credit
				default:
					if len(holds) == 0 {
						continue
					}
					i := rng.IntN(len(holds))
					h := holds[i]
					holds = append(holds[:i], holds[i+1:]...)
					a.account, a.hold = h.account, h.id
					if rng.IntN(2) == 0 {
						a.op, a.amount = "capture", credits.Credits(1+rng.Int64N(int64(h.amount)))
					} else {
						a.op = "release"
					}
				}
				e, err := a.send(ctx, l)
				if errors.Is(err, credits.ErrInsufficientCredits) {
					continue
				}
				if err != nil {
					fail("%s: %v", a, err)
				}
				a.id = e.ID
				if a.op == "hold" {
					holds = append(holds, a)
				}
				report(a)
			}
		}()
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		fail("close: %v", err)
	}
}

// child is a running TestCrashChild process and what it acknowledged.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	first  chan struct{} // closed at the first acknowledgement
	done   chan struct{} // closed once the child's output ends
	acks   []ack         // complete only once done is closed
	errs   []string      // ERR lines and stray output
}

// startChild starts TestCrashChild on path, its keys prefixed by cycle.
// ops > 0 makes each of its goroutines stop after ops operations.
func startChild(t *testing.T, path, cycle string, syncMode sqliteledger.Synchronous, seed uint64, ops int) *child {
	t.Helper()
	c := &child{first: make(chan struct{}), done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=60s")
	c.cmd.Env = append(os.Environ(),
		crashChildFileEnv+"="+path,
		crashChildCycleEnv+"="+cycle,
		crashChildSyncEnv+"="+string(syncMode),
		crashChildSeedEnv+"="+strconv.FormatUint(seed, 10),
		crashChildOpsEnv+"="+strconv.Itoa(ops),
	)
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A line cut short by a kill was never acknowledged.
				if err != io.EOF {
					c.errs = append(c.errs, "read: "+err.Error())
				}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if a, err := parseAck(line); err == nil {
				c.acks = append(c.acks, a)
				if len(c.acks) == 1 {
					close(c.first)
				}
			} else if line != "" && line != "PASS" {
				c.errs = append(c.errs, line)
			}
		}
	}()
	return c
}

// kill kills the child with SIGKILL at a random moment after its first
// acknowledgement.
func (c *child) kill(t *testing.T, rng *rand.Rand) {
	t.Helper()
	select {
	case <-c.first:
		time.Sleep(time.Duration(rng.IntN(150_000)) * time.Microsecond)
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Error("the child acknowledged nothing in 30s")
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-c.done
	_ = c.cmd.Wait() // killed: its exit status says so
}

// wait waits for the child to finish by itself and reports how it ended.
func (c *child) wait() error {
	<-c.done
	return c.cmd.Wait()
}

// checkAcks checks that every operation the children acknowledged is
// stored as the entry they were given, and that sending it again returns
// that entry.
func checkAcks(t *testing.T, b *sqliteledger.Backend, acks []ack, where string) {
	t.Helper()
	ctx := context.Background()
	l := credits.NewLedger(b, credits.Options{})
	for _, a := range acks {
		e, err := b.Entry(ctx, a.account, a.id)
		if err != nil {
			t.Fatalf("%s: acknowledged %s is lost: %v", where, a, err)
		}
		if e.Key != a.key {
			t.Fatalf("%s: acknowledged %s: entry %d has key %q", where, a, a.id, e.Key)
		}
		again, err := a.send(ctx, l)
		if err != nil {
			t.Fatalf("%s: retrying acknowledged %s: %v", where, a, err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Fatalf("%s: retrying acknowledged %s did not return its entry (-stored +retry):\n%s", where, a, diff)
		}
	}
}

// checkAccounts checks every account of the crash tests with
// checkConsistent, that no key was applied twice, and that the history
// held in before (if any) is still its beginning; it returns the
// histories.
func checkAccounts(t *testing.T, b *sqliteledger.Backend, before map[string][]credits.Entry, where string) map[string][]credits.Entry {
	t.Helper()
	after := map[string][]credits.Entry{}
	for _, account := range crashAccounts {
		entries := checkConsistent(t, b, account)
		old := before[account]
		if len(entries) < len(old) {
			t.Fatalf("%s: account %q lost entries: %d, had %d", where, account, len(entries), len(old))
		}
		if diff := cmp.Diff(old, entries[:len(old)]); len(old) > 0 && diff != "" {
			t.Fatalf("%s: account %q: earlier history changed (-before +after):\n%s", where, account, diff)
		}
		keys := map[string]int64{}
		for _, e := range entries {
			if e.Key == "" {
				continue
			}
			if id, dup := keys[e.Key]; dup {
				t.Fatalf("%s: account %q: key %q applied twice, entries %d and %d", where, account, e.Key, id, e.ID)
			}
			keys[e.Key] = e.ID
		}
		after[account] = entries
	}
	return after
}

// checkIntegrity runs SQLite's own check of the file.
func checkIntegrity(t *testing.T, path, where string) {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("%s: integrity_check = %q, %v", where, integrity, err)
	}
}

// TestCrashSafety kills a process writing to the ledger at random
// moments, again and again on the same file, and checks after each kill
// that every operation the process had acknowledged is there, with the
// same entry; that retrying it returns that entry and changes nothing;
// and that nothing is half-applied: in every account the IDs run 1, 2,
// 3..., the balance is the sum of the entries, the stored state is what
// the history rebuilds, and the history of earlier cycles is unchanged.
// Cycles alternate synchronous FULL and NORMAL: both must survive a killed
// process. SQLITELEDGER_CRASH_CYCLES raises the number of cycles;
// SQLITELEDGER_CRASH_SEED replays a run.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashChildFileEnv) != "" {
		t.Skip("in the child")
	}
	cycles := 20
	if s := os.Getenv(crashCyclesEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", crashCyclesEnv, s)
		}
		cycles = max(n, cycles)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("%d cycles, %s=%d", cycles, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "crash.db")
	ctx := context.Background()

	history := map[string][]credits.Entry{} // each account's history at the last check
	total := 0
	for cycle := range cycles {
		syncMode := []sqliteledger.Synchronous{sqliteledger.SynchronousFull, sqliteledger.SynchronousNormal}[cycle%2]
		where := fmt.Sprintf("cycle %d (%s=%d)", cycle, crashSeedEnv, seed)
		c := startChild(t, path, strconv.Itoa(cycle), syncMode, rng.Uint64(), 0)
		c.kill(t, rng)
		if len(c.errs) > 0 || t.Failed() {
			t.Fatalf("%s: the child failed: %q\nstderr:\n%s", where, c.errs, c.stderr.String())
		}
		total += len(c.acks)

		b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{Synchronous: syncMode})
		if err != nil {
			t.Fatalf("%s: reopening after the kill: %v", where, err)
		}
		checkAcks(t, b, c.acks, where)
		history = checkAccounts(t, b, history, where)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		checkIntegrity(t, path, where)
	}
	entries := 0
	for _, h := range history {
		entries += len(h)
	}
	// After all the kills, the file verifies: every account (the ledger's
	// own records included) rebuilt from its history, its chain and its
	// stored state, with no difference.
	b, err := sqliteledger.Open(ctx, path, sqliteledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	report, err := credits.NewLedger(b, credits.Options{}).VerifyAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Err(); err != nil {
		t.Errorf("after %d crash cycles (%s=%d), the file does not verify: %v", cycles, crashSeedEnv, seed, err)
	}
	if report.Entries < int64(entries) {
		t.Errorf("VerifyAll read %d entries, the accounts hold %d", report.Entries, entries)
	}
	t.Logf("%d crash cycles: %d acknowledged operations all found, %d entries in all", cycles, total, entries)
	if total < cycles {
		t.Errorf("only %d operations acknowledged in %d cycles: the child hardly ran", total, cycles)
	}
}

// Processes that open one new file at the same moment, and then write to
// the same accounts at once, all succeed, and their writes all land,
// each once.
func TestProcessesShareFile(t *testing.T) {
	if os.Getenv(crashChildFileEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "shared.db")
	var children []*child
	for p := range 3 {
		children = append(children, startChild(t, path, fmt.Sprintf("p%d", p), sqliteledger.SynchronousFull, uint64(p), 15))
	}
	var acks []ack
	for p, c := range children {
		if err := c.wait(); err != nil || len(c.errs) > 0 {
			t.Fatalf("process %d: %v, %q\nstderr:\n%s", p, err, c.errs, c.stderr.String())
		}
		acks = append(acks, c.acks...)
	}
	if len(acks) == 0 {
		t.Fatal("the processes acknowledged nothing")
	}
	b := openFile(t, path, sqliteledger.Options{})
	checkAcks(t, b, acks, "after the processes")
	histories := checkAccounts(t, b, nil, "after the processes")
	entries := 0
	for _, h := range histories {
		entries += len(h)
	}
	if entries != len(acks) {
		t.Errorf("%d entries for %d acknowledged operations", entries, len(acks))
	}
	var migrations, last int
	if err := rawDB(t, path).QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&migrations, &last); err != nil {
		t.Fatal(err)
	}
	if migrations != last {
		t.Errorf("schema_migrations has %d rows for versions up to %d", migrations, last)
	}
	t.Logf("3 processes, %d operations", len(acks))
}
