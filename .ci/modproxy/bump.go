package main

import (
	"fmt"
	"path/filepath"
	"slices"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// Bump rewrites every go.mod of t to require its siblings at version, and
// go.work to replace each of them at that version by its own directory; then
// it reloads the tree and checks it. It changes nothing else.
func Bump(t *Tree, version string) error {
	if !isRelease(version) {
		return fmt.Errorf("bump: %q is not a release version (vX.Y.Z, as a tag names it)", version)
	}
	if semver.Compare(version, t.Version) < 0 {
		return fmt.Errorf("bump: %s is older than %s, the version the modules require now", version, t.Version)
	}
	for _, m := range t.Modules {
		for _, p := range t.Siblings(m) {
			if err := m.File.AddRequire(p, version); err != nil {
				return err
			}
		}
		m.File.Cleanup()
		data, err := m.File.Format()
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(t.Root, filepath.FromSlash(m.Dir), "go.mod"), data); err != nil {
			return err
		}
	}

	// Each replacement changes in place, so go.work keeps its layout and
	// comments: the old version is the token just before "=>".
	for _, r := range t.Work.Replace {
		if t.Module(r.Old.Path) == nil {
			continue
		}
		toks := r.Syntax.Token
		arrow := slices.Index(toks, "=>")
		if arrow < 1 || toks[arrow-1] != r.Old.Version {
			return fmt.Errorf("bump: go.work:%d: cannot find the version of replace %s", r.Syntax.Start.Line, r.Old.Path)
		}
		toks[arrow-1] = version
		r.Old.Version = version
	}
	t.Work.Cleanup()
	if err := writeFile(filepath.Join(t.Root, "go.work"), modfile.Format(t.Work.Syntax)); err != nil {
		return err
	}

	after, err := LoadTree(t.Root)
	if err != nil {
		return fmt.Errorf("bump: after the rewrite: %w", err)
	}
	if after.Version != version {
		return fmt.Errorf("bump: after the rewrite the modules require their siblings at %s, not %s", after.Version, version)
	}
	return nil
}
