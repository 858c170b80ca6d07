package credits_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocSnippetsCheckErrorsFirst: no code in README.md or the package doc
// defers a Close before checking the error of the call that returned
// what it closes (a failed Open returns nothing to close).
func TestDocSnippetsCheckErrorsFirst(t *testing.T) {
	assign := regexp.MustCompile(`\b(\w+), err :?= `)
	deferClose := regexp.MustCompile(`\bdefer (\w+)\.Close\(`)
	checked := regexp.MustCompile(`\bif err != nil\b`)
	for _, name := range []string{"README.md", "doc.go"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		last, unchecked := "", false
		for i, line := range strings.Split(string(data), "\n") {
			if m := assign.FindStringSubmatch(line); m != nil {
				last, unchecked = m[1], !checked.MatchString(line)
				continue
			}
			if checked.MatchString(line) {
				unchecked = false
			}
			if m := deferClose.FindStringSubmatch(line); m != nil && m[1] == last && unchecked {
				t.Errorf("%s:%d: %q defers %s.Close before checking the error that came with %s", name, i+1, strings.TrimSpace(line), last, last)
			}
		}
	}
}

// TestREADMERunnablePrograms: what the README's Repository table lists as
// runnable programs under examples/ are main packages.
func TestREADMERunnablePrograms(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^\\| `\\.\\.\\./examples` \\| runnable programs: ([^|;]*)").FindSubmatch(data)
	if m == nil {
		t.Fatal("README.md has no row for .../examples listing its runnable programs")
	}
	for _, prog := range strings.Split(string(m[1]), ",") {
		prog = strings.TrimSpace(prog)
		files, _ := filepath.Glob(filepath.Join("examples", prog, "*.go"))
		if len(files) == 0 {
			t.Errorf("README.md lists %q as a runnable program; examples/%s has no Go files", prog, prog)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			pkg, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly)
			if err != nil {
				t.Fatal(err)
			}
			if pkg.Name.Name != "main" {
				t.Errorf("README.md lists %q as a runnable program; %s is package %s", prog, f, pkg.Name.Name)
			}
		}
	}
}
