//go:build !race

package pgledger_test

const race = false
