package main

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeTree writes files (slash paths relative to a new directory) and
// returns the directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// commitAll makes root a git repository with all its files in one commit.
func commitAll(t *testing.T, root string) {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "tree"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

// goodTree is a root module, a backend that requires it and a command that
// requires both, as this repository is laid out.
func goodTree() map[string]string {
	return map[string]string{
		"go.work": "go 1.26\n\nuse (\n\t.\n\t./cmd/tool\n\t./backend\n)\n\nreplace (\n" +
			"\texample.com/lib v0.3.0 => ./\n\texample.com/lib/backend v0.3.0 => ./backend\n)\n",
		"go.mod":            "module example.com/lib\n\ngo 1.26\n",
		"lib.go":            "package lib\n",
		"LICENSE":           "the license\n",
		".gitignore":        "*.db\n",
		"scratch.db":        "ignored\n",
		"backend/go.mod":    "module example.com/lib/backend\n\ngo 1.26\n\nrequire example.com/lib v0.3.0\n",
		"backend/b.go":      "package backend\n",
		"cmd/tool/go.mod":   "module example.com/lib/cmd/tool\n\ngo 1.26\n\nrequire (\n\texample.com/lib v0.3.0\n\texample.com/lib/backend v0.3.0\n)\n",
		"cmd/tool/main.go":  "package main\n\nfunc main() {}\n",
		"tools/x/go.mod":    "module tools\n\ngo 1.26\n", // a module outside go.work, as .ci/modproxy is
		"tools/x/x.go":      "package x\n",
		"testdata/data.txt": "kept\n",
	}
}

func TestLoadTreeOrdersModulesAfterTheirSiblings(t *testing.T) {
	tr, err := LoadTree(writeTree(t, goodTree()))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Version != "v0.3.0" {
		t.Errorf("Version = %q, want v0.3.0", tr.Version)
	}
	var dirs []string
	for _, m := range tr.Modules {
		dirs = append(dirs, m.Dir)
	}
	if want := []string{".", "backend", "cmd/tool"}; !slices.Equal(dirs, want) {
		t.Errorf("order = %v, want %v", dirs, want)
	}
}

func TestLoadTreeRefusesWhatBreaksARelease(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  map[string]string
		wants []string // substrings of the error
	}{
		{"replace in go.mod", map[string]string{
			"backend/go.mod": "module example.com/lib/backend\n\ngo 1.26\n\nrequire example.com/lib v0.3.0\n\nreplace example.com/lib => ../\n",
		}, []string{"backend/go.mod:7: replace example.com/lib", "no replace directive"}},
		{"exclude in go.mod", map[string]string{
			"cmd/tool/go.mod": "module example.com/lib/cmd/tool\n\ngo 1.26\n\nrequire (\n\texample.com/lib v0.3.0\n\texample.com/lib/backend v0.3.0\n)\n\nexclude golang.org/x/sys v0.1.0\n",
		}, []string{"cmd/tool/go.mod:10: exclude golang.org/x/sys v0.1.0"}},
		{"two versions", map[string]string{
			"cmd/tool/go.mod": "module example.com/lib/cmd/tool\n\ngo 1.26\n\nrequire (\n\texample.com/lib v0.2.0\n\texample.com/lib/backend v0.3.0\n)\n",
		}, []string{"require their siblings at v0.2.0 and v0.3.0", "cmd/tool/go.mod:6: require example.com/lib v0.2.0", "backend/go.mod:5: require example.com/lib v0.3.0"}},
		{"pseudo-version", map[string]string{
			"backend/go.mod":  "module example.com/lib/backend\n\ngo 1.26\n\nrequire example.com/lib v0.0.0-20240101000000-abcdefabcdef\n",
			"cmd/tool/go.mod": "module example.com/lib/cmd/tool\n\ngo 1.26\n\nrequire example.com/lib/backend v0.0.0-20240101000000-abcdefabcdef\n",
		}, []string{"a sibling is required at a release version"}},
		{"wrong path for its directory", map[string]string{
			"backend/go.mod": "module example.com/backend\n\ngo 1.26\n\nrequire example.com/lib v0.3.0\n",
		}, []string{"module example.com/backend: a module in directory backend must be example.com/lib/backend"}},
		{"no go.work replace", map[string]string{
			"go.work": "go 1.26\n\nuse (\n\t.\n\t./cmd/tool\n\t./backend\n)\n\nreplace example.com/lib v0.3.0 => ./\n",
		}, []string{"go.work: no replace example.com/lib/backend v0.3.0 => ./backend"}},
		{"go.work replace at another version", map[string]string{
			"go.work": "go 1.26\n\nuse (\n\t.\n\t./cmd/tool\n\t./backend\n)\n\nreplace (\n\texample.com/lib v0.2.0 => ./\n\texample.com/lib/backend v0.3.0 => ./backend\n)\n",
		}, []string{"go.work:10: replace example.com/lib v0.2.0: the modules require their siblings at v0.3.0"}},
		{"go.work replace by another directory", map[string]string{
			"go.work": "go 1.26\n\nuse (\n\t.\n\t./cmd/tool\n\t./backend\n)\n\nreplace (\n\texample.com/lib v0.3.0 => ./\n\texample.com/lib/backend v0.3.0 => ./cmd/tool\n)\n",
		}, []string{"must be replaced by its own directory, ./backend"}},
		{"requires a module go.work lacks", map[string]string{
			"backend/go.mod": "module example.com/lib/backend\n\ngo 1.26\n\nrequire (\n\texample.com/lib v0.3.0\n\texample.com/lib/other v0.3.0\n)\n",
		}, []string{"require example.com/lib/other: no module of go.work has that path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := goodTree()
			for k, v := range tc.edit {
				files[k] = v
			}
			_, err := LoadTree(writeTree(t, files))
			if err == nil {
				t.Fatal("LoadTree succeeded")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

func TestBumpRewritesEveryRequirementAndReplace(t *testing.T) {
	files := goodTree()
	files["go.work"] = strings.Replace(files["go.work"], "replace (", "// for development\nreplace (", 1)
	root := writeTree(t, files)
	tr, err := LoadTree(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := Bump(tr, "v0.4.0"); err != nil {
		t.Fatal(err)
	}
	after, err := LoadTree(root)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != "v0.4.0" {
		t.Errorf("Version after bump = %s", after.Version)
	}
	tool, _ := os.ReadFile(filepath.Join(root, "cmd/tool/go.mod"))
	if want := "module example.com/lib/cmd/tool\n\ngo 1.26\n\nrequire (\n\texample.com/lib v0.4.0\n\texample.com/lib/backend v0.4.0\n)\n"; string(tool) != want {
		t.Errorf("cmd/tool/go.mod after bump:\n%s\nwant:\n%s", tool, want)
	}
	work, _ := os.ReadFile(filepath.Join(root, "go.work"))
	if strings.Contains(string(work), "v0.3.0") || !strings.Contains(string(work), "// for development\nreplace (\n\texample.com/lib v0.4.0 => ./\n\texample.com/lib/backend v0.4.0 => ./backend\n)") {
		t.Errorf("go.work after bump:\n%s", work)
	}
	if err := Bump(after, "v0.4"); err == nil {
		t.Error("Bump to v0.4 succeeded")
	}
	if err := Bump(after, "v0.3.9"); err == nil || !strings.Contains(err.Error(), "v0.3.9 is older than v0.4.0") {
		t.Errorf("Bump to an older version: err = %v", err)
	}
}

func TestRewriteSumStripsAndKeepsOurOwnHashes(t *testing.T) {
	root := writeTree(t, goodTree())
	tr, err := LoadTree(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tidied := filepath.Join(dir, "tidied")
	committed := filepath.Join(dir, "committed")
	out := filepath.Join(dir, "out")
	os.WriteFile(tidied, []byte(
		"example.com/lib v0.3.0 h1:NEW=\n"+
			"example.com/lib v0.3.0/go.mod h1:NEWMOD=\n"+
			"golang.org/x/sys v0.9.0/go.mod h1:a=\n"+
			"golang.org/x/sys v0.10.0 h1:b=\n"+
			"golang.org/x/sys v0.10.0/go.mod h1:c=\n"), 0o644)
	os.WriteFile(committed, []byte(
		"example.com/lib v0.2.0 h1:PREVIOUS=\n"+
			"example.com/lib v0.2.0/go.mod h1:PREVIOUSMOD=\n"+
			"example.com/lib v0.3.0 h1:RELEASED=\n"+
			"example.com/lib v0.3.0/go.mod h1:RELEASEDMOD=\n"+
			"golang.org/x/sys v0.1.0 h1:old=\n"), 0o644)

	if err := RewriteSum(tr, tidied, "", out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want := "golang.org/x/sys v0.9.0/go.mod h1:a=\ngolang.org/x/sys v0.10.0 h1:b=\ngolang.org/x/sys v0.10.0/go.mod h1:c=\n"
	if string(got) != want {
		t.Errorf("stripped:\n%s\nwant:\n%s", got, want)
	}

	if err := RewriteSum(tr, tidied, committed, out); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(out)
	want = "example.com/lib v0.3.0 h1:RELEASED=\nexample.com/lib v0.3.0/go.mod h1:RELEASEDMOD=\n" + want
	if string(got) != want {
		t.Errorf("kept:\n%s\nwant:\n%s", got, want)
	}

	os.WriteFile(tidied, []byte("example.com/lib v0.3.0\n"), 0o644)
	if err := RewriteSum(tr, tidied, "", out); err == nil || !strings.Contains(err.Error(), "tidied:1: malformed go.sum line") {
		t.Errorf("malformed line: err = %v", err)
	}
}

func TestServeMakesTheZipsAGitTagWould(t *testing.T) {
	root := writeTree(t, goodTree())
	commitAll(t, root)
	tr, err := LoadTree(root)
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	var log strings.Builder
	if err := Serve(&log, tr, proxy, "HEAD", tr.Modules); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "served "); n != 3 {
		t.Errorf("log has %d served lines:\n%s", n, log.String())
	}

	files := func(modPath string) []string {
		zr, err := zip.OpenReader(filepath.Join(proxy, filepath.FromSlash(modPath), "@v", "v0.3.0.zip"))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		var names []string
		for _, f := range zr.File {
			names = append(names, strings.TrimPrefix(f.Name, modPath+"@v0.3.0/"))
		}
		slices.Sort(names)
		return names
	}
	// The root's zip leaves out the nested modules (backend, cmd/tool, and
	// tools/x, which go.work does not use) and the ignored scratch.db.
	if got, want := files("example.com/lib"), []string{".gitignore", "LICENSE", "go.mod", "go.work", "lib.go", "testdata/data.txt"}; !slices.Equal(got, want) {
		t.Errorf("root zip = %v, want %v", got, want)
	}
	// A module in a subdirectory gets the repository's LICENSE.
	if got, want := files("example.com/lib/backend"), []string{"LICENSE", "b.go", "go.mod"}; !slices.Equal(got, want) {
		t.Errorf("backend zip = %v, want %v", got, want)
	}
	mod, _ := os.ReadFile(filepath.Join(proxy, "example.com/lib/backend/@v/v0.3.0.mod"))
	if string(mod) != goodTree()["backend/go.mod"] {
		t.Errorf(".mod = %q", mod)
	}
	info, _ := os.ReadFile(filepath.Join(proxy, "example.com/lib/cmd/tool/@v/v0.3.0.info"))
	if !strings.HasPrefix(string(info), `{"Version":"v0.3.0","Time":"`) {
		t.Errorf(".info = %s", info)
	}
	list, _ := os.ReadFile(filepath.Join(proxy, "example.com/lib/@v/list"))
	if string(list) != "v0.3.0\n" {
		t.Errorf("list = %q", list)
	}

	// An uncommitted change is refused: the zip would not show it.
	os.WriteFile(filepath.Join(root, "backend", "b.go"), []byte("package backend // changed\n"), 0o644)
	err = Serve(&log, tr, proxy, "HEAD", tr.Modules[1:2])
	if err == nil || !strings.Contains(err.Error(), "backend has changes not committed") {
		t.Errorf("serve with a change not committed: err = %v", err)
	}
}

func TestServeCaseEncodesPaths(t *testing.T) {
	files := goodTree()
	for name, data := range files {
		files[name] = strings.ReplaceAll(data, "example.com/lib", "example.com/Lib")
	}
	root := writeTree(t, files)
	commitAll(t, root)
	tr, err := LoadTree(root)
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	if err := Serve(&strings.Builder{}, tr, proxy, "HEAD", tr.Modules[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(proxy, "example.com", "!lib", "@v", "v0.3.0.zip")); err != nil {
		t.Error(err)
	}
}
