package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// Serve writes into out, the directory of a file:// GOPROXY, what the module
// proxy protocol serves for each module of mods at t.Version: @v/list,
// @v/VERSION.info, @v/VERSION.mod and @v/VERSION.zip, under the module's
// case-encoded path (github.com/!foo for github.com/Foo).
//
// The zip is made from the commit rev of t.Root, a git repository, by
// golang.org/x/mod/zip.CreateFromVCS, the way the go command makes one from a
// tag: the files git archive gives (so .gitignore'd files are not in it),
// without nested modules' directories, and with the repository's LICENSE
// added to a module in a subdirectory that has none. The .mod is the go.mod
// inside that zip. Every module of mods must have no uncommitted change.
//
// For each module Serve prints one line: its path, version, the number of
// files and the two hashes go.sum records for it.
func Serve(w io.Writer, t *Tree, out, rev string, mods []*Module) error {
	when, err := git(t.Root, "log", "-1", "--format=%cI", rev)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if status, err := git(t.Root, "status", "--porcelain", "--", m.Dir); err != nil {
			return err
		} else if status != "" {
			return fmt.Errorf("serve %s: %s has changes not committed (the zip is made from %s, so commit them first):\n%s", m.Path, m.Dir, rev, status)
		}
		line, err := serveModule(t, m, out, rev, strings.TrimSpace(when))
		if err != nil {
			return fmt.Errorf("serve %s %s: %w", m.Path, t.Version, err)
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func serveModule(t *Tree, m *Module, out, rev, when string) (string, error) {
	escPath, err := module.EscapePath(m.Path)
	if err != nil {
		return "", err
	}
	escVersion, err := module.EscapeVersion(t.Version)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(out, filepath.FromSlash(escPath), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := filepath.Join(dir, escVersion)

	// The zip.
	subdir := m.Dir
	if subdir == "." {
		subdir = ""
	}
	var buf bytes.Buffer
	mv := module.Version{Path: m.Path, Version: t.Version}
	if err := modzip.CreateFromVCS(&buf, mv, t.Root, rev, subdir); err != nil {
		return "", err
	}
	if err := writeFile(base+".zip", buf.Bytes()); err != nil {
		return "", err
	}

	// The go.mod, as the zip holds it.
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		return "", err
	}
	var gomod []byte
	for _, f := range zr.File {
		if f.Name == m.Path+"@"+t.Version+"/go.mod" {
			rc, err := f.Open()
			if err != nil {
				return "", err
			}
			gomod, err = io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return "", err
			}
		}
	}
	if gomod == nil {
		return "", fmt.Errorf("the zip made from %s has no go.mod", rev)
	}
	if err := writeFile(base+".mod", gomod); err != nil {
		return "", err
	}

	// The .info and the list of versions.
	info, err := json.Marshal(struct{ Version, Time string }{t.Version, when})
	if err != nil {
		return "", err
	}
	if err := writeFile(base+".info", append(info, '\n')); err != nil {
		return "", err
	}
	if err := addToList(filepath.Join(dir, "list"), t.Version); err != nil {
		return "", err
	}

	// What go.sum records, so a log shows what was served.
	zipHash, err := dirhash.HashZip(base+".zip", dirhash.Hash1)
	if err != nil {
		return "", err
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gomod)), nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("served %s %s: %d files, %s, go.mod %s", m.Path, t.Version, len(zr.File), zipHash, modHash), nil
}

// addToList adds version to the proxy's list file of a module.
func addToList(file, version string) error {
	data, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	versions := strings.Fields(string(data))
	if slices.Contains(versions, version) {
		return nil
	}
	versions = append(versions, version)
	semver.Sort(versions)
	return writeFile(file, []byte(strings.Join(versions, "\n")+"\n"))
}

// writeFile writes data to a temporary file beside name and renames it, so a
// go command reading the proxy never sees half a file.
func writeFile(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), name)
}

// git runs git in dir and returns its standard output.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
