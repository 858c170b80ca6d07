package credits_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"
)

// updateGolden rewrites the golden files under testdata/ from the code:
// go test -run Golden -update .
var updateGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// specPrices is the price table of SPEC.md, row by row, in credits.
var specPrices = []struct {
	action credits.Action
	price  int64
}{
	{credits.ChatMessage, 3},
	{credits.LiveVoiceChat, 3},
	{credits.TextToSpeech, 2},
	{credits.ImageGeneration, 4},
	{credits.MusicGeneration, 8},
	{credits.VideoGeneration, 10},
	{credits.PublicAPIAICreation, 3},
	{credits.Render, 5},
	{credits.UploadVideo, 5},
	{credits.UploadImage, 0},
	{credits.UploadAudio, 3},
	{credits.ScreenRecordingUpload, 0},
	{credits.ScreenRecordingAnalysis, 5},
}

func TestDefaultPricesMatchSpec(t *testing.T) {
	table := credits.DefaultPriceTable()
	if len(specPrices) != len(credits.Actions()) {
		t.Fatalf("the SPEC table has %d rows, the library %d actions", len(specPrices), len(credits.Actions()))
	}
	for _, row := range specPrices {
		t.Run(row.action.String(), func(t *testing.T) {
			want := credits.Credits(row.price) * credits.Credit
			if got := table.Price(row.action); got != want {
				t.Errorf("Price = %v, want %v", got, want)
			}
			q, err := table.Quote(row.action, credits.QuoteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantQ := credits.Quote{Action: row.action, Quantity: 1, UnitPrice: want, Total: want, PriceVersion: "v1"}
			if row.action == credits.VideoGeneration {
				wantQ.Resolution = credits.Res720p
			}
			if diff := cmp.Diff(wantQ, q); diff != "" {
				t.Errorf("Quote (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultVideoResolutions(t *testing.T) {
	table := credits.DefaultPriceTable()
	for _, tc := range []struct {
		res        credits.Resolution
		multiplier string
		price      int64
	}{
		{0, "1", 10}, // no resolution given: the 720p base
		{credits.Res720p, "1", 10},
		{credits.Res1080p, "2", 20},
		{credits.Res4K, "4", 40},
	} {
		got, err := table.UnitPrice(credits.VideoGeneration, tc.res)
		if err != nil || got != credits.Credits(tc.price)*credits.Credit {
			t.Errorf("UnitPrice(video_generation, %q) = %v, %v; want %d", tc.res, got, err, tc.price)
		}
		if m := table.Multiplier(tc.res); !m.Equal(decimal.RequireFromString(tc.multiplier)) {
			t.Errorf("Multiplier(%q) = %s, want %s", tc.res, m, tc.multiplier)
		}
		q, err := table.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: tc.res, Quantity: 3})
		if err != nil || q.Total != credits.Credits(3*tc.price)*credits.Credit {
			t.Errorf("Quote(video_generation, %q, 3) = %+v, %v", tc.res, q, err)
		}
	}
	if m := table.Multiplier(credits.Resolution(9)); !m.IsZero() {
		t.Errorf("Multiplier(invalid) = %s, want 0", m)
	}
	if table.Price(credits.Action(0)) != 0 || table.Price(credits.Action(77)) != 0 {
		t.Error("Price of an invalid action is not 0")
	}
}

func TestUnitPriceErrors(t *testing.T) {
	table := credits.DefaultPriceTable()
	for _, tc := range []struct {
		a     credits.Action
		r     credits.Resolution
		field string
	}{
		{credits.ChatMessage, credits.Res4K, "resolution"},
		{credits.Render, credits.Res720p, "resolution"},
		{credits.VideoGeneration, credits.Resolution(9), "resolution"},
		{credits.Action(0), 0, "action"},
		{credits.Action(99), 0, "action"},
	} {
		_, err := table.UnitPrice(tc.a, tc.r)
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("UnitPrice(%v, %v) = %v, want an InputError on %s", tc.a, tc.r, err, tc.field)
		}
		if _, qerr := table.Quote(tc.a, credits.QuoteOptions{Resolution: tc.r}); !errors.Is(qerr, credits.ErrInvalidInput) {
			t.Errorf("Quote(%v, %v) = %v, want ErrInvalidInput", tc.a, tc.r, qerr)
		}
	}
}

func TestQuote(t *testing.T) {
	table := credits.DefaultPriceTable()
	q, err := table.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: credits.Res4K, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := credits.Quote{Action: credits.VideoGeneration, Resolution: credits.Res4K, Quantity: 2,
		UnitPrice: 40 * credits.Credit, Total: 80 * credits.Credit, PriceVersion: "v1"}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("Quote (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"action":"video_generation","resolution":"4k","quantity":2,"unit_price":40,"total":80,"price_version":"v1"}`; got != want {
		t.Errorf("JSON = %s\nwant   %s", got, want)
	}
	var back credits.Quote
	if err := json.Unmarshal(b, &back); err != nil || back != q {
		t.Errorf("JSON round trip = %+v, %v", back, err)
	}

	chat, err := table.Quote(credits.ChatMessage, credits.QuoteOptions{Quantity: 10})
	if err != nil || chat.Total != 30*credits.Credit || chat.Quantity != 10 {
		t.Errorf("Quote(chat_message, 10) = %+v, %v", chat, err)
	}
	b, _ = json.Marshal(chat)
	if !bytes.Contains(b, []byte(`"resolution":null`)) {
		t.Errorf("a quote without resolution has JSON %s, want \"resolution\":null", b)
	}
	back = credits.Quote{}
	if err := json.Unmarshal(b, &back); err != nil || back != chat {
		t.Errorf("JSON round trip = %+v, %v", back, err)
	}

	free, err := table.Quote(credits.UploadImage, credits.QuoteOptions{Quantity: 1000})
	if err != nil || free.Total != 0 {
		t.Errorf("Quote(upload_image, 1000) = %+v, %v", free, err)
	}

	_, err = table.Quote(credits.ChatMessage, credits.QuoteOptions{Quantity: -1})
	var ie *credits.InputError
	if !errors.As(err, &ie) || ie.Field != "quantity" {
		t.Errorf("negative quantity: %v", err)
	}
	_, err = table.Quote(credits.VideoGeneration, credits.QuoteOptions{Resolution: credits.Res4K, Quantity: 1 << 60})
	if !errors.Is(err, credits.ErrOverflow) {
		t.Errorf("huge quantity: %v, want ErrOverflow", err)
	}
}

// testTable builds a table from the default prices with the given changes.
func testTable(t *testing.T, version string, at time.Time, change func(map[credits.Action]credits.Credits, map[credits.Resolution]decimal.Decimal)) (*credits.PriceTable, error) {
	t.Helper()
	prices := map[credits.Action]credits.Credits{}
	for _, row := range specPrices {
		prices[row.action] = credits.Credits(row.price) * credits.Credit
	}
	mults := map[credits.Resolution]decimal.Decimal{
		credits.Res720p: decimal.NewFromInt(1), credits.Res1080p: decimal.NewFromInt(2), credits.Res4K: decimal.NewFromInt(4),
	}
	if change != nil {
		change(prices, mults)
	}
	return credits.NewPriceTable(version, at, prices, mults)
}

var jan2025 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRoundingHalfAwayFromZero(t *testing.T) {
	for _, tc := range []struct {
		base, mult, want string
	}{
		{"0.000001", "1.5", "0.000002"},  // 0.0000015 -> up
		{"0.000001", "0.5", "0.000001"},  // 0.0000005 -> away from zero
		{"0.000001", "0.4", "0"},         // 0.0000004 -> down
		{"0.000003", "1.25", "0.000004"}, // 0.00000375 -> up
		{"0.000002", "1.25", "0.000003"}, // 0.0000025 -> away from zero (not to even)
		{"10", "1.333333", "13.33333"},   // exact
		{"0.333333", "3", "0.999999"},    // exact, no drift
		{"7", "2.5", "17.5"},             // exact
		{"0.000007", "0.142857", "0.000001"},
	} {
		table, err := testTable(t, "r", jan2025, func(p map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
			p[credits.VideoGeneration] = credits.MustParse(tc.base)
			m[credits.Res4K] = decimal.RequireFromString(tc.mult)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := table.UnitPrice(credits.VideoGeneration, credits.Res4K)
		if err != nil || got != credits.MustParse(tc.want) {
			t.Errorf("%s × %s = %v, %v; want %s", tc.base, tc.mult, got, err, tc.want)
		}
	}
}

func TestNewPriceTableValidation(t *testing.T) {
	type edit = func(map[credits.Action]credits.Credits, map[credits.Resolution]decimal.Decimal)
	for _, tc := range []struct {
		name    string
		version string
		at      time.Time
		edit    edit
		field   string
	}{
		{"no version", "", jan2025, nil, "version"},
		{"space in version", "v 2", jan2025, nil, "version"},
		{"long version", strings.Repeat("v", 65), jan2025, nil, "version"},
		{"no instant", "v1", time.Time{}, nil, "effective_from"},
		{"missing price", "v1", jan2025, func(p map[credits.Action]credits.Credits, _ map[credits.Resolution]decimal.Decimal) {
			delete(p, credits.Render)
		}, "prices.render"},
		{"negative price", "v1", jan2025, func(p map[credits.Action]credits.Credits, _ map[credits.Resolution]decimal.Decimal) {
			p[credits.ChatMessage] = -1
		}, "prices.chat_message"},
		{"unknown action", "v1", jan2025, func(p map[credits.Action]credits.Credits, _ map[credits.Resolution]decimal.Decimal) {
			p[credits.Action(42)] = 1
		}, "prices"},
		{"unknown resolution", "v1", jan2025, func(_ map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
			m[credits.Resolution(0)] = decimal.NewFromInt(1)
		}, "resolution_multipliers"},
		{"missing multiplier", "v1", jan2025, func(_ map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
			delete(m, credits.Res1080p)
		}, "resolution_multipliers.1080p"},
		{"zero multiplier", "v1", jan2025, func(_ map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
			m[credits.Res4K] = decimal.Zero
		}, "resolution_multipliers.4k"},
		{"negative multiplier", "v1", jan2025, func(_ map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
			m[credits.Res4K] = decimal.NewFromInt(-4)
		}, "resolution_multipliers.4k"},
		{"huge multiplier", "v1", jan2025, func(_ map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
			m[credits.Res4K] = decimal.NewFromInt(1001)
		}, "resolution_multipliers.4k"},
		{"720p not 1", "v1", jan2025, func(_ map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
			m[credits.Res720p] = decimal.NewFromInt(2)
		}, "resolution_multipliers.720p"},
		{"overflow", "v1", jan2025, func(p map[credits.Action]credits.Credits, _ map[credits.Resolution]decimal.Decimal) {
			p[credits.VideoGeneration] = credits.MaxCredits / 2
		}, "resolution_multipliers.4k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, err := testTable(t, tc.version, tc.at, tc.edit)
			var ie *credits.InputError
			if !errors.As(err, &ie) || !errors.Is(err, credits.ErrInvalidInput) {
				t.Fatalf("NewPriceTable = %v, %v; want an InputError", table, err)
			}
			if ie.Field != tc.field {
				t.Errorf("error %q names field %q, want %q", err, ie.Field, tc.field)
			}
		})
	}
}

func TestNewPriceTableCopiesInput(t *testing.T) {
	prices := map[credits.Action]credits.Credits{}
	for _, row := range specPrices {
		prices[row.action] = credits.Credits(row.price) * credits.Credit
	}
	mults := map[credits.Resolution]decimal.Decimal{
		credits.Res720p: decimal.NewFromInt(1), credits.Res1080p: decimal.NewFromInt(2), credits.Res4K: decimal.NewFromInt(4),
	}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	table, err := credits.NewPriceTable("v2", at, prices, mults)
	if err != nil {
		t.Fatal(err)
	}
	prices[credits.Render] = 99 * credits.Credit
	mults[credits.Res4K] = decimal.NewFromInt(8)
	if table.Price(credits.Render) != 5*credits.Credit || !table.Multiplier(credits.Res4K).Equal(decimal.NewFromInt(4)) {
		t.Error("the table changed with the maps it was built from")
	}
	if table.Version() != "v2" || !table.EffectiveFrom().Equal(at) || table.EffectiveFrom().Location() != time.UTC {
		t.Errorf("Version, EffectiveFrom = %q, %v", table.Version(), table.EffectiveFrom())
	}
}

func TestPriceBook(t *testing.T) {
	v1 := credits.DefaultPriceTable()
	v2, err := testTable(t, "v2", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), func(p map[credits.Action]credits.Credits, _ map[credits.Resolution]decimal.Decimal) {
		p[credits.Render] = 6 * credits.Credit
	})
	if err != nil {
		t.Fatal(err)
	}
	book, err := credits.NewPriceBook(v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{jan2025, "v1"},
		{time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC), "v1"},
		{time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC), "v1"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "v2"},
		{time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("X", 3600)), "v2"}, // the same instant in another zone
		{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "v2"},
	} {
		got, err := book.At(tc.at)
		if err != nil || got.Version() != tc.want {
			t.Errorf("At(%v) = %v, %v; want %s", tc.at, got, err, tc.want)
		}
	}
	if _, err := book.At(jan2025.Add(-time.Nanosecond)); !errors.Is(err, credits.ErrUnknownPriceVersion) {
		t.Errorf("At(before the first) = %v, want ErrUnknownPriceVersion", err)
	}
	if got, err := book.Version("v2"); err != nil || got != v2 {
		t.Errorf("Version(v2) = %v, %v", got, err)
	}
	if _, err := book.Version("v3"); !errors.Is(err, credits.ErrUnknownPriceVersion) {
		t.Errorf("Version(v3) = %v, want ErrUnknownPriceVersion", err)
	}
	tables := book.Tables()
	if len(tables) != 2 || tables[0] != v1 || tables[1] != v2 {
		t.Errorf("Tables() = %v", tables)
	}
	tables[0] = nil
	if book.Tables()[0] != v1 {
		t.Error("Tables() exposes the book's own slice")
	}
	if _, err := (&credits.PriceBook{}).At(jan2025); !errors.Is(err, credits.ErrUnknownPriceVersion) {
		t.Errorf("empty book At = %v, want ErrUnknownPriceVersion", err)
	}
	if _, err := (&credits.PriceBook{}).Version("v1"); !errors.Is(err, credits.ErrUnknownPriceVersion) {
		t.Errorf("empty book Version = %v, want ErrUnknownPriceVersion", err)
	}
}

// TestPriceJSONNull: inside a larger document a null table or book is left
// alone, as encoding/json does; LoadPriceBook refuses it.
func TestPriceJSONNull(t *testing.T) {
	var doc struct {
		Table *credits.PriceTable `json:"table"`
		Book  credits.PriceBook   `json:"book"`
	}
	if err := json.Unmarshal([]byte(`{"table": null, "book": null}`), &doc); err != nil || doc.Table != nil {
		t.Errorf("nulls: %v, %v", doc.Table, err)
	}
	if _, err := credits.LoadPriceBook(strings.NewReader(" null ")); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("LoadPriceBook(null) = %v, want an InputError", err)
	}
	if err := json.Unmarshal([]byte(`{"book": {"tables": []}}`), &doc); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("a book inside a document is not validated: %v", err)
	}
}

func TestNewPriceBookValidation(t *testing.T) {
	v1 := credits.DefaultPriceTable()
	v1b, _ := testTable(t, "v1", jan2025.AddDate(1, 0, 0), nil)
	v2same, _ := testTable(t, "v2", jan2025, nil)
	v2early, _ := testTable(t, "v2", jan2025.AddDate(-1, 0, 0), nil)
	for _, tc := range []struct {
		name   string
		tables []*credits.PriceTable
		field  string
	}{
		{"empty", nil, "tables"},
		{"nil table", []*credits.PriceTable{v1, nil}, "tables[1]"},
		{"duplicate version", []*credits.PriceTable{v1, v1b}, "tables[1].version"},
		{"same instant", []*credits.PriceTable{v1, v2same}, "tables[1].effective_from"},
		{"out of order", []*credits.PriceTable{v1, v2early}, "tables[1].effective_from"},
	} {
		_, err := credits.NewPriceBook(tc.tables...)
		var ie *credits.InputError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("%s: NewPriceBook = %v, want an InputError on %s", tc.name, err, tc.field)
		}
	}
}

func TestDefaultPriceBookIsFresh(t *testing.T) {
	a, b := credits.DefaultPriceBook(), credits.DefaultPriceBook()
	if a == b || a.Tables()[0] == b.Tables()[0] {
		t.Error("DefaultPriceBook returns shared values")
	}
	if !a.Tables()[0].Equal(b.Tables()[0]) {
		t.Error("two default books differ")
	}
	tbl, err := a.At(time.Now())
	if err != nil || tbl.Version() != "v1" || !tbl.EffectiveFrom().Equal(jan2025) {
		t.Errorf("default book now: %v, %v", tbl, err)
	}
}

// TestDefaultPriceFile proves testdata/prices/default.json is the default
// book, byte for byte as MarshalJSON writes it, and loads back equal.
func TestDefaultPriceFile(t *testing.T) {
	path := filepath.Join("testdata", "prices", "default.json")
	want, err := json.MarshalIndent(credits.DefaultPriceBook(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateGolden {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from DefaultPriceBook (-want +got; run go test -run DefaultPriceFile -update):\n%s", path, diff)
	}
	book, err := credits.LoadPriceBook(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if len(book.Tables()) != 1 || !book.Tables()[0].Equal(credits.DefaultPriceTable()) {
		t.Errorf("%s loads as %v, want the default table", path, book.Tables())
	}
	for _, row := range specPrices {
		if got := book.Tables()[0].Price(row.action); got != credits.Credits(row.price)*credits.Credit {
			t.Errorf("%s: %s = %v, want %d", path, row.action, got, row.price)
		}
	}
}

func TestPriceTableJSON(t *testing.T) {
	table, err := testTable(t, "2025-06.b", time.Date(2025, 6, 1, 12, 30, 0, 5000, time.UTC), func(p map[credits.Action]credits.Credits, m map[credits.Resolution]decimal.Decimal) {
		p[credits.ChatMessage] = credits.MustParse("2.75")
		m[credits.Res1080p] = decimal.RequireFromString("1.5")
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"version":"2025-06.b"`, `"effective_from":"2025-06-01T12:30:00.000005Z"`, `"chat_message":2.75`, `"1080p":1.5`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var back credits.PriceTable
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(table) {
		t.Errorf("round trip: got %s", mustJSON(t, &back))
	}
	if p, _ := back.UnitPrice(credits.VideoGeneration, credits.Res1080p); p != 15*credits.Credit {
		t.Errorf("decoded 1080p price = %v", p)
	}
	// Amounts as strings, multipliers as strings, "4K" in capitals: accepted.
	alt := strings.NewReplacer(`"chat_message":2.75`, `"chat_message":"2.75"`, `"4k":4`, `"4K":"4.0"`).Replace(string(b))
	back = credits.PriceTable{}
	if err := json.Unmarshal([]byte(alt), &back); err != nil || !back.Equal(table) {
		t.Errorf("alternative spelling %s: %v", alt, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadPriceBookErrors(t *testing.T) {
	good, err := json.Marshal(credits.DefaultPriceBook())
	if err != nil {
		t.Fatal(err)
	}
	g := string(good)
	tbl := strings.TrimSuffix(strings.TrimPrefix(g, `{"tables":[`), `]}`)
	book := func(tables ...string) string { return `{"tables":[` + strings.Join(tables, ",") + `]}` }
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", ``, `price book: empty document`},
		{"not an object", `[]`, `price book: must be an object, got an array`},
		{"malformed", `{"tables": [`, `price book: malformed JSON`},
		{"trailing data", g + `{}`, `price book: unexpected data after the JSON value`},
		{"unknown top field", `{"tables": [], "x": 1}`, `x: unknown field`},
		{"no tables field", `{}`, `tables: required`},
		{"no tables", `{"tables": []}`, `tables: a price book needs at least one table`},
		{"tables not array", `{"tables": {}}`, `tables: must be an array, got an object`},
		{"duplicate field", strings.Replace(g, `"version":"v1"`, `"version":"v1","version":"v1"`, 1), `tables[0].version: duplicate field`},
		{"unknown table field", strings.Replace(g, `"version":"v1"`, `"version":"v1","currency":"R"`, 1), `tables[0].currency: unknown field`},
		{"unknown action", strings.Replace(g, `"render":5`, `"render":5,"rendr":5`, 1), `tables[0].prices.rendr: unknown action`},
		{"duplicate action", strings.Replace(g, `"render":5`, `"render":5,"render":6`, 1), `tables[0].prices.render: duplicate field`},
		{"missing action", strings.Replace(g, `"render":5,`, ``, 1), `tables[0].prices.render: missing`},
		{"negative price", strings.Replace(g, `"render":5`, `"render":-5`, 1), `tables[0].prices.render: "-5": negative price`},
		{"too precise", strings.Replace(g, `"render":5`, `"render":5.0000001`, 1), `tables[0].prices.render: "5.0000001": not an amount`},
		{"exponent", strings.Replace(g, `"render":5`, `"render":5e0`, 1), `tables[0].prices.render: "5e0": must be a plain decimal number`},
		{"price of wrong type", strings.Replace(g, `"render":5`, `"render":true`, 1), `tables[0].prices.render: must be a number, got a boolean`},
		{"null price", strings.Replace(g, `"render":5`, `"render":null`, 1), `tables[0].prices.render: must be a number, got null`},
		{"unknown resolution", strings.Replace(g, `"4k":4`, `"4k":4,"8k":8`, 1), `tables[0].resolution_multipliers.8k: unknown resolution`},
		{"resolution twice", strings.Replace(g, `"4k":4`, `"4k":4,"4K":4`, 1), `tables[0].resolution_multipliers.4K: duplicate resolution`},
		{"zero multiplier", strings.Replace(g, `"4k":4`, `"4k":0`, 1), `tables[0].resolution_multipliers.4k: "0": must be greater than 0`},
		{"missing multiplier", strings.Replace(g, `,"4k":4`, ``, 1), `tables[0].resolution_multipliers.4k: missing`},
		{"bad instant", strings.Replace(g, `2025-01-01T00:00:00Z`, `2025-01-01`, 1), `tables[0].effective_from: "2025-01-01": must be an RFC 3339 instant`},
		{"empty version", strings.Replace(g, `"v1"`, `""`, 1), `tables[0].version: required`},
		{"version of wrong type", strings.Replace(g, `"v1"`, `1`, 1), `tables[0].version: must be a string, got a number`},
		{"two tables", book(tbl, strings.NewReplacer(`"v1"`, `"v2"`, `2025-`, `2026-`).Replace(tbl)), ``},
		{"duplicate version", book(tbl, strings.Replace(tbl, `2025-`, `2026-`, 1)), `tables[1].version: "v1": duplicate version (also tables[0])`},
		{"instants not increasing", book(tbl, strings.Replace(tbl, `"v1"`, `"v2"`, 1)), `tables[1].effective_from: "2025-01-01T00:00:00Z": must be after tables[0].effective_from`},
		{"second table bad", book(tbl, strings.NewReplacer(`"v1"`, `"v2"`, `2025-`, `2026-`, `"upload_audio":3`, `"upload_audio":-3`).Replace(tbl)), `tables[1].prices.upload_audio: "-3": negative price`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := credits.LoadPriceBook(strings.NewReader(tc.doc))
			if tc.want == "" { // a valid variant, checked to keep the table honest
				if err != nil {
					t.Fatalf("LoadPriceBook: %v", err)
				}
				return
			}
			if !errors.Is(err, credits.ErrInvalidInput) {
				t.Fatalf("LoadPriceBook = %v, want an InputError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q\nwant prefix %q", err, tc.want)
			}
		})
	}
	big := `{"tables":[` + strings.Repeat(" ", credits.MaxPriceBookSize) + `]}`
	if _, err := credits.LoadPriceBook(strings.NewReader(big)); !errors.Is(err, credits.ErrInvalidInput) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a huge book: %v", err)
	}
	if _, err := credits.LoadPriceBook(failingReader{}); err == nil || errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("a failing reader: %v, want its error (not an InputError)", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// FuzzLoadPriceBook: LoadPriceBook never panics; every rejection is an
// InputError; every accepted book encodes to JSON that loads back equal.
func FuzzLoadPriceBook(f *testing.F) {
	good, _ := json.Marshal(credits.DefaultPriceBook())
	f.Add(string(good))
	if b, err := os.ReadFile(filepath.Join("testdata", "prices", "default.json")); err == nil {
		f.Add(string(b))
	}
	f.Add(`{"tables":[]}`)
	f.Add(`{"tables":[{"version":"v1"}]}`)
	f.Add(strings.Replace(string(good), `"4k":4`, `"4k":1.25`, 1))
	f.Add(strings.Replace(string(good), `"render":5`, `"render":"0.000001"`, 1))
	f.Add(`{"tables":null}`)
	f.Fuzz(func(t *testing.T, doc string) {
		book, err := credits.LoadPriceBook(strings.NewReader(doc))
		if err != nil {
			if !errors.Is(err, credits.ErrInvalidInput) {
				t.Fatalf("rejection is not an InputError: %v", err)
			}
			return
		}
		b, err := json.Marshal(book)
		if err != nil {
			t.Fatal(err)
		}
		back, err := credits.LoadPriceBook(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-encoded book %s does not load: %v", b, err)
		}
		x, y := book.Tables(), back.Tables()
		if len(x) != len(y) {
			t.Fatalf("round trip changed the number of tables")
		}
		for i := range x {
			if !x[i].Equal(y[i]) {
				t.Fatalf("round trip changed table %d", i)
			}
		}
	})
}

// FuzzPriceTableJSON: PriceTable.UnmarshalJSON never panics, rejects with
// InputErrors only, and what it accepts round-trips.
func FuzzPriceTableJSON(f *testing.F) {
	good, _ := json.Marshal(credits.DefaultPriceTable())
	f.Add(string(good))
	f.Add(strings.Replace(string(good), `"1080p":2`, `"1080p":"1.5"`, 1))
	f.Add(`{}`)
	f.Add(`{"version":"v1","effective_from":"2025-01-01T00:00:00Z","prices":{},"resolution_multipliers":{}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		if strings.TrimSpace(doc) == "null" {
			return // a no-op, as for encoding/json's own types
		}
		var table credits.PriceTable
		if err := json.Unmarshal([]byte(doc), &table); err != nil {
			var syn *json.SyntaxError
			if !errors.Is(err, credits.ErrInvalidInput) && !errors.As(err, &syn) {
				t.Fatalf("rejection is neither an InputError nor a JSON syntax error: %v", err)
			}
			return
		}
		b, err := json.Marshal(&table)
		if err != nil {
			t.Fatal(err)
		}
		var back credits.PriceTable
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(&table) {
			t.Fatalf("round trip of %s: %v", b, err)
		}
	})
}
