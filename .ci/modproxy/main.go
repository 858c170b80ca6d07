// Command modproxy knows this repository's modules as a release sees them,
// and serves them as a file:// GOPROXY, so that CI builds each module outside
// the workspace exactly as a user who runs go get or go install would. The
// scripts .ci/modules.sh, .ci/tidy.sh and .ci/release.sh use it.
//
// Usage (REPO is the repository's root directory, default "."):
//
//	modproxy version [-repo REPO]
//		checks the modules (see LoadTree) and prints the one version at
//		which they require each other
//	modproxy modules [-repo REPO]
//		checks them and prints each as "DIR PATH", in dependency order
//	modproxy serve [-repo REPO] [-rev REV] -out PROXY [DIR...]
//		writes the named modules (default all) at that version into the
//		file:// GOPROXY directory PROXY, made from the git commit REV
//		(default HEAD) of REPO
//	modproxy bump [-repo REPO] VERSION
//		makes every module require its siblings at VERSION, and go.work
//		replace them at VERSION
//	modproxy gosum [-repo REPO] [-keep KEPT] IN OUT
//		writes to OUT the go.sum IN without the hashes of the repository's
//		own modules, plus those of the go.sum KEPT
//
// It is a module of its own, outside go.work, so nothing it needs becomes a
// dependency of the library; build it with GOWORK=off.
package main

import (
	"flag"
	"fmt"
	"os"
	"path"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("modproxy "+cmd, flag.ExitOnError)
	repo := fs.String("repo", ".", "the repository's root `directory`")
	var err error
	switch cmd {
	case "version", "modules":
		fs.Parse(args)
		var t *Tree
		if t, err = LoadTree(*repo); err == nil {
			if cmd == "version" {
				fmt.Println(t.Version)
			}
			for _, m := range t.Modules {
				if cmd == "modules" {
					fmt.Println(m.Dir, m.Path)
				}
			}
		}
	case "serve":
		out := fs.String("out", "", "the file:// GOPROXY `directory` to write")
		rev := fs.String("rev", "HEAD", "the git `revision` to make the zips from")
		fs.Parse(args)
		if *out == "" {
			fatal(fmt.Errorf("serve: -out is required"))
		}
		var t *Tree
		if t, err = LoadTree(*repo); err == nil {
			var mods []*Module
			if mods, err = pick(t, fs.Args()); err == nil {
				err = Serve(os.Stdout, t, *out, *rev, mods)
			}
		}
	case "bump":
		fs.Parse(args)
		if fs.NArg() != 1 {
			fatal(fmt.Errorf("bump: want one VERSION"))
		}
		var t *Tree
		if t, err = LoadTree(*repo); err == nil {
			err = Bump(t, fs.Arg(0))
		}
	case "gosum":
		keep := fs.String("keep", "", "a go.sum `file` whose hashes of our own modules to keep")
		fs.Parse(args)
		if fs.NArg() != 2 {
			fatal(fmt.Errorf("gosum: want IN and OUT"))
		}
		var t *Tree
		if t, err = LoadTree(*repo); err == nil {
			err = RewriteSum(t, fs.Arg(0), *keep, fs.Arg(1))
		}
	default:
		usage()
	}
	if err != nil {
		fatal(err)
	}
}

// pick returns the modules whose directories are named, in dependency order;
// none named means all.
func pick(t *Tree, dirs []string) ([]*Module, error) {
	if len(dirs) == 0 {
		return t.Modules, nil
	}
	want := map[string]bool{}
	for _, d := range dirs {
		want[path.Clean(d)] = true
	}
	var mods []*Module
	for _, m := range t.Modules {
		if want[m.Dir] {
			mods = append(mods, m)
			delete(want, m.Dir)
		}
	}
	for d := range want {
		return nil, fmt.Errorf("serve: %s is not a module directory of go.work", d)
	}
	return mods, nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: modproxy version|modules|serve|bump|gosum [-repo DIR] ... (see the package doc)")
	os.Exit(2)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "modproxy:", err)
	os.Exit(1)
}
