package sqliteledger

import "errors"

// ErrReadOnly is what Update of a Backend opened with Options.ReadOnly
// fails with.
var ErrReadOnly = errors.New("the ledger is open read-only (Options.ReadOnly)")
