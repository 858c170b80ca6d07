package sqliteledger

import "github.com/avstudio/credits"

// ScanEntry reads a row of sqlentry.Columns as the package does, for the
// external tests that read the file behind its back.
func ScanEntry(row interface{ Scan(dest ...any) error }) (credits.Entry, error) {
	return scanEntry(row)
}
