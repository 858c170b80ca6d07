//go:build !unix

package sqliteledger

// fileNotWritable cannot tell on this system.
func fileNotWritable(string) string { return "" }

// dirNotWritable cannot tell on this system.
func dirNotWritable(string) string { return "" }
