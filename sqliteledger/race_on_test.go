//go:build race

package sqliteledger_test

// race reports a race-detector build, which makes SQLite's pure-Go
// engine about 25 times slower.
const race = true
