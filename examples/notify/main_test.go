package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/notify.golden with the program's output")

const golden = "testdata/notify.golden"

// TestGolden: the output is exactly testdata/notify.golden (go test
// -update rewrites it): the clock is fixed, and every line is printed by
// the program's own goroutine, after what it reports has happened.
func TestGolden(t *testing.T) {
	for i := range 3 { // the consumers race the main goroutine: run it a few times
		var out bytes.Buffer
		if err := run(context.Background(), &out, filepath.Join(t.TempDir(), "credits.db")); err != nil {
			t.Fatal(err)
		}
		if *update && i == 0 {
			if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), out.String()); diff != "" {
			t.Fatalf("run %d: output differs from %s (-want +got; go test -update rewrites it):\n%s", i, golden, diff)
		}
	}
}
