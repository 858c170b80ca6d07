package credits

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"math"
	"strings"

	"github.com/shopspring/decimal"
)

// Credits is an exact amount of credits, stored as a whole number of
// micro-credits (millionths of a credit). Parsing, adding, comparing and
// storing amounts never rounds, and only parsing allocates. The library's
// one rounding rule is in pricing: a unit price times a resolution
// multiplier is rounded half away from zero to the micro-credit, once,
// when the [PriceTable] is built (see [NewPriceTable]).
//
// The zero value is zero credits. Use the constant [Credit] to write
// amounts in code, the way time.Second is used with time.Duration:
//
//	price := 3 * credits.Credit          // 3 credits
//	half := credits.Credit / 2          // 0.5 credits
//
// Arithmetic that could overflow is done through [Credits.Add],
// [Credits.Sub] and [Credits.Mul], which return [ErrOverflow] instead of
// wrapping around.
type Credits int64

const (
	// Scale is the number of decimal places a Credits value holds.
	Scale = 6
	// Credit is one whole credit.
	Credit Credits = 1_000_000
	// MaxCredits is the largest amount a Credits value can hold
	// (about 9.2 trillion credits).
	MaxCredits Credits = math.MaxInt64
	// MinCredits is the smallest (most negative) amount a Credits value can hold.
	MinCredits Credits = -math.MaxInt64
)

// FromInt returns n whole credits, or an error wrapping [ErrOverflow] when
// n credits do not fit in a Credits value.
func FromInt(n int64) (Credits, error) {
	return Credit.Mul(n)
}

// Parse reads a decimal amount of credits such as "18", "2.5" or "-0.000001".
// It accepts at most [Scale] decimal places and never rounds: "0.0000001" is
// an error, as is anything that is not a plain decimal number.
//
// Every error is an [*InputError] for the field "amount", naming the text
// and the reason ("empty", "exponents are not allowed", "not a decimal
// number", "more than 6 decimal places", "out of range ..."), so it
// matches [ErrInvalidInput]; an amount out of range matches [ErrOverflow]
// as well (see [FromDecimal]).
func Parse(s string) (Credits, error) {
	if s == "" {
		return 0, inputErr("amount", s, "empty")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, inputErr("amount", s, "not a decimal number")
	}
	// decimal accepts exponents ("1e3"); a money amount is written plainly.
	if strings.ContainsAny(s, "eE") {
		return 0, inputErr("amount", s, "exponents are not allowed")
	}
	return fromDecimal(d, s)
}

// MustParse is like [Parse] but panics on error. It is for amounts written
// in code and tests, like regexp.MustCompile.
func MustParse(s string) Credits {
	c, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

// FromDecimal converts d to Credits exactly. It fails when d has more than
// [Scale] decimal places or does not fit, with an [*InputError] for the
// field "amount" naming d, which matches [ErrInvalidInput].
//
// An amount that does not fit matches both [ErrInvalidInput] and
// [ErrOverflow]: it is bad input (the caller's number, refused before
// anything happened, which a service answers as a bad request) and an
// amount that overflows (what errors.Is(err, ErrOverflow) has always
// answered here). Arithmetic on Credits ([Credits.Add], [Credits.Mul], ...)
// matches ErrOverflow only.
func FromDecimal(d decimal.Decimal) (Credits, error) {
	return fromDecimal(d, "")
}

// fromDecimal is FromDecimal naming text (d's String form when "") in
// errors.
func fromDecimal(d decimal.Decimal, text string) (Credits, error) {
	if text == "" {
		text = d.String()
	}
	units := d.Shift(Scale)
	if !units.Equal(units.Truncate(0)) {
		return 0, inputErr("amount", text, fmt.Sprintf("more than %d decimal places", Scale))
	}
	if units.GreaterThan(decimal.NewFromInt(int64(MaxCredits))) || units.LessThan(decimal.NewFromInt(int64(MinCredits))) {
		return 0, fmt.Errorf("%w: %w", inputErr("amount", text, "out of range (at most "+MaxCredits.String()+" credits either way)"), ErrOverflow)
	}
	return Credits(units.IntPart()), nil
}

// Decimal returns c as an exact decimal number of credits.
func (c Credits) Decimal() decimal.Decimal {
	return decimal.New(int64(c), -Scale)
}

// Add returns c+o, or an error wrapping [ErrOverflow].
func (c Credits) Add(o Credits) (Credits, error) {
	s := c + o
	if (o > 0 && s < c) || (o < 0 && s > c) || s == math.MinInt64 {
		return 0, fmt.Errorf("credits: %s + %s: %w", c, o, ErrOverflow)
	}
	return s, nil
}

// saturatingAdd returns c+o for amounts of at least zero, or MaxCredits
// if the sum does not fit: for sums that only bound what may be spent.
func (c Credits) saturatingAdd(o Credits) Credits {
	if s := c + o; s >= c {
		return s
	}
	return MaxCredits
}

// Sub returns c-o, or an error wrapping [ErrOverflow].
func (c Credits) Sub(o Credits) (Credits, error) {
	if o == math.MinInt64 {
		return 0, fmt.Errorf("credits: %s - %d units: %w", c, int64(o), ErrOverflow)
	}
	return c.Add(-o)
}

// Mul returns c*n, or an error wrapping [ErrOverflow].
func (c Credits) Mul(n int64) (Credits, error) {
	if c == 0 || n == 0 {
		return 0, nil
	}
	p := int64(c) * n
	if p/n != int64(c) || p == math.MinInt64 || (n == -1 && c == math.MinInt64) {
		return 0, fmt.Errorf("credits: %s × %d: %w", c, n, ErrOverflow)
	}
	return Credits(p), nil
}

// String formats c as a plain decimal number of credits with no trailing
// zeros: "18", "2.5", "-0.000001". [Parse] reads it back exactly.
func (c Credits) String() string {
	var buf [24]byte
	return string(c.appendText(buf[:0]))
}

// appendText appends the String form of c to b without allocating.
func (c Credits) appendText(b []byte) []byte {
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = uint64(-c)
	}
	whole, frac := u/uint64(Credit), u%uint64(Credit)
	b = appendUint(b, whole)
	if frac == 0 {
		return b
	}
	var digits [Scale]byte
	for i := Scale - 1; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := Scale
	for n > 0 && digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

func appendUint(b []byte, u uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// MarshalText implements encoding.TextMarshaler with the [Credits.String] form.
func (c Credits) MarshalText() ([]byte, error) {
	return c.appendText(nil), nil
}

// AppendText implements encoding.TextAppender: it appends the
// [Credits.String] form of c to b, without allocating when b has room.
func (c Credits) AppendText(b []byte) ([]byte, error) {
	return c.appendText(b), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [Parse].
func (c *Credits) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalJSON encodes c as a plain JSON number such as 18 or 2.5.
func (c Credits) MarshalJSON() ([]byte, error) {
	return c.appendText(nil), nil
}

// UnmarshalJSON reads a JSON number such as 18 or 2.5, or the same number
// as a JSON string ("2.5") for clients whose JSON numbers are float64.
// Amounts with more than [Scale] decimal places are an error, never rounded.
func (c *Credits) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if string(b) == "null" {
		return inputErr("amount", "", "null is not an amount")
	}
	return c.UnmarshalText(b)
}

// Value implements driver.Valuer: an amount is stored in SQL as an integer
// number of micro-credits, exactly.
func (c Credits) Value() (driver.Value, error) {
	return int64(c), nil
}

// Scan implements sql.Scanner, reading an integer number of micro-credits.
func (c *Credits) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c = Credits(v)
		return nil
	default:
		return fmt.Errorf("credits: cannot scan %T into Credits (want an integer of micro-credits)", src)
	}
}
