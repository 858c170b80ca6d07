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
func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) credits.Backend {
		return openFile(t, filepath.Join(t.TempDir(), "ledger.db"), sqliteledger.Options{})
	})
}
