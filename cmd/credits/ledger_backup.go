package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/avstudio/credits/sqliteledger"
)

// runLedgerBackup: credits ledger backup --db FILE --to FILE [--timeout D].
//
// It copies a SQLite ledger to a new file with sqliteledger's Backup: one
// consistent snapshot, taken while other processes go on using the
// ledger, never overwriting a file. The ledger must exist (backup does not
// create one); a PostgreSQL --db is bad usage: its backups are the
// server's (pg_basebackup, pg_dump). It prints the copy's path, size and
// the time it took.
func runLedgerBackup(e *env, args []string) int {
	var cmd command
	for _, lc := range ledgerCommands() {
		if lc.name == "backup" {
			cmd = lc
		}
	}
	set := flag.NewFlagSet("credits ledger backup", flag.ContinueOnError)
	set.SetOutput(io.Discard)
	f := &flags{FlagSet: set, cmd: command{name: "ledger backup", args: cmd.args, summary: cmd.summary}}
	db := set.String("db", defaultDB, "the SQLite ledger `file` to copy")
	to := set.String("to", "", "the new `file` to copy it to (it must not exist; required)")
	timeout := set.Duration("timeout", defaultLedgerTimeout, "give up after this `duration`")
	pos, code, done := f.parse(e, args)
	switch {
	case done:
		return code
	case len(pos) != 0:
		return e.usageErr(f.cmd.name, fmt.Sprintf("unexpected argument %q", pos[0]))
	case *to == "":
		return e.usageErr(f.cmd.name, "--to is required")
	case isPostgresURL(*db):
		return e.usageErr(f.cmd.name, "--db must be a SQLite file: back up PostgreSQL with its own tools (pg_basebackup, pg_dump)")
	case *timeout <= 0:
		return e.usageErr(f.cmd.name, "--timeout must be more than zero")
	}
	if _, err := os.Stat(*db); errors.Is(err, fs.ErrNotExist) {
		return e.fail(f.cmd.name, fmt.Errorf("%s: no ledger file", *db))
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	b, err := sqliteledger.Open(ctx, *db, sqliteledger.Options{})
	if err != nil {
		return e.fail(f.cmd.name, err)
	}
	start := time.Now()
	err = b.Backup(ctx, *to)
	took := time.Since(start)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return e.fail(f.cmd.name, err)
	}
	info, err := os.Stat(*to)
	if err != nil {
		return e.fail(f.cmd.name, err)
	}
	return e.write(f.cmd.name, fmt.Sprintf("backed up %s to %s (%d bytes) in %s\n", *db, *to, info.Size(), took.Round(time.Millisecond)))
}
