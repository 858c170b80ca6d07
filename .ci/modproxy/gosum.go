package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/mod/module"
)

// A sumLine is one line of a go.sum file: a module version (with "/go.mod"
// appended for the hash of its go.mod alone) and a hash.
type sumLine struct{ path, version, hash string }

// readSum reads a go.sum file; a missing one holds no lines.
func readSum(file string) ([]sumLine, error) {
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lines []sumLine
	for i, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		switch len(f) {
		case 0:
			continue
		case 3:
			lines = append(lines, sumLine{f[0], f[1], f[2]})
		default:
			return nil, fmt.Errorf("%s:%d: malformed go.sum line %q", file, i+1, l)
		}
	}
	return lines, nil
}

// writeSum writes lines as the go command does: sorted by module path, then
// by version (semantic version order), then by hash, without duplicates.
func writeSum(file string, lines []sumLine) error {
	mods := make([]module.Version, 0, len(lines))
	hashes := map[module.Version][]string{}
	for _, l := range lines {
		mv := module.Version{Path: l.path, Version: l.version}
		if _, ok := hashes[mv]; !ok {
			mods = append(mods, mv)
		}
		hashes[mv] = append(hashes[mv], l.hash)
	}
	module.Sort(mods)
	var buf bytes.Buffer
	for _, mv := range mods {
		h := hashes[mv]
		slices.Sort(h)
		for _, x := range slices.Compact(h) {
			fmt.Fprintf(&buf, "%s %s %s\n", mv.Path, mv.Version, x)
		}
	}
	if buf.Len() == 0 {
		if _, err := os.Stat(file); os.IsNotExist(err) {
			return nil // a module without dependencies has no go.sum
		}
	}
	return writeFile(file, buf.Bytes())
}

// RewriteSum writes to out the lines of the go.sum file in that are not
// hashes of the repository's own modules, and, if keep is not empty, the
// lines of the go.sum file keep that are, at the version the modules
// require. With keep empty it strips a go.sum
// of the hashes of our own modules, which a proxy served from the working
// tree would contradict; with keep it puts back the ones a release recorded.
func RewriteSum(t *Tree, in, keep, out string) error {
	own := func(l sumLine) bool { return t.Module(l.path) != nil }
	lines, err := readSum(in)
	if err != nil {
		return err
	}
	lines = slices.DeleteFunc(lines, own)
	if keep != "" {
		kept, err := readSum(keep)
		if err != nil {
			return err
		}
		for _, l := range kept {
			// Only the hashes of the version the modules require: a
			// release's hashes go when the next release bumps it.
			if own(l) && strings.TrimSuffix(l.version, "/go.mod") == t.Version {
				lines = append(lines, l)
			}
		}
	}
	return writeSum(out, lines)
}
