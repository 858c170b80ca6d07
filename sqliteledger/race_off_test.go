//go:build !race

package sqliteledger_test

const race = false
