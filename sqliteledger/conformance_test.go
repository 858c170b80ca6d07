package sqliteledger_test

import (
	"path/filepath"
	"testing"

	"github.com/avstudio/credits"
	"github.com/avstudio/credits/ledgertest"
	"github.com/avstudio/credits/sqliteledger"
)

// The conformance suite every backend passes, on a new file per subtest,
// with the default options (synchronous FULL). NORMAL changes when SQLite
// waits for the disk, not what it stores or how it locks; the crash and
// reopen tests run both settings.
//
// By default the state machine runs 50 cases, 4 under the race detector
// (which makes SQLite's pure-Go engine about 25 times slower: a case takes
// about 9 s there, and 10 made this package the test command's longest by
// a minute), so that the repository's test command stays short; CI's deep
// run gives -rapid.checks=1000 without it.
func TestConformance(t *testing.T) {
	checks := 50
	if race {
		checks = 4
	}
	ledgertest.Run(t, func(t *testing.T) credits.Backend {
		return openFile(t, filepath.Join(t.TempDir(), "ledger.db"), sqliteledger.Options{})
	}, ledgertest.Checks(checks))
}
