// Package sqlmigrate reads the numbered SQL migrations that the durable
// backends (pgledger, sqliteledger) embed, so both follow one rule: files
// named NNNN_what.sql, applied in the order of their numbers, which run
// 1, 2, 3... without a gap, so a missing file cannot go unnoticed.
package sqlmigrate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Step is one numbered migration.
type Step struct {
	Version  int    // its number: 1, 2, 3...
	Name     string // its file name, such as "0001_init.sql"
	SQL      string // its statements
	Checksum string // hex SHA-256 of SQL, to notice an applied step that was edited
}

// Load returns the *.sql files of dir in fsys as steps, in version order.
// A file whose name does not start with a positive number and '_', or a
// gap in the numbers, is an error naming the file.
func Load(fsys fs.FS, dir string) ([]Step, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var out []Step
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must be NNNN_what.sql, NNNN a positive number", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, Step{Version: v, Name: base, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(out, func(a, b Step) int { return a.Version - b.Version })
	for i, s := range out {
		if s.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want number %d (numbers run 1, 2, 3... without gaps)", s.Name, i+1)
		}
	}
	return out, nil
}

// Applied is a migration a database records as applied. Checksum is ""
// when the database recorded none (an SQLite file migrated before its
// backend recorded checksums).
type Applied struct {
	Version  int
	Name     string
	Checksum string
}

// Pending checks what a database has applied against steps (all of them,
// from Load) and returns the steps it has still to apply, in order. It
// fails, naming the step, if the database has a step that steps does not
// (a newer release migrated it: upgrade the package named by pkg), if an
// applied step's checksum differs from the embedded one (an edited
// migration), or if the applied steps are not 1, 2, 3... An applied step
// with no checksum is taken as it is.
func Pending(applied []Applied, steps []Step, pkg string) ([]Step, error) {
	slices.SortFunc(applied, func(a, b Applied) int { return a.Version - b.Version })
	if n := len(applied); n > 0 && applied[n-1].Version > len(steps) {
		a := applied[n-1]
		return nil, fmt.Errorf("the database has migration %d (%s), newer than this package knows (up to %d): upgrade %s", a.Version, a.Name, len(steps), pkg)
	}
	for i, a := range applied {
		if a.Version != i+1 {
			return nil, fmt.Errorf("the database records migration %d (%s) where %d comes next", a.Version, a.Name, i+1)
		}
		if s := steps[i]; a.Checksum != "" && a.Checksum != s.Checksum {
			return nil, fmt.Errorf("applied migration %d (%s) differs from the embedded %s (checksum %s, embedded %s)", a.Version, a.Name, s.Name, a.Checksum, s.Checksum)
		}
	}
	return steps[len(applied):], nil
}
