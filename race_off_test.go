//go:build !race

package credits_test

const race = false
