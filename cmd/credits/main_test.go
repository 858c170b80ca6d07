package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
)

// result is what one run of the program did.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the program in-process at a fixed clock.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		now: func() time.Time { return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }}
	code := e.main(args)
	return result{code, out.String(), errOut.String()}
}

// wantFail checks a failure: the exit code, nothing on stdout, exactly one
// line on stderr, containing each of parts.
func wantFail(t *testing.T, r result, code int, parts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line: %q", r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr %q lacks %q", r.stderr, p)
		}
	}
}

func wantOK(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

var root = filepath.Join("..", "..")

func TestUsage(t *testing.T) {
	r := runCLI(t, "")
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("no arguments: %+v", r)
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		r := runCLI(t, "", args...)
		wantOK(t, r)
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "credits "+c.name) {
				t.Errorf("%v: usage lacks %s:\n%s", args, c.name, r.stdout)
			}
		}
	}
	for _, args := range [][]string{{"help", "quote"}, {"quote", "-h"}, {"quote", "--help"}, {"prices", "-h"}, {"estimate", "-help"}} {
		r := runCLI(t, "", args...)
		wantOK(t, r)
		if !strings.HasPrefix(r.stdout, "usage: credits ") || !strings.Contains(r.stdout, "-json") {
			t.Errorf("%v: %q", args, r.stdout)
		}
	}
	wantFail(t, runCLI(t, "", "frobnicate"), exitUsage, `unknown command "frobnicate"`)
	wantFail(t, runCLI(t, "", "help", "frobnicate"), exitUsage, `unknown command "frobnicate"`)
}

// TestDocsNameEveryCommand: the program's usage text and its package doc
// list every command and every ledger subcommand, and the library's
// package doc names every command.
func TestDocsNameEveryCommand(t *testing.T) {
	usage := runCLI(t, "", "-h").stdout
	self := packageDoc(t, ".")
	lib := packageDoc(t, root)
	for _, c := range commands() {
		for what, text := range map[string]string{"credits -h": usage, "the package doc of cmd/credits": self, "the package doc of github.com/avstudio/credits": lib} {
			if !regexp.MustCompile(`\bcredits ` + c.name + `\b`).MatchString(text) {
				t.Errorf("%s does not name 'credits %s':\n%s", what, c.name, text)
			}
		}
	}
	for _, c := range ledgerCommands() {
		for what, text := range map[string]string{"credits -h": usage, "the package doc of cmd/credits": self} {
			if !regexp.MustCompile(`\bcredits ledger ` + c.name + `\b`).MatchString(text) {
				t.Errorf("%s does not list 'credits ledger %s':\n%s", what, c.name, text)
			}
		}
	}
}

// packageDoc returns the package doc comment of the Go package in dir.
func packageDoc(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var doc strings.Builder
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			doc.WriteString(f.Doc.Text())
		}
	}
	if doc.Len() == 0 {
		t.Errorf("the package in %s has no package doc", dir)
	}
	return doc.String()
}

func TestQuoteEveryAction(t *testing.T) {
	table := credits.DefaultPriceTable()
	for _, a := range credits.Actions() {
		r := runCLI(t, "", "quote", a.String(), "--json")
		wantOK(t, r)
		var q credits.Quote
		if err := json.Unmarshal([]byte(r.stdout), &q); err != nil {
			t.Fatalf("%s: %v in %s", a, err, r.stdout)
		}
		if q.Action != a || q.Total != table.Price(a) || q.Quantity != 1 || q.PriceVersion != "v1" {
			t.Errorf("quote %s = %+v, want %v", a, q, table.Price(a))
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"quote", "chat_message"}, "chat_message: 1 x 3 = 3 credits (price table v1)\n"},
		{[]string{"quote", "render", "--quantity", "4"}, "render: 4 x 5 = 20 credits (price table v1)\n"},
		{[]string{"quote", "video_generation"}, "video_generation at 720p: 1 x 10 = 10 credits (price table v1)\n"},
		{[]string{"quote", "video_generation", "--resolution", "1080p"}, "video_generation at 1080p: 1 x 20 = 20 credits (price table v1)\n"},
		{[]string{"quote", "--resolution=4K", "video_generation", "-quantity", "2"}, "video_generation at 4k: 2 x 40 = 80 credits (price table v1)\n"},
		{[]string{"quote", "upload_image", "--quantity", "1000"}, "upload_image: 1000 x 0 = 0 credits (price table v1)\n"},
		{[]string{"quote", "--at", "2025-01-01T00:00:00Z", "--", "upload_audio"}, "upload_audio: 1 x 3 = 3 credits (price table v1)\n"},
	} {
		r := runCLI(t, "", tc.args...)
		wantOK(t, r)
		if r.stdout != tc.want {
			t.Errorf("%v:\n got %q\nwant %q", tc.args, r.stdout, tc.want)
		}
	}
	r := runCLI(t, "", "quote", "video_generation", "--resolution", "4k", "--quantity", "2", "--json")
	wantOK(t, r)
	want := `{
  "action": "video_generation",
  "resolution": "4k",
  "quantity": 2,
  "unit_price": 40,
  "total": 80,
  "price_version": "v1"
}
`
	if r.stdout != want {
		t.Errorf("quote --json:\n%s\nwant\n%s", r.stdout, want)
	}
	r = runCLI(t, "", "quote", "--json", "text_to_speech")
	wantOK(t, r)
	if !strings.Contains(r.stdout, `"resolution": null`) || !strings.Contains(r.stdout, `"total": 2`) {
		t.Errorf("quote --json text_to_speech: %s", r.stdout)
	}
}

func TestQuoteErrors(t *testing.T) {
	// An unknown action is said the same way by quote and ledger charge.
	db := filepath.Join(t.TempDir(), "ledger.db")
	for _, tc := range []struct {
		cmd  string
		args []string
	}{
		{"quote", []string{"quote", "chat"}},
		{"ledger charge", []string{"ledger", "charge", "--db", db, "--account", "a", "chat"}},
	} {
		wantFail(t, runCLI(t, "", tc.args...), exitInput, "credits "+tc.cmd+
			`: ACTION: "chat": unknown action (want one of chat_message, live_voice_chat, text_to_speech, image_generation, `)
	}
	wantFail(t, runCLI(t, "", "quote", "video_generation", "--resolution", "8k"), exitInput, `--resolution: "8k": unknown resolution`)
	wantFail(t, runCLI(t, "", "quote", "render", "--resolution", "4k"), exitInput, "only video_generation has a resolution")
	wantFail(t, runCLI(t, "", "quote", "render", "--quantity", "-1"), exitInput, `--quantity: "-1"`)
	wantFail(t, runCLI(t, "", "quote", "render", "--quantity", "0"), exitInput, `--quantity: "0"`)
	wantFail(t, runCLI(t, "", "quote", "render", "--quantity", "two"), exitInput, `--quantity: "two"`)
	wantFail(t, runCLI(t, "", "quote", "render", "--quantity", "99999999999999999999"), exitInput, "quantity")
	wantFail(t, runCLI(t, "", "quote", "video_generation", "--resolution", "4k", "--quantity", "9000000000000"), exitInput, "overflows")
	wantFail(t, runCLI(t, "", "quote", "render", "--at", "yesterday"), exitInput, `--at: "yesterday"`)
	wantFail(t, runCLI(t, "", "quote", "render", "--at", "2024-12-31T23:59:59Z"), exitInput, "no price table in force at 2024-12-31T23:59:59Z")
	wantFail(t, runCLI(t, "", "quote"), exitUsage, "want one ACTION, got 0 arguments", "credits quote -h")
	wantFail(t, runCLI(t, "", "quote", "render", "chat_message"), exitUsage, "got 2 arguments")
	wantFail(t, runCLI(t, "", "quote", "render", "--bogus"), exitUsage, "flag provided but not defined: -bogus")
	wantFail(t, runCLI(t, "", "quote", "render", "--quantity"), exitUsage, "flag needs an argument: -quantity")
	wantFail(t, runCLI(t, "", "quote", "render", "--json=maybe"), exitUsage, "invalid boolean value")
}

func TestPrices(t *testing.T) {
	r := runCLI(t, "", "prices")
	wantOK(t, r)
	want := `Price table v1, in force from 2025-01-01T00:00:00Z

ACTION                     RESOLUTION  CREDITS
chat_message                                 3
live_voice_chat                              3
text_to_speech                               2
image_generation                             4
music_generation                             8
video_generation           720p (1x)        10
video_generation           1080p (2x)       20
video_generation           4k (4x)          40
public_api_ai_creation                       3
render                                       5
upload_video                                 5
upload_image                                 0
upload_audio                                 3
screen_recording_upload                      0
screen_recording_analysis                    5
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("prices (-want +got):\n%s", diff)
	}
	r = runCLI(t, "", "prices", "--json")
	wantOK(t, r)
	var table credits.PriceTable
	if err := json.Unmarshal([]byte(r.stdout), &table); err != nil {
		t.Fatal(err)
	}
	if !table.Equal(credits.DefaultPriceTable()) {
		t.Errorf("prices --json is not the default table:\n%s", r.stdout)
	}
	wantFail(t, runCLI(t, "", "prices", "--at", "2020-01-01T00:00:00Z"), exitInput, "no price table in force")
	wantFail(t, runCLI(t, "", "prices", "--at", "2025-13-01T00:00:00Z"), exitInput, "--at")
	wantFail(t, runCLI(t, "", "prices", "extra"), exitUsage, `unexpected argument "extra"`)
	wantFail(t, runCLI(t, "", "prices", "-x"), exitUsage, "-x")
}

// TestCustomPriceBook: --prices reads a book, and --at picks its tables.
func TestCustomPriceBook(t *testing.T) {
	def, err := json.Marshal(credits.DefaultPriceTable())
	if err != nil {
		t.Fatal(err)
	}
	v2 := strings.NewReplacer(`"v1"`, `"2026-spring"`, `2025-01-01`, `2026-03-01`, `"render":5`, `"render":4.5`, `"video_generation":10`, `"video_generation":12`).Replace(string(def))
	dir := t.TempDir()
	book := filepath.Join(dir, "book.json")
	if err := os.WriteFile(book, []byte(`{"tables":[`+string(def)+`,`+v2+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at, want string
	}{
		{"2025-06-01T00:00:00Z", "render: 1 x 5 = 5 credits (price table v1)\n"},
		{"2026-03-01T00:00:00Z", "render: 1 x 4.5 = 4.5 credits (price table 2026-spring)\n"},
	} {
		r := runCLI(t, "", "quote", "render", "--prices", book, "--at", tc.at)
		wantOK(t, r)
		if r.stdout != tc.want {
			t.Errorf("at %s: %q, want %q", tc.at, r.stdout, tc.want)
		}
	}
	r := runCLI(t, "", "prices", "--prices", book, "--at", "2026-04-01T00:00:00+02:00")
	wantOK(t, r)
	if !strings.HasPrefix(r.stdout, "Price table 2026-spring, in force from 2026-03-01T00:00:00Z") || !strings.Contains(r.stdout, "4k (4x)          48") {
		t.Errorf("prices from a custom book:\n%s", r.stdout)
	}
	r = runCLI(t, `{"pipeline":"json_to_mp4"}`, "estimate", "--prices", book, "--at", "2026-03-02T00:00:00Z", "--json", "-")
	wantOK(t, r)
	if !strings.Contains(r.stdout, `"total": 4.5`) || !strings.Contains(r.stdout, `"price_version": "2026-spring"`) {
		t.Errorf("estimate with a custom book:\n%s", r.stdout)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(def), `"render":5`, `"render":-5`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFail(t, runCLI(t, "", "prices", "--prices", bad), exitInput, `bad.json: version: unknown field (a price book is {"tables": [table, ...]})`)
	if err := os.WriteFile(bad, []byte(`{"tables":[`+strings.Replace(string(def), `"render":5`, `"render":-5`, 1)+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFail(t, runCLI(t, "", "quote", "render", "--prices", bad), exitInput, `bad.json: tables[0].prices.render: "-5": negative price`)
	wantFail(t, runCLI(t, "", "prices", "--prices", filepath.Join(dir, "missing.json")), exitInput, "missing.json", "no such file")
}

func TestEstimate(t *testing.T) {
	job := filepath.Join(root, "testdata", "jobs", "prompt_to_mp4.json")
	r := runCLI(t, "", "estimate", job)
	wantOK(t, r)
	want := `Estimate for a prompt_to_mp4 job, price table v1, in credits

ACTION                     QTY  UNIT  SUBTOTAL
upload_video                 1     5         5
upload_image                 1     0         0
upload_audio                 1     3         3
screen_recording_upload      1     0         0
screen_recording_analysis    1     5         5
public_api_ai_creation       1     3         3
render                       1     5         5
TOTAL                                       21
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("estimate (-want +got):\n%s", diff)
	}
	// --json prints exactly the golden estimate, for every job in testdata.
	jobs, _ := filepath.Glob(filepath.Join(root, "testdata", "jobs", "*.json"))
	if len(jobs) == 0 {
		t.Fatal("no jobs in testdata")
	}
	for _, job := range jobs {
		golden, err := os.ReadFile(strings.TrimSuffix(job, ".json") + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "", "estimate", "--json", job)
		wantOK(t, r)
		if diff := cmp.Diff(string(golden), r.stdout); diff != "" {
			t.Errorf("estimate --json %s (-golden +got):\n%s", job, diff)
		}
		data, _ := os.ReadFile(job)
		r = runCLI(t, string(data), "estimate", "-", "--json")
		wantOK(t, r)
		if diff := cmp.Diff(string(golden), r.stdout); diff != "" {
			t.Errorf("estimate - < %s (-golden +got):\n%s", job, diff)
		}
	}
}

func TestEstimateErrors(t *testing.T) {
	invalid, _ := filepath.Glob(filepath.Join(root, "testdata", "jobs", "invalid", "*.json"))
	if len(invalid) == 0 {
		t.Fatal("no invalid jobs in testdata")
	}
	for _, job := range invalid {
		golden, err := os.ReadFile(strings.TrimSuffix(job, ".json") + ".golden")
		if err != nil {
			t.Fatal(err)
		}
		msg := strings.TrimSpace(strings.TrimPrefix(string(golden), "error: "))
		wantFail(t, runCLI(t, "", "estimate", job), exitInput, "credits estimate: "+job+": "+msg)
	}
	wantFail(t, runCLI(t, `{"pipeline":"json_to_mp4","remote_assets":[{"url":"https://a.example/x"}]}`, "estimate", "-"),
		exitInput, `credits estimate: standard input: remote_assets[0].url: "https://a.example/x": no type given and no known file extension`)
	wantFail(t, runCLI(t, "", "estimate", "-"), exitInput, "standard input: job: empty document")
	wantFail(t, runCLI(t, "{\"pipeline\":\n\"json_to_mp4\",\n\"x\":1}", "estimate", "-"), exitInput, "x: unknown field")
	wantFail(t, runCLI(t, "", "estimate", "no/such/job.json"), exitInput, "no/such/job.json", "no such file")
	wantFail(t, runCLI(t, "", "estimate", root), exitInput, "credits estimate: ")
	wantFail(t, runCLI(t, `{"pipeline":"json_to_mp4"}`, "estimate", "-", "--at", "1999-01-01T00:00:00Z"), exitInput, "no price table in force")
	wantFail(t, runCLI(t, "", "estimate"), exitUsage, "want one job FILE")
	wantFail(t, runCLI(t, "", "estimate", "a.json", "b.json"), exitUsage, "got 2 arguments")
	wantFail(t, runCLI(t, "", "estimate", "--yaml", "a.json"), exitUsage, "-yaml")
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

func TestWriteFailure(t *testing.T) {
	var errOut bytes.Buffer
	for _, args := range [][]string{{"prices"}, {"quote", "render", "--json"}, {"estimate", filepath.Join(root, "testdata", "jobs", "prompt_to_mp4.json")}} {
		errOut.Reset()
		code := run(args, strings.NewReader(""), brokenWriter{}, &errOut)
		if code != exitInput || !strings.Contains(errOut.String(), "pipe closed") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}
