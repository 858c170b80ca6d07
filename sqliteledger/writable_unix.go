//go:build unix

package sqliteledger

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// fileNotWritable says why this process cannot write the existing file at
// path, as the operating system answers (permissions, an immutable file, a
// read-only file system), or "" if it can (or the file does not exist).
// SQLite itself would open such a file read-only, silently, and fail only
// at the first write.
func fileNotWritable(path string) string {
	if err := unix.Access(path, unix.W_OK); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Sprintf("the file is not writable by this process (%v)", err)
	}
	return ""
}

// dirNotWritable says why this process cannot create the write-ahead log
// beside the file at path, or "" if it can.
func dirNotWritable(path string) string {
	dir := filepath.Dir(path)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		base := filepath.Base(path)
		return fmt.Sprintf("its directory %s is not writable by this process (%v), and SQLite creates %s-wal and %s-shm there", dir, err, base, base)
	}
	return ""
}
