package pgledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/pgledger"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The failover test starts two PostgreSQL servers of its own on this
// machine (never the shared one on 5432), a primary and a streaming
// standby that is synchronous (synchronous_commit=on, the standby in
// synchronous_standby_names), and runs 16 workers writing keyed
// operations through one pool on a multi-host connection string with
// target_session_attrs=read-write. Each cycle it kills the primary
// (SIGKILL to all its processes), promotes the standby, and re-seeds a new
// standby from it with pg_basebackup, on the dead primary's port: the two
// ports take turns being the primary, and the pool finds the one that
// accepts writes by itself. It checks that every operation acknowledged
// before the kill is on the new primary, exactly as acknowledged; that the
// workers' retries by key (after an error whose outcome is unknown) apply
// once; and at the end that the database holds exactly the acknowledged
// operations, that every account's stored state is the fold of its
// entries (credits.Rebuild), and that the ledger verifies (VerifyAll).
//
// It runs only with CREDITS_FAILOVER_TEST=1 (bash .ci/pgfailover.sh, a
// step of .ci/run), not in the README's test command. Its knobs:
//
//	CREDITS_FAILOVER_CYCLES  failovers (default 10)
//	CREDITS_PG_BIN           the server's binaries (default: pg_config --bindir,
//	                         else the newest /usr/lib/postgresql/*/bin)
//	CREDITS_FAILOVER_DIR     where the clusters live (default: a new temporary directory)
//
// initdb refuses to run as root: as root (as in CI), the server's programs
// run as the user postgres, which Debian's postgresql package creates.
const failoverEnv = "CREDITS_FAILOVER_TEST"

// pgNode is one server of the test, on its port, in its data directory.
type pgNode struct {
	name string
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
}

// pgCluster runs the servers' programs.
type pgCluster struct {
	t    *testing.T
	bin  string
	base string              // the clusters' directory
	cred *syscall.Credential // the user the programs run as (nil: this process's)
	seq  int                 // data directories made so far
}

func newPGCluster(t *testing.T) *pgCluster {
	c := &pgCluster{t: t, bin: os.Getenv("CREDITS_PG_BIN")}
	if c.bin == "" {
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			c.bin = strings.TrimSpace(string(out))
		}
	}
	if c.bin == "" || !fileExists(filepath.Join(c.bin, "initdb")) {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
		if len(dirs) > 0 {
			c.bin = dirs[len(dirs)-1]
		}
	}
	if !fileExists(filepath.Join(c.bin, "initdb")) {
		t.Fatalf("no PostgreSQL server binaries (initdb, postgres, pg_basebackup): set CREDITS_PG_BIN (tried %q)", c.bin)
	}
	base := os.Getenv("CREDITS_FAILOVER_DIR")
	var err error
	if base == "" {
		if base, err = os.MkdirTemp("", "credits-pgfailover-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
	}
	c.base = base
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the servers need a user postgres to run as (apt-get install postgresql creates it): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o700); err != nil {
		t.Fatal(err)
	}
	return c
}

func pgVersion(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// command returns the server program name with args, to run as the
// servers' user.
func (c *pgCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.base
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "PGCONNECT_TIMEOUT=5"}
	// Killed should this test process die first (its children then
	// exit, as they do when the postmaster dies).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// run runs a program to completion, failing the test with its output.
func (c *pgCluster) run(name string, args ...string) {
	c.t.Helper()
	out, err := c.command(name, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// newDir returns a new data directory's path (not created).
func (c *pgCluster) newDir(name string) string {
	c.seq++
	return filepath.Join(c.base, fmt.Sprintf("%s-%d", name, c.seq))
}

// start starts the server of n; standbyOf is the port of its primary (0
// for a primary).
func (c *pgCluster) start(n *pgNode, standbyOf int) {
	c.t.Helper()
	args := []string{"-D", n.dir,
		"-c", fmt.Sprint("port=", n.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + c.base,
		"-c", "max_connections=60",
		"-c", "shared_buffers=32MB",
		"-c", "wal_level=replica",
		"-c", "max_wal_senders=4",
		"-c", "hot_standby=on",
		// No acknowledged loss: a commit returns once the standby has
		// the transaction's WAL on disk.
		"-c", "synchronous_commit=on",
		"-c", "synchronous_standby_names=standby",
		"-c", "logging_collector=off",
	}
	if standbyOf != 0 {
		args = append(args, "-c", fmt.Sprintf("primary_conninfo=host=127.0.0.1 port=%d user=postgres application_name=standby", standbyOf))
	}
	cmd := c.command("postgres", args...)
	log, err := os.OpenFile(filepath.Join(c.base, n.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	log.Close()
	n.cmd, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(n.done)
}

// kill kills every process of n's server with SIGKILL: a crash. The
// postmaster's children are sessions of their own (each calls setsid), so
// a signal to its process group does not reach them: it is stopped, so
// that it starts no more, and its children, found in /proc, are killed
// with it.
func (c *pgCluster) kill(n *pgNode) {
	if n.cmd == nil {
		return
	}
	pid := n.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	children := childrenOf(pid)
	for _, child := range children {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-n.done
	n.cmd = nil
	// Wait for the children to be gone: only then is the server down.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		alive := false
		for _, child := range children {
			if syscall.Kill(child, 0) == nil && !isZombie(child) {
				alive = true
			}
		}
		if !alive {
			return
		}
	}
	c.t.Errorf("the processes %v of the killed server on port %d are still alive", children, n.port)
}

// promote promotes the standby n, waiting until it accepts writes. A
// standby replaying WAL may cancel the query that asks (a conflict with
// recovery), having begun to promote or not: it asks until the server is
// out of recovery.
func (c *pgCluster) promote(ctx context.Context, n *pgNode) {
	c.t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		conn := c.connect(ctx, n.port)
		var recovering bool
		if err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering); err == nil && !recovering {
			conn.Close(ctx)
			return
		}
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT pg_promote(true, 60)")
		}
		conn.Close(ctx)
	}
	c.t.Fatalf("promote the standby on port %d: %v\n%s", n.port, err, c.logs())
}

// signal sends sig to every process of n's server, returning them.
func (c *pgCluster) signal(n *pgNode, sig syscall.Signal) []int {
	pids := append([]int{n.cmd.Process.Pid}, childrenOf(n.cmd.Process.Pid)...)
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	return pids
}

// childrenOf returns the processes whose parent is pid, from /proc.
func childrenOf(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range stats {
		data, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, never ")".
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
			out = append(out, child)
		}
	}
	return out
}

// isZombie reports whether process pid has exited, not yet reaped.
func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

// connect connects to the server on port, waiting up to a minute for it
// to accept connections.
func (c *pgCluster) connect(ctx context.Context, port int) *pgx.Conn {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?connect_timeout=2", port))
		if err == nil {
			return conn
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the server on port %d does not answer: %v\n%s", port, err, c.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSync waits until the primary on port streams to a synchronous
// standby.
func (c *pgCluster) waitSync(ctx context.Context, port int) {
	c.t.Helper()
	conn := c.connect(ctx, port)
	defer conn.Close(ctx)
	deadline := time.Now().Add(time.Minute)
	for {
		var state string
		err := conn.QueryRow(ctx, `SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby' AND state = 'streaming'`).Scan(&state)
		if err == nil && state == "sync" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no synchronous standby streams from port %d: %q, %v\n%s", port, state, err, c.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seedStandby makes a new standby of the primary on port primary in n's
// place: a fresh base backup, started streaming.
func (c *pgCluster) seedStandby(n *pgNode, primary int) {
	c.t.Helper()
	if n.dir != "" {
		if err := os.RemoveAll(n.dir); err != nil {
			c.t.Fatal(err)
		}
	}
	n.dir = c.newDir(n.name)
	// --no-sync, as initdb's: the test kills servers, not the machine,
	// and a standby fsyncs the WAL it receives all the same.
	c.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(primary), "-U", "postgres", "-D", n.dir,
		"-X", "stream", "--checkpoint=fast", "-R", "--no-sync")
	c.start(n, primary)
}

// logs returns the end of the servers' logs, for a failure message.
func (c *pgCluster) logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(c.base, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "--- %s:\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

// freePorts returns n TCP ports of the loopback interface nothing listens
// on.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// failoverAck is one operation a worker had acknowledged.
type failoverAck struct {
	account, key string
	entry        credits.Entry // what the ledger returned
	started      time.Time     // when the attempt that was acknowledged began
	done         time.Time
	retried      bool  // an earlier attempt failed with an unknown outcome
	replayed     bool  // the acknowledged attempt found the key applied already
	refused      error // the ledger refused the operation (stored nothing)
}

func TestFailover(t *testing.T) {
	if os.Getenv(failoverEnv) != "1" {
		t.Skip("the failover test runs its own PostgreSQL servers: run it with bash .ci/pgfailover.sh (CREDITS_FAILOVER_TEST=1)")
	}
	cycles := 10
	if s := os.Getenv("CREDITS_FAILOVER_CYCLES"); s != "" {
		var err error
		if cycles, err = strconv.Atoi(s); err != nil || cycles < 1 {
			t.Fatalf("CREDITS_FAILOVER_CYCLES=%q", s)
		}
	}
	ctx := context.Background()
	c := newPGCluster(t)
	ports := freePorts(t, 2)
	nodes := [2]*pgNode{{name: "a", port: ports[0]}, {name: "b", port: ports[1]}}
	t.Cleanup(func() {
		for _, n := range nodes {
			c.kill(n)
		}
	})
	primary, standby := nodes[0], nodes[1]
	primary.dir = c.newDir(primary.name)
	c.run("initdb", "-D", primary.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	c.start(primary, 0)
	c.connect(ctx, primary.port).Close(ctx)
	c.seedStandby(standby, primary.port)
	c.waitSync(ctx, primary.port)

	// The service's pool: both servers, whichever accepts writes.
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?target_session_attrs=read-write&connect_timeout=2",
		ports[0], ports[1])
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pgledger.Migrate(ctx, pool, pgledger.Options{}); err != nil {
		t.Fatal(err)
	}
	backend, err := pgledger.New(pool, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := credits.NewLedger(backend, credits.Options{})
	accounts := make([]string, 8)
	for i := range accounts {
		accounts[i] = fmt.Sprint("acct-", i)
		if _, err := l.Grant(ctx, accounts[i], credits.GrantRequest{Key: "seed", Amount: 1_000_000 * credits.Credit, Source: credits.SourceTopUp}); err != nil {
			t.Fatal(err)
		}
	}

	const workers = 16
	var (
		mu        sync.Mutex
		acks      []failoverAck
		ambiguous atomic.Int64 // attempts that failed with an unknown outcome
		stop      = make(chan struct{})
		wg        sync.WaitGroup
		failures  = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var holds []credits.Entry
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				account := accounts[rng.IntN(len(accounts))]
				key := fmt.Sprintf("w%d-%d", w, i)
				var op func(ctx context.Context) (credits.Entry, error)
				r := rng.IntN(10)
				if r >= 8 && len(holds) == 0 {
					r = 5 // no hold to capture: a charge
				}
				switch {
				case r < 2:
					op = func(ctx context.Context) (credits.Entry, error) {
						return l.Grant(ctx, account, credits.GrantRequest{Key: key, Amount: credits.Credit, Source: credits.SourceTopUp})
					}
				case r < 6:
					op = func(ctx context.Context) (credits.Entry, error) {
						return l.Charge(ctx, account, credits.ChargeRequest{Key: key, Amount: credits.Credit / 2})
					}
				case r < 8:
					op = func(ctx context.Context) (credits.Entry, error) {
						return l.Hold(ctx, account, credits.HoldRequest{Key: key, Amount: credits.Credit})
					}
				default:
					h := holds[0]
					holds = holds[1:]
					account = h.Account
					op = func(ctx context.Context) (credits.Entry, error) {
						return l.Capture(ctx, account, credits.CaptureRequest{Key: key, Hold: h.ID, Amount: credits.Credit / 4})
					}
				}
				// The service's rule: retry an operation whose outcome is
				// unknown with the same key until it is answered.
				a := failoverAck{account: account, key: key}
				for attempt := 0; ; attempt++ {
					if attempt == 2000 {
						failures <- fmt.Errorf("%s %s: no answer after %d attempts", account, key, attempt)
						return
					}
					actx, cancel := context.WithTimeout(ctx, 5*time.Second)
					replayed := false
					actx = credits.WithObserver(actx, func(_ context.Context, ev credits.Event) {
						if ev.Key == key {
							replayed = ev.Replayed
						}
					})
					a.started = time.Now()
					e, err := op(actx)
					cancel()
					if err == nil {
						a.entry, a.done, a.replayed = e, time.Now(), replayed
						break
					}
					if !errors.Is(err, credits.ErrBackend) {
						// A refusal is an answer (say, a capture of a
						// hold that a lost write took away): the checks
						// find what went wrong.
						a.refused, a.done = err, time.Now()
						break
					}
					a.retried = true
					ambiguous.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
				if a.refused == nil && a.entry.Kind == credits.KindHold {
					holds = append(holds, a.entry)
				}
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
			}
		}()
	}
	acked := func() []failoverAck {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(acks)
	}
	failed := func() {
		select {
		case err := <-failures:
			t.Fatalf("a worker: %v\n%s", err, c.logs())
		default:
		}
	}

	var times []time.Duration
	for cycle := 1; cycle <= cycles; cycle++ {
		// Write for a while on a primary with a synchronous standby.
		c.waitSync(ctx, primary.port)
		n0 := len(acked())
		for deadline := time.Now().Add(10 * time.Second); len(acked()) < n0+300 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			failed()
		}
		before := acked()
		if len(before) < n0+50 {
			t.Fatalf("cycle %d: only %d operations acknowledged in 10 s", cycle, len(before)-n0)
		}

		// The standby falls behind (its processes stopped) while the
		// workers go on, and the primary dies then: with synchronous
		// replication, no commit is acknowledged meanwhile, so none is
		// lost; with asynchronous replication, those acknowledged while
		// the standby lags would be.
		stopped := c.signal(standby, syscall.SIGSTOP)
		time.Sleep(300 * time.Millisecond)
		before = acked()

		// The crash, and the failover.
		c.kill(primary)
		killed := time.Now() // every process of the primary is gone
		for _, pid := range stopped {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
		c.promote(ctx, standby)
		promoted := time.Since(killed)
		primary, standby = standby, primary
		c.seedStandby(standby, primary.port)
		seeded := time.Since(killed)

		// The first write that began after the kill and committed (not
		// a replay, which commits nothing), and what it took: the new
		// primary commits once its new standby streams.
		var first time.Duration
		for deadline := time.Now().Add(time.Minute); first == 0; {
			for _, a := range acked()[len(before):] {
				if a.started.After(killed) && !a.replayed && a.refused == nil && (first == 0 || a.done.Sub(killed) < first) {
					first = a.done.Sub(killed)
				}
			}
			if first == 0 && time.Now().After(deadline) {
				t.Fatalf("cycle %d: no write succeeded in a minute after the kill\n%s", cycle, c.logs())
			}
			failed()
			time.Sleep(10 * time.Millisecond)
		}
		times = append(times, first)

		// Every operation acknowledged before the kill is on the new
		// primary, exactly as acknowledged.
		stored := storedEntries(t, ctx, c, primary.port)
		lost := 0
		for _, a := range before {
			if a.refused != nil {
				continue
			}
			if e, ok := stored[a.account+"\x00"+a.key]; !ok {
				if lost++; lost <= 10 {
					t.Errorf("cycle %d: %s %s, acknowledged before the kill, is not on the new primary", cycle, a.account, a.key)
				}
			} else if diff := cmp.Diff(a.entry, e); diff != "" {
				t.Errorf("cycle %d: %s %s on the new primary differs from what was acknowledged (-acked +stored):\n%s", cycle, a.account, a.key, diff)
			}
		}
		if lost > 0 {
			t.Errorf("cycle %d: %d operations acknowledged before the kill are lost", cycle, lost)
		}
		t.Logf("cycle %d: %d operations acknowledged before the kill; after the kill: promoted in %v, a new standby started in %v, the first new write committed in %v",
			cycle, len(before), promoted.Round(time.Millisecond), seeded.Round(time.Millisecond), first.Round(time.Millisecond))
	}
	close(stop)
	wg.Wait()
	failed()

	// The database holds exactly the acknowledged operations, once each,
	// and every account's state is the fold of its entries.
	all := acked()
	stored := storedEntries(t, ctx, c, primary.port)
	retried, replayed, refused := 0, 0, 0
	for _, a := range all {
		if a.refused != nil {
			refused++
			t.Errorf("%s %s: refused: %v", a.account, a.key, a.refused)
			if e, ok := stored[a.account+"\x00"+a.key]; ok {
				t.Errorf("%s %s: refused, yet stored: %+v", a.account, a.key, e)
			}
			continue
		}
		if e, ok := stored[a.account+"\x00"+a.key]; !ok || !cmp.Equal(a.entry, e) {
			t.Errorf("%s %s: acknowledged as %+v, stored %+v (found %v)", a.account, a.key, a.entry, e, ok)
		}
		if a.retried {
			retried++
		}
		if a.replayed {
			replayed++
		}
	}
	if want := len(all) - refused + len(accounts); len(stored) != want {
		t.Errorf("the new primary holds %d entries, %d were acknowledged", len(stored), want)
	}
	for _, account := range accounts {
		var history []credits.Entry
		for after := int64(0); ; {
			page, err := backend.Entries(ctx, account, credits.HistoryQuery{After: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			history = append(history, page...)
			after = page[len(page)-1].ID
		}
		checkHistory(t, backend, account, history)
	}
	// And the new primary's ledger verifies: IDs, the chain, balances and
	// stored states, every account (the ledger's own records included).
	report, err := credits.NewLedger(backend, credits.Options{}).VerifyAll(ctx, nil)
	if err != nil {
		t.Fatalf("VerifyAll on the new primary: %v", err)
	}
	for _, p := range report.Problems {
		t.Errorf("VerifyAll on the new primary: %v", p)
	}
	slices.Sort(times)
	var sum time.Duration
	for _, d := range times {
		sum += d
	}
	if t.Failed() {
		return
	}
	t.Logf("%d failovers, %d operations acknowledged by %d workers, none lost; %d attempts failed with an unknown outcome; "+
		"%d operations retried by key, %d of them found applied already (replayed), each applied once; "+
		"%d accounts of %d entries verify",
		cycles, len(all), workers, ambiguous.Load(), retried, replayed, report.Accounts, report.Entries)
	t.Logf("failover time (kill to the first new write the new primary commits): min %v, median %v, mean %v, max %v",
		times[0].Round(time.Millisecond), times[len(times)/2].Round(time.Millisecond),
		(sum / time.Duration(len(times))).Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
}

// storedEntries reads every entry of the server on port, by account and
// key (every entry of the test has a key).
func storedEntries(t *testing.T, ctx context.Context, c *pgCluster, port int) map[string]credits.Entry {
	t.Helper()
	conn := c.connect(ctx, port)
	defer conn.Close(ctx)
	cfg := conn.Config()
	pool, err := pgxpool.New(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", cfg.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	b, err := pgledger.New(pool, pgledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var accounts []string
	if err := conn.QueryRow(ctx, `SELECT array_agg(DISTINCT account) FROM credits.entries`).Scan(&accounts); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]credits.Entry)
	for _, account := range accounts {
		for after := int64(0); ; {
			page, err := b.Entries(ctx, account, credits.HistoryQuery{After: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				k := e.Account + "\x00" + e.Key
				if _, dup := out[k]; dup {
					t.Errorf("account %s: key %q stored twice", e.Account, e.Key)
				}
				out[k] = e
			}
			after = page[len(page)-1].ID
		}
	}
	return out
}
