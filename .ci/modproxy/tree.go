package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// A Module is one module of the repository, as go.work lists it.
type Module struct {
	Dir  string // slash-separated, relative to the repository root: "." for the root module
	Path string // its module path
	File *modfile.File
}

// TagPrefix is the prefix of the module's release tags: "" for the root
// module, "pgledger/" for the module in pgledger.
func (m *Module) TagPrefix() string {
	if m.Dir == "." {
		return ""
	}
	return m.Dir + "/"
}

// A Tree is the repository's modules, with the rules that make them
// releasable checked.
type Tree struct {
	Root    string // absolute directory of the repository
	Work    *modfile.WorkFile
	Modules []*Module // in dependency order: every module after the siblings it requires
	// Version is the one version at which every module requires its
	// siblings: the version the next (or last) release tags.
	Version string
}

// Module returns the module with the given path, or nil.
func (t *Tree) Module(path string) *Module {
	for _, m := range t.Modules {
		if m.Path == path {
			return m
		}
	}
	return nil
}

// Siblings returns the paths of the repository's modules that m requires.
func (t *Tree) Siblings(m *Module) []string {
	var paths []string
	for _, r := range m.File.Require {
		if t.Module(r.Mod.Path) != nil {
			paths = append(paths, r.Mod.Path)
		}
	}
	return paths
}

// LoadTree reads go.work and every go.mod it uses, and checks what a release
// needs:
//   - the module in directory D has the path ROOT/D, so that the tag D/vX.Y.Z
//     releases it;
//   - no go.mod has a replace or an exclude directive (go install PKG@VERSION
//     refuses a module with either, and a dependency's replace is ignored);
//   - every requirement of a sibling module names one and the same version;
//   - go.work replaces each required sibling at exactly that version by its
//     own directory, so the workspace builds before that version is tagged.
func LoadTree(root string) (*Tree, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	workPath := filepath.Join(root, "go.work")
	data, err := os.ReadFile(workPath)
	if err != nil {
		return nil, err
	}
	work, err := modfile.ParseWork(workPath, data, nil)
	if err != nil {
		return nil, err
	}
	t := &Tree{Root: root, Work: work}

	var mods []*Module
	for _, u := range work.Use {
		dir := path.Clean(filepath.ToSlash(u.Path))
		if path.IsAbs(dir) || dir == ".." || strings.HasPrefix(dir, "../") {
			return nil, fmt.Errorf("go.work: use %s: a released module must be inside the repository", u.Path)
		}
		gomod := filepath.Join(root, filepath.FromSlash(dir), "go.mod")
		data, err := os.ReadFile(gomod)
		if err != nil {
			return nil, err
		}
		f, err := modfile.Parse(gomod, data, nil)
		if err != nil {
			return nil, err
		}
		if f.Module == nil {
			return nil, fmt.Errorf("%s: no module directive", rel(root, gomod))
		}
		mods = append(mods, &Module{Dir: dir, Path: f.Module.Mod.Path, File: f})
	}
	i := slices.IndexFunc(mods, func(m *Module) bool { return m.Dir == "." })
	if i < 0 {
		return nil, errors.New("go.work: no use of the root module (use .)")
	}
	rootPath := mods[i].Path

	var errs []error
	required := map[string]bool{} // sibling paths some module requires
	var versions []string         // the versions they are required at
	var requires []string         // each of those requirements, file:line
	for _, m := range mods {
		gomod := path.Join(m.Dir, "go.mod")
		if m.Dir != "." && m.Path != rootPath+"/"+m.Dir {
			errs = append(errs, fmt.Errorf("%s: module %s: a module in directory %s must be %s/%s, or the tag %s/vX.Y.Z does not release it",
				gomod, m.Path, m.Dir, rootPath, m.Dir, m.Dir))
		}
		for _, r := range m.File.Replace {
			errs = append(errs, fmt.Errorf("%s:%d: replace %s: a module that others install or require must have no replace directive (go.work serves local development)",
				gomod, r.Syntax.Start.Line, r.Old.Path))
		}
		for _, x := range m.File.Exclude {
			errs = append(errs, fmt.Errorf("%s:%d: exclude %s %s: go install PKG@VERSION refuses a module with an exclude directive",
				gomod, x.Syntax.Start.Line, x.Mod.Path, x.Mod.Version))
		}
	}
	// Requirements are checked once every module's path is known.
	t.Modules = mods
	for _, m := range mods {
		gomod := path.Join(m.Dir, "go.mod")
		for _, r := range m.File.Require {
			p, v := r.Mod.Path, r.Mod.Version
			if t.Module(p) == nil {
				if p == rootPath || strings.HasPrefix(p, rootPath+"/") {
					errs = append(errs, fmt.Errorf("%s:%d: require %s: no module of go.work has that path", gomod, r.Syntax.Start.Line, p))
				}
				continue
			}
			required[p] = true
			where := fmt.Sprintf("%s:%d: require %s %s", gomod, r.Syntax.Start.Line, p, v)
			if !isRelease(v) {
				errs = append(errs, fmt.Errorf("%s: a sibling is required at a release version vX.Y.Z", where))
				continue
			}
			if !slices.Contains(versions, v) {
				versions = append(versions, v)
			}
			requires = append(requires, where)
		}
	}
	switch {
	case len(versions) == 1:
		t.Version = versions[0]
	case len(versions) > 1:
		semver.Sort(versions)
		errs = append(errs, fmt.Errorf("the modules require their siblings at %s: a release tags them all at one version; these are the requirements:\n\t%s",
			strings.Join(versions, " and "), strings.Join(requires, "\n\t")))
		return nil, errors.Join(errs...)
	case len(errs) == 0:
		errs = append(errs, errors.New("no module requires a sibling module: nothing says which version a release tags"))
	}

	replaced := map[string]bool{}
	for _, r := range work.Replace {
		m := t.Module(r.Old.Path)
		if m == nil {
			continue // a replacement of some other module is go.work's own business
		}
		target := filepath.Clean(filepath.Join(root, filepath.FromSlash(r.New.Path)))
		want := filepath.Join(root, filepath.FromSlash(m.Dir))
		switch {
		case r.Old.Version == "":
			errs = append(errs, fmt.Errorf("go.work:%d: replace %s: replace a workspace module at one version (%s %s => ./%s); the go command refuses it at all versions",
				r.Syntax.Start.Line, r.Old.Path, r.Old.Path, orDots(t.Version), m.Dir))
		case r.Old.Version != t.Version:
			errs = append(errs, fmt.Errorf("go.work:%d: replace %s %s: the modules require their siblings at %s", r.Syntax.Start.Line, r.Old.Path, r.Old.Version, t.Version))
		case r.New.Version != "" || target != want:
			errs = append(errs, fmt.Errorf("go.work:%d: replace %s %s => %s: must be replaced by its own directory, ./%s", r.Syntax.Start.Line, r.Old.Path, r.Old.Version, r.New.Path, m.Dir))
		}
		replaced[r.Old.Path] = true
	}
	for _, m := range mods {
		if required[m.Path] && !replaced[m.Path] && t.Version != "" {
			errs = append(errs, fmt.Errorf("go.work: no replace %s %s => ./%s: without it the workspace fetches that version of %s, which is not tagged until the release",
				m.Path, t.Version, m.Dir, m.Path))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	order, err := dependencyOrder(t)
	if err != nil {
		return nil, err
	}
	t.Modules = order
	return t, nil
}

// dependencyOrder sorts the modules so that each comes after the siblings it
// requires, level by level, and by directory within a level: the root, then
// the modules that require only the root, and so on.
func dependencyOrder(t *Tree) ([]*Module, error) {
	done := map[string]bool{}
	var order []*Module
	for len(order) < len(t.Modules) {
		var level []*Module
		for _, m := range t.Modules {
			if done[m.Path] {
				continue
			}
			ready := true
			for _, p := range t.Siblings(m) {
				ready = ready && done[p]
			}
			if ready {
				level = append(level, m)
			}
		}
		if len(level) == 0 {
			var rest []string
			for _, m := range t.Modules {
				if !done[m.Path] {
					rest = append(rest, m.Path)
				}
			}
			return nil, fmt.Errorf("these modules require each other in a cycle, so no release order exists: %s", strings.Join(rest, ", "))
		}
		slices.SortFunc(level, func(a, b *Module) int { return strings.Compare(sortKey(a.Dir), sortKey(b.Dir)) })
		for _, m := range level {
			done[m.Path] = true
		}
		order = append(order, level...)
	}
	return order, nil
}

// sortKey sorts the root module (".") first.
func sortKey(dir string) string {
	if dir == "." {
		return ""
	}
	return dir
}

// isRelease reports whether v is a version a tag can release: a canonical
// semantic version (v1.2.3, v1.2.3-rc.1), not a pseudo-version such as
// v0.0.0-20240101000000-abcdefabcdef and not +incompatible.
func isRelease(v string) bool {
	return semver.IsValid(v) && semver.Canonical(v) == v && !module.IsPseudoVersion(v)
}

func orDots(v string) string {
	if v == "" {
		return "vX.Y.Z"
	}
	return v
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}
