// Command credits prices billable actions, estimates public-API jobs and
// keeps accounts of credits with the github.com/avstudio/credits library.
//
// Usage:
//
//	credits quote ACTION [--resolution R] [--quantity N] [--at RFC3339] [--prices FILE] [--json]
//	credits prices [--at RFC3339] [--prices FILE] [--json]
//	credits estimate [--at RFC3339] [--prices FILE] [--json] FILE|-
//	credits ledger SUBCOMMAND --account A [--db PATH|URL] [--json] ...
//	credits serve [--db PATH|URL] [--addr HOST:PORT] [--admin-token T] [--private] [--subscriptions FILE]
//
// serve runs the console (account and support pages, the JSON API) on a
// ledger; serve.go says who may do what.
//
// Prices come from the default R-Credits price book unless --prices names a
// price-book JSON file (the form of testdata/prices/default.json); --at
// picks the table in force at an instant (default: now). Flags may come
// before or after the arguments; "--" ends the flags.
//
// The ledger subcommands keep accounts in a SQLite file (--db PATH,
// default ./credits.db) or in PostgreSQL (--db postgres://...):
//
//	credits ledger grant     --account A (--amount N --source S [--expires T] [--priority N] | --free-tier [--claim EMAIL])
//	credits ledger charge    --account A (ACTION [--resolution R] [--quantity N] [--price-version V] [--prices FILE] | --amount N)
//	credits ledger hold      --account A --amount N [--deadline T | --ttl D]
//	credits ledger capture   --account A --hold ID --amount N
//	credits ledger release   --account A --hold ID
//	credits ledger refund    --account A --entry ID [--amount N]
//	credits ledger balance   --account A
//	credits ledger history   --account A [--after ID] [--limit N] [--kind K]... [--since T] [--until T]
//	credits ledger statement --account A [--period YYYY-MM | --from T --to T]
//	credits ledger feed      [--after CURSOR] [--limit N] [--follow] [--account A]
//	credits ledger notices   [--after CURSOR] [--limit N] [--follow] [--account A]
//	credits ledger verify    (--account A | --all)
//	credits ledger backup    --db FILE --to FILE
//
// The writes (grant to refund) take --key, an idempotency key: the same
// command with the same key is applied once. A write prints its entry
// and the account's balance now; run again with the same key, it says it
// was replayed (in --json output, "replayed": true) and changed nothing,
// and prints the balance now, not the one its entry left. 'credits ledger
// -h' has the rest. verify rebuilds one account (--account) or every
// account (--all) from its history, checks its hash chain and its stored
// state (see credits.Ledger.Verify), prints every difference, one a line,
// and a summary, and exits 1 if there is any. backup copies a SQLite
// ledger, while it is in use, to a new file (see
// sqliteledger.Backend.Backup).
//
// Exit status: 0 on success; 1 for bad input (an unknown action, a bad
// job, an unreadable file, an operation the ledger refused, a difference
// found by ledger verify...), with one
// line on standard error naming what is at fault: the flag as typed
// (--quantity), the argument (ACTION), or the field or URL of a job or
// price-book file; 2 for bad usage (an unknown command or flag, a missing
// or extra argument).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitInput = 1 // bad input: one line on stderr
	exitUsage = 2 // bad usage: one line on stderr
)

// command is one subcommand (or a group of them, which dispatches on its
// own arguments).
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	run     func(e *env, args []string) int
}

// commands is the dispatch table. A new subcommand or group (such as
// "ledger") is one more entry here and a function in its own file.
func commands() []command {
	return []command{
		{"quote", "ACTION [--resolution R] [--quantity N] [--at RFC3339] [--prices FILE] [--json]",
			"print the price of N units of an action", runQuote},
		{"prices", "[--at RFC3339] [--prices FILE] [--json]",
			"print the price table in force", runPrices},
		{"estimate", "[--at RFC3339] [--prices FILE] [--json] FILE|-",
			"estimate a public-API job from a JSON file or standard input", runEstimate},
		{"ledger", "SUBCOMMAND --account A [--db PATH|URL] [--key K] [--json] ...",
			"keep accounts of credits in a SQLite file or PostgreSQL:", runLedger},
		{"serve", "[--db PATH|URL] [--addr HOST:PORT] [--admin-token T] [--private] [--subscriptions FILE] [--prices FILE]",
			"serve the console: account and support pages and the JSON API", runServe},
	}
}

// env is what a command may touch: its streams and the clock.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	// interrupt, if not nil, ends a long-running command (serve) when it
	// is done; nil means SIGINT or SIGTERM does.
	interrupt context.Context
}

// run is the whole program: it parses args (without the program name),
// runs the subcommand and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return (&env{stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}).main(args)
}

func (e *env) main(args []string) int {
	return e.dispatch("", commands(), e.usage, args)
}

// dispatch runs the command of cmds that args[0] names: the program's
// commands (group "") or a group's subcommands (group "ledger"). "-h",
// "help" and "help NAME" print usage; no name, or an unknown one, is bad
// usage.
func (e *env) dispatch(group string, cmds []command, usage func(io.Writer), args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			return e.dispatch(group, cmds, usage, []string{args[1], "-h"})
		}
		usage(e.stdout)
		return exitOK
	}
	for _, c := range cmds {
		if c.name == name {
			return c.run(e, args[1:])
		}
	}
	if group == "" {
		return e.usageErr("", fmt.Sprintf("unknown command %q", name))
	}
	return e.usageErr(group, fmt.Sprintf("unknown subcommand %q", name))
}

func (e *env) usage(w io.Writer) {
	fmt.Fprintln(w, "credits prices actions, estimates public-API jobs and keeps accounts of credits.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  credits %-9s %s\n", c.name, c.summary)
		if c.name == "ledger" {
			for _, lc := range ledgerCommands() {
				fmt.Fprintf(w, "    credits ledger %-10s %s\n", lc.name, lc.summary)
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'credits COMMAND -h' (or 'credits ledger SUBCOMMAND -h') for its arguments and flags.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 bad input, 2 bad usage.")
}

// usageErr reports bad usage of command cmd ("" for the program) in one
// line and returns exitUsage.
func (e *env) usageErr(cmd, msg string) int {
	prog := "credits"
	help := "credits -h"
	if cmd != "" {
		prog += " " + cmd
		help = "credits " + cmd + " -h"
	}
	fmt.Fprintf(e.stderr, "%s: %s (see '%s')\n", prog, oneLine(msg), help)
	return exitUsage
}

// fail reports bad input to command cmd in one line, naming the flag or
// argument at fault (see labelFlags), and returns exitInput.
func (e *env) fail(cmd string, err error) int {
	msg := strings.TrimPrefix(oneLine(labelFlags(err).Error()), "credits: ")
	fmt.Fprintf(e.stderr, "credits %s: %s\n", cmd, msg)
	return exitInput
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// flags is a subcommand's flag set with the flags every pricing command has.
type flags struct {
	*flag.FlagSet
	cmd    command
	at     string
	prices string
	json   bool
}

func newFlags(name string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("credits "+name, flag.ContinueOnError)}
	for _, c := range commands() {
		if c.name == name {
			f.cmd = c
		}
	}
	f.SetOutput(io.Discard)
	f.StringVar(&f.at, "at", "", "price with the table in force at this RFC 3339 `instant` (default now)")
	f.StringVar(&f.prices, "prices", "", "read the price book from this JSON `file` (default: the built-in R-Credits book)")
	f.BoolVar(&f.json, "json", false, "print JSON")
	return f
}

// parse parses flags and arguments in any order and returns the
// arguments. done is true when the command should exit with code.
func (f *flags) parse(e *env, args []string) (pos []string, code int, done bool) {
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			w := e.stdout
			fmt.Fprintf(w, "usage: credits %s %s\n\n%s.\n\nFlags:\n", f.cmd.name, f.cmd.args, f.cmd.summary)
			f.SetOutput(w)
			f.PrintDefaults()
			return nil, exitOK, true
		}
		if err != nil {
			return nil, e.usageErr(f.cmd.name, err.Error()), true
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// table returns the price table the flags select.
func (f *flags) table(e *env) (*credits.PriceTable, error) {
	book := credits.DefaultPriceBook()
	if f.prices != "" {
		file, err := os.Open(f.prices)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		book, err = credits.LoadPriceBook(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.prices, err)
		}
	}
	at := e.now()
	if f.at != "" {
		var err error
		if at, err = parseInstant("at", f.at); err != nil {
			return nil, err
		}
	}
	return book.At(at)
}
