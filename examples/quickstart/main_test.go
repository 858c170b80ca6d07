package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/quickstart.golden with the program's output")

const golden = "testdata/quickstart.golden"

// runOnce runs the quick start on the ledger file at path.
func runOnce(t *testing.T, path string) (string, *report) {
	t.Helper()
	var out bytes.Buffer
	rep, err := run(context.Background(), &out, path)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), rep
}

// TestGolden: the output is exactly testdata/quickstart.golden (go test
// -update rewrites it); the clock is fixed, so it never varies.
func TestGolden(t *testing.T) {
	out, _ := runOnce(t, filepath.Join(t.TempDir(), "credits.db"))
	if *update {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out); diff != "" {
		t.Errorf("output differs from %s (-want +got; go test -update rewrites it):\n%s", golden, diff)
	}
}

// TestNumbersAddUp checks the story against the price table and the
// ledger's rules, and the printed numbers against what the ledger holds.
func TestNumbersAddUp(t *testing.T) {
	out, rep := runOnce(t, filepath.Join(t.TempDir(), "credits.db"))
	table := credits.DefaultPriceTable()

	// The estimate: uploads by type, the AI creation and the render.
	want := table.Price(credits.UploadVideo) + table.Price(credits.UploadImage) + table.Price(credits.UploadAudio) +
		table.Price(credits.PublicAPIAICreation) + table.Price(credits.Render)
	var lines credits.Credits
	for _, l := range rep.estimate.Lines {
		if l.Subtotal != l.UnitPrice*credits.Credits(l.Quantity) || l.UnitPrice != table.Price(l.Action) {
			t.Errorf("estimate line %+v", l)
		}
		lines += l.Subtotal
	}
	if rep.estimate.Total != want || lines != want || len(rep.estimate.Lines) != 5 {
		t.Errorf("estimate %+v, want a total of %s in 5 lines", rep.estimate, want)
	}
	// The hold reserves the estimate; the capture spends it all.
	if rep.hold.Held != want || rep.afterHold.Held != want || rep.afterHold.Available != rep.afterHold.Total-want || rep.capture.Amount != -want {
		t.Errorf("hold %+v, balance %+v, capture %+v; estimate %s", rep.hold, rep.afterHold, rep.capture, want)
	}
	clip, err := table.UnitPrice(credits.VideoGeneration, credits.Res1080p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.clip.Amount != -clip || clip != 2*table.Price(credits.VideoGeneration) {
		t.Errorf("the 1080p clip cost %s; 1080p is twice %s", -rep.clip.Amount, table.Price(credits.VideoGeneration))
	}

	// The first period's statement adds up, line by line.
	st := rep.first
	granted := map[credits.Source]credits.Credits{}
	for _, g := range st.Granted {
		granted[g.Source] += g.Amount
	}
	if diff := cmp.Diff(map[credits.Source]credits.Credits{credits.SourceFreeTier: 30 * credits.Credit, credits.SourceSubscription: creator.Credits}, granted); diff != "" {
		t.Errorf("granted in period 1 (-want +got):\n%s", diff)
	}
	spent := map[string]credits.Credits{}
	for _, s := range st.Spent {
		spent[s.Kind.String()+" "+s.Action.String()] += s.Amount
	}
	if diff := cmp.Diff(map[string]credits.Credits{"charge video_generation": clip, "capture Action(0)": want}, spent); diff != "" {
		t.Errorf("spent in period 1 (-want +got):\n%s", diff)
	}
	if st.Opening != 0 || st.Opening+st.TotalGranted()+st.Refunded-st.TotalSpent()-st.Expired != st.Closing ||
		st.Closing != 30*credits.Credit+creator.Credits-want-clip || st.Expired != 0 {
		t.Errorf("statement of period 1 does not add up: %+v", st)
	}
	if !st.Period.Start.Equal(begin) || !st.Period.End.Equal(begin.AddDate(0, 1, 0)) {
		t.Errorf("period 1 is %s", st.Period)
	}

	// Everything rolls over: period 2 opens where period 1 closed, and
	// the final balance is that plus period 2's credits.
	if rep.second.Opening != st.Closing || rep.second.Expired != 0 || rep.grants[1].Amount != creator.Credits {
		t.Errorf("period 2: %+v after period 1 closed at %s", rep.second, st.Closing)
	}
	if rep.final.Total != st.Closing+creator.Credits || rep.final.Held != 0 || rep.final.Available != rep.final.Total {
		t.Errorf("final balance %+v, want %s + %s", rep.final, st.Closing, creator.Credits)
	}

	// What is printed is what the ledger holds.
	for _, tc := range []struct {
		pattern string
		want    credits.Credits
	}{
		{`(?m)^    total +(\S+)$`, rep.estimate.Total},
		{`(?m)^  hold (\S+) credits while the job runs`, rep.hold.Held},
		{`(?m)^  the job rendered: capture (\S+) credits`, -rep.capture.Amount},
		{`(?m)^  alice generates a 1080p video clip: -(\S+) credits`, clip},
		{`(?m)^  rollover: of the (\S+) credits left`, st.Closing},
		{`(?m)^  rollover: .*, (\S+) roll over`, rep.second.Opening},
		{`(?m)^  opening balance +(\S+)$`, st.Opening},
		{`(?m)^  granted +\+(\S+)$`, st.TotalGranted()},
		{`(?m)^  spent +-(\S+)$`, st.TotalSpent()},
		{`(?m)^  closing balance +(\S+)$`, st.Closing},
		{`(?m)^Final balance of alice: (\S+) credits`, rep.final.Total},
	} {
		m := regexp.MustCompile(tc.pattern).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("output lacks %s:\n%s", tc.pattern, out)
			continue
		}
		if got, err := credits.Parse(m[1]); err != nil || got != tc.want {
			t.Errorf("%s: printed %q, the ledger says %s", tc.pattern, m[1], tc.want)
		}
	}
}

// TestRunAgain: run again on the same file, the quick start stores
// nothing more (every write is idempotent) and prints the same entries.
func TestRunAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credits.db")
	first, rep1 := runOnce(t, path)
	second, rep2 := runOnce(t, path)
	if rep1.replay || !rep2.replay || !strings.Contains(second, "This file already holds the story") {
		t.Errorf("replay: first %v, second %v", rep1.replay, rep2.replay)
	}
	if rep2.final != rep1.final || rep1.final.Version != rep1.grants[1].ID {
		t.Errorf("the second run stored more: %+v, then %+v (the last grant is entry %d)", rep1.final, rep2.final, rep1.grants[1].ID)
	}
	entries := regexp.MustCompile(`\(entry \d+`)
	if a, b := entries.FindAllString(first, -1), entries.FindAllString(second, -1); len(a) != 5 || !slices.Equal(a, b) {
		t.Errorf("entries printed: %v, then %v", a, b)
	}
	for _, pair := range [][2]credits.Entry{{rep1.freeTier, rep2.freeTier}, {rep1.hold, rep2.hold}, {rep1.capture, rep2.capture}, {rep1.clip, rep2.clip}, {rep1.grants[0], rep2.grants[0]}} {
		if diff := cmp.Diff(pair[0], pair[1]); diff != "" {
			t.Errorf("a replayed entry differs (-first +second):\n%s", diff)
		}
	}
	if diff := cmp.Diff(rep1.first, rep2.first); diff != "" {
		t.Errorf("the statement of period 1 differs (-first +second):\n%s", diff)
	}
}

// TestREADME: the statement and final balance the README shows are the
// ones the quick start prints.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := runOnce(t, filepath.Join(t.TempDir(), "credits.db"))
	i := strings.Index(out, "Statement of alice")
	if i < 0 {
		t.Fatalf("no statement in the output:\n%s", out)
	}
	if !strings.Contains(string(readme), out[i:]) {
		t.Errorf("README.md does not show the quick start's statement and balance as printed:\n%s", out[i:])
	}
	if !strings.Contains(string(readme), "go run ./examples/quickstart\n") {
		t.Error("README.md does not say how to run the quick start")
	}
}
