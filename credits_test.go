package credits_test

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/avstudio/credits"
	"github.com/shopspring/decimal"
)

func TestParseAndString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want credits.Credits
		str  string // String of the result; "" means in
	}{
		{"0", 0, ""},
		{"18", 18 * credits.Credit, ""},
		{"2.5", 2*credits.Credit + credits.Credit/2, ""},
		{"-0.000001", -1, ""},
		{"0.000001", 1, ""},
		{"1.000000", credits.Credit, "1"},
		{"-0", 0, "0"},
		{"+5", 5 * credits.Credit, "5"},
		{".5", credits.Credit / 2, "0.5"},
		{"5.", 5 * credits.Credit, "5"},
		{"007", 7 * credits.Credit, "7"},
		{"9223372036854.775807", credits.MaxCredits, ""},
		{"-9223372036854.775807", credits.MinCredits, ""},
	} {
		got, err := credits.Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %d units, want %d", tc.in, int64(got), int64(tc.want))
		}
		want := tc.str
		if want == "" {
			want = tc.in
		}
		if s := got.String(); s != want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, s, want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"", " ", "1 ", " 1", "abc", "1e3", "1E3", "0x10", "1_000", "-", ".", "NaN", "Inf",
		"0.0000001",               // more than 6 decimal places: never rounded
		"1.0000005",               // likewise
		"9223372036854.775808",    // one micro-credit over MaxCredits
		"-9223372036854.775808",   // math.MinInt64 units is not a valid amount
		"99999999999999999999999", // far out of range
		"1,5",
	} {
		if c, err := credits.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, c)
		}
	}
	if _, err := credits.Parse("9223372036854.775808"); !errors.Is(err, credits.ErrOverflow) {
		t.Errorf("Parse(out of range) = %v, want ErrOverflow", err)
	}
}

// Every error of Parse, FromDecimal and the JSON and text decoders is an
// *InputError naming the amount, matching ErrInvalidInput, as errors.go
// promises; an amount out of range also matches ErrOverflow.
func TestParseErrorsAreInputErrors(t *testing.T) {
	const outOfRange = "out of range (at most 9223372036854.775807 credits either way)"
	for _, tc := range []struct {
		in, reason string
		overflow   bool
	}{
		{"", "empty", false},
		{"1e3", "exponents are not allowed", false},
		{"1E-3", "exponents are not allowed", false},
		{"0.0000001", "more than 6 decimal places", false},
		{"-1.0000005", "more than 6 decimal places", false},
		{"abc", "not a decimal number", false},
		{" 1", "not a decimal number", false},
		{"1,5", "not a decimal number", false},
		{"9223372036854.775808", outOfRange, true},
		{"-9223372036854.775808", outOfRange, true},
		{"99999999999999999999999", outOfRange, true},
	} {
		check := func(how string, err error, value string) {
			t.Helper()
			var ie *credits.InputError
			if !errors.Is(err, credits.ErrInvalidInput) || !errors.As(err, &ie) ||
				ie.Field != "amount" || ie.Value != value || ie.Reason != tc.reason {
				t.Errorf("%s(%q) = %v; want an InputError {amount %q %s}", how, tc.in, err, value, tc.reason)
			}
			if got := errors.Is(err, credits.ErrOverflow); got != tc.overflow {
				t.Errorf("%s(%q) = %v: matches ErrOverflow %v, want %v", how, tc.in, err, got, tc.overflow)
			}
		}
		_, err := credits.Parse(tc.in)
		check("Parse", err, tc.in)
		var c credits.Credits
		check("UnmarshalText", c.UnmarshalText([]byte(tc.in)), tc.in)
		check("UnmarshalJSON", json.Unmarshal([]byte(`"`+tc.in+`"`), &c), tc.in)
		if d, err := decimal.NewFromString(tc.in); err == nil && (tc.overflow || strings.Contains(tc.reason, "places")) {
			_, err := credits.FromDecimal(d)
			check("FromDecimal", err, d.String())
		}
	}
	// A JSON number is read as its text.
	var c credits.Credits
	for in, reason := range map[string]string{`1e3`: "exponents are not allowed", `0.0000001`: "more than 6 decimal places", `true`: "not a decimal number"} {
		err := json.Unmarshal([]byte(in), &c)
		var ie *credits.InputError
		if !errors.Is(err, credits.ErrInvalidInput) || !errors.As(err, &ie) || ie.Field != "amount" || ie.Value != in || ie.Reason != reason {
			t.Errorf("json.Unmarshal(%s) = %v; want an InputError {amount %s %s}", in, err, in, reason)
		}
	}
	if err := json.Unmarshal([]byte(`null`), &c); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("json.Unmarshal(null) = %v, want an InputError", err)
	}
}

func TestMustParse(t *testing.T) {
	if got := credits.MustParse("3"); got != 3*credits.Credit {
		t.Errorf("MustParse(3) = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParse(bad) did not panic")
		}
	}()
	credits.MustParse("bad")
}

func TestFromIntAndDecimal(t *testing.T) {
	if c, err := credits.FromInt(30); err != nil || c != 30*credits.Credit {
		t.Errorf("FromInt(30) = %v, %v", c, err)
	}
	if _, err := credits.FromInt(math.MaxInt64 / 1000); !errors.Is(err, credits.ErrOverflow) {
		t.Errorf("FromInt(huge) err = %v, want ErrOverflow", err)
	}
	c := credits.MustParse("2.5")
	if !c.Decimal().Equal(decimal.RequireFromString("2.5")) {
		t.Errorf("Decimal() = %s", c.Decimal())
	}
	if _, err := credits.FromDecimal(decimal.RequireFromString("0.0000001")); err == nil {
		t.Error("FromDecimal(7 places) succeeded")
	}
}

func TestArithmeticOverflow(t *testing.T) {
	max, min := credits.MaxCredits, credits.MinCredits
	if s, err := credits.Credit.Add(2 * credits.Credit); err != nil || s != 3*credits.Credit {
		t.Errorf("1+2 = %v, %v", s, err)
	}
	for _, tc := range []struct {
		name string
		f    func() (credits.Credits, error)
	}{
		{"max+1", func() (credits.Credits, error) { return max.Add(1) }},
		{"min-1", func() (credits.Credits, error) { return min.Sub(1) }},
		{"min+(-1)", func() (credits.Credits, error) { return min.Add(-1) }},
		{"0-MinInt64", func() (credits.Credits, error) { return credits.Credits(0).Sub(math.MinInt64) }},
		{"max*2", func() (credits.Credits, error) { return max.Mul(2) }},
		{"max*-2", func() (credits.Credits, error) { return max.Mul(-2) }},
		{"MinInt64*-1", func() (credits.Credits, error) { return credits.Credits(math.MinInt64).Mul(-1) }},
		{"credit*MaxInt64", func() (credits.Credits, error) { return credits.Credit.Mul(math.MaxInt64) }},
	} {
		if got, err := tc.f(); !errors.Is(err, credits.ErrOverflow) {
			t.Errorf("%s = %v, %v; want ErrOverflow", tc.name, got, err)
		}
	}
	if d, err := max.Sub(max); err != nil || d != 0 {
		t.Errorf("max-max = %v, %v", d, err)
	}
	if p, err := max.Mul(-1); err != nil || p != min {
		t.Errorf("max*-1 = %v, %v", p, err)
	}
	if p, err := credits.Credits(0).Mul(math.MaxInt64); err != nil || p != 0 {
		t.Errorf("0*n = %v, %v", p, err)
	}
}

func TestCreditsJSONAndText(t *testing.T) {
	type doc struct {
		Amount credits.Credits `json:"amount"`
	}
	b, err := json.Marshal(doc{credits.MustParse("2.5")})
	if err != nil || string(b) != `{"amount":2.5}` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
	for in, want := range map[string]credits.Credits{
		`{"amount":18}`:        18 * credits.Credit,
		`{"amount":2.5}`:       credits.MustParse("2.5"),
		`{"amount":"2.5"}`:     credits.MustParse("2.5"),
		`{"amount":-0.000001}`: -1,
	} {
		var d doc
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Amount != want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, d.Amount, err, want)
		}
	}
	for _, in := range []string{`{"amount":null}`, `{"amount":1e3}`, `{"amount":0.0000001}`, `{"amount":true}`, `{"amount":""}`} {
		var d doc
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", in, d.Amount)
		}
	}
	txt, _ := credits.MustParse("-7.25").MarshalText()
	var c credits.Credits
	if err := c.UnmarshalText(txt); err != nil || c != credits.MustParse("-7.25") {
		t.Errorf("text round trip: %s -> %v, %v", txt, c, err)
	}
	if err := c.UnmarshalText([]byte("x")); err == nil {
		t.Error("UnmarshalText(x) succeeded")
	}
}

func TestCreditsSQL(t *testing.T) {
	v, err := credits.MustParse("1.5").Value()
	if err != nil || v != driver.Value(int64(1_500_000)) {
		t.Errorf("Value = %#v, %v", v, err)
	}
	var c credits.Credits
	if err := c.Scan(int64(42)); err != nil || c != 42 {
		t.Errorf("Scan(42) = %v, %v", c, err)
	}
	for _, src := range []any{"1.5", 1.5, nil, []byte("1")} {
		if err := c.Scan(src); err == nil {
			t.Errorf("Scan(%#v) succeeded", src)
		}
	}
}

func TestInputErrorMessage(t *testing.T) {
	err := &credits.InputError{Field: "remote_assets[2].url", Value: "ftp://x", Reason: "must be an http:// or https:// URL"}
	if got, want := err.Error(), `remote_assets[2].url: "ftp://x": must be an http:// or https:// URL`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, credits.ErrInvalidInput) {
		t.Error("InputError does not match ErrInvalidInput")
	}
	long := &credits.InputError{Field: "f", Value: strings.Repeat("x", 500), Reason: "r"}
	if len(long.Error()) > 200 {
		t.Errorf("a long value is not shortened: %d bytes", len(long.Error()))
	}
}

// FuzzParse: Parse never panics; every rejection is an InputError naming
// the amount; what it accepts prints back to a string that parses to the
// same amount and equals the input as a decimal number; JSON and text
// encodings round-trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "18", "2.5", "-0.000001", "9223372036854.775807", "1e3", "0.0000001", ".5", "+1", "--1", "1..2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := credits.Parse(s)
		if err != nil {
			if c != 0 {
				t.Fatalf("Parse(%q) returned %v with error %v", s, c, err)
			}
			var ie *credits.InputError
			if !errors.Is(err, credits.ErrInvalidInput) || !errors.As(err, &ie) || ie.Field != "amount" || ie.Value != s {
				t.Fatalf("Parse(%q): %v is not an InputError naming the amount", s, err)
			}
			return
		}
		if c < credits.MinCredits {
			t.Fatalf("Parse(%q) = %d units, below MinCredits", s, int64(c))
		}
		back, err := credits.Parse(c.String())
		if err != nil || back != c {
			t.Fatalf("Parse(%q) = %v; Parse(String()) = %v, %v", s, c, back, err)
		}
		if d, err := decimal.NewFromString(s); err != nil || !d.Equal(c.Decimal()) {
			t.Fatalf("Parse(%q) = %v, which is not the same number (%v)", s, c, err)
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var j credits.Credits
		if err := json.Unmarshal(b, &j); err != nil || j != c {
			t.Fatalf("JSON round trip of %v: %s -> %v, %v", c, b, j, err)
		}
	})
}
