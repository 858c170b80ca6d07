package main

// This file reads the values given to flags and arguments, and names the
// flag or argument at fault in every message about a bad value: the flag
// as typed (--quantity) or the argument as the synopsis names it (ACTION),
// whether the command line or the library found the fault.

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// flagOf maps the fields of the library's requests, as its InputErrors
// name them, to the flag or argument the command line takes them from.
// The flags have the same names in every command.
var flagOf = map[string]string{
	"account":    "--account",
	"key":        "--key",
	"claim":      "--claim",
	"email":      "--claim", // credits.NormalizeEmail's, of the --claim it normalizes
	"amount":     "--amount",
	"source":     "--source",
	"expires_at": "--expires",
	"priority":   "--priority",
	"action":     "ACTION",
	"resolution": "--resolution",
	"quantity":   "--quantity",
	"deadline":   "--deadline",
	"hold":       "--hold",
	"entry":      "--entry",
	"after":      "--after",
	"cursor":     "--after",
	"limit":      "--limit",
	"kind":       "--kind",
	"kinds":      "--kind",
}

// labelFlags returns err with the field of the [*credits.InputError] it is
// or wraps named as the command line's flag, if flagOf has it. Fields
// that no flag gives (the JSON paths of a job or price-book file) stay as
// they are.
func labelFlags(err error) error {
	var ie *credits.InputError
	if !errors.As(err, &ie) {
		return err
	}
	label, ok := flagOf[ie.Field]
	if !ok {
		return err
	}
	named := *ie
	named.Field = label
	if err == error(ie) {
		return &named
	}
	return &relabeled{msg: strings.Replace(err.Error(), ie.Error(), named.Error(), 1), err: err}
}

// relabeled is an error whose message names a flag where the error it
// wraps names a field of the library's request.
type relabeled struct {
	msg string
	err error
}

func (r *relabeled) Error() string { return r.msg }
func (r *relabeled) Unwrap() error { return r.err }

// parseAction reads the ACTION argument of quote and ledger charge; an
// unknown name is answered with the names there are.
func parseAction(s string) (credits.Action, error) {
	a, err := credits.ParseAction(s)
	if err == nil {
		return a, nil
	}
	names := make([]string, 0, len(credits.Actions()))
	for _, a := range credits.Actions() {
		names = append(names, a.String())
	}
	return 0, &credits.InputError{Field: "ACTION", Value: s, Reason: "unknown action (want one of " + strings.Join(names, ", ") + ")"}
}

// parseQuantity reads the --quantity of quote and ledger charge.
func parseQuantity(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, &credits.InputError{Field: "--quantity", Value: s, Reason: "want a whole number of at least 1"}
	}
	return n, nil
}

// parseAmount reads an amount of credits given to flag name, more than
// zero. A value credits.Parse refuses gets Parse's reason ("more than 6
// decimal places", "exponents are not allowed", "not a decimal number",
// "out of range ..."): Parse's errors are *credits.InputErrors.
func parseAmount(name, s string) (credits.Credits, error) {
	c, err := credits.Parse(s)
	if err != nil {
		reason := err.Error()
		var ie *credits.InputError
		if errors.As(err, &ie) {
			reason = ie.Reason
		}
		return 0, &credits.InputError{Field: "--" + name, Value: s, Reason: reason}
	}
	if c <= 0 {
		return 0, &credits.InputError{Field: "--" + name, Value: s, Reason: "want an amount of credits more than zero, such as 25 or 2.5"}
	}
	return c, nil
}

// parseID reads an entry ID given to flag name.
func parseID(name, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, &credits.InputError{Field: "--" + name, Value: s, Reason: "want an entry ID, a whole number of at least 1"}
	}
	return id, nil
}

// parseInstant reads an RFC 3339 instant given to flag name.
func parseInstant(name, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &credits.InputError{Field: "--" + name, Value: s, Reason: "want an RFC 3339 instant such as 2025-06-01T00:00:00Z"}
	}
	return t, nil
}
