package credits

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/avstudio/credits/internal/strictjson"
	"github.com/shopspring/decimal"
)

// Pricing math and its one rounding rule.
//
// Prices are exact [Credits]. The only computation that can produce a
// fraction of a micro-credit is a unit price times a resolution multiplier
// (video_generation at 1080p or 4k). That product is computed exactly in
// decimal and then rounded half away from zero to the micro-credit
// (0.0000005 credits becomes 0.000001), once, when the [PriceTable] is
// built; everything after that (quantities, estimate lines, totals) is
// integer arithmetic on micro-credits that is exact or fails with
// [ErrOverflow].

// Limits of a price table. They keep a typo or a hostile file from
// producing a table that prices nonsense.
const (
	// MaxMultiplier is the largest resolution multiplier a table accepts.
	MaxMultiplier = 1000
	// MaxVersionLen is the longest price-table version string, in bytes.
	MaxVersionLen = 64
	// MaxPriceBookSize is the largest price-book JSON document, in bytes,
	// that [LoadPriceBook] reads.
	MaxPriceBookSize = 1 << 20
)

// PriceTable is one version of the prices: a price per [Action], the
// video resolution multipliers, a version string and the instant the
// table takes effect. It is immutable once built, so one table may be
// shared by any number of goroutines.
//
// Build one with [NewPriceTable], load it from JSON ([PriceTable.UnmarshalJSON]
// or [LoadPriceBook]), or take the default with [DefaultPriceTable]. The
// zero PriceTable has no version and prices everything at 0: do not use it.
type PriceTable struct {
	version       string
	effectiveFrom time.Time
	prices        [numActions]Credits
	multipliers   [numResolutions]decimal.Decimal
	videoPrices   [numResolutions]Credits // video_generation base × multiplier, rounded once
}

// tableSpec is a price table before validation: what NewPriceTable and the
// JSON decoder collect and build validates.
type tableSpec struct {
	version       string
	effectiveFrom time.Time
	prices        [numActions]Credits
	priced        [numActions]bool
	multipliers   [numResolutions]decimal.Decimal
	multiplied    [numResolutions]bool
}

// NewPriceTable builds and validates a price table.
//
// Validation: version is required (at most [MaxVersionLen] bytes of
// printable ASCII, no spaces); effectiveFrom is required (it is kept in
// UTC); every action has a price and no price is negative; every
// resolution has a multiplier greater than 0 and at most [MaxMultiplier];
// the 720p multiplier is exactly 1, because the price of video_generation
// is defined as its 720p price; and no map key is an unknown action or
// resolution. Every error is an [*InputError] naming the field at fault,
// such as "prices.render" or "resolution_multipliers.4k".
//
// Rounding: the price of video_generation at each resolution is its base
// price times the resolution's multiplier, computed exactly in decimal and
// rounded half away from zero to the micro-credit (0.0000005 becomes
// 0.000001, 4.9999995 becomes 5), once, here. That is the library's one
// rounding rule: [PriceTable.UnitPrice], [PriceTable.Quote] and
// [PriceTable.EstimateJob] use the rounded price, and quantities, totals
// and estimates are exact integer arithmetic on it (an amount that does
// not fit is an error wrapping [ErrOverflow], never rounded). A table read
// from JSON is built the same way.
//
// The maps are copied; the caller may reuse them.
func NewPriceTable(version string, effectiveFrom time.Time, prices map[Action]Credits, multipliers map[Resolution]decimal.Decimal) (*PriceTable, error) {
	var s tableSpec
	s.version = version
	s.effectiveFrom = effectiveFrom
	var bad []int
	for a, p := range prices {
		if !a.Valid() {
			bad = append(bad, int(a))
			continue
		}
		s.prices[a], s.priced[a] = p, true
	}
	if len(bad) > 0 {
		sort.Ints(bad)
		return nil, inputErr("prices", Action(bad[0]).String(), actionEnum.unknown)
	}
	for r, m := range multipliers {
		if !r.Valid() {
			bad = append(bad, int(r))
			continue
		}
		s.multipliers[r], s.multiplied[r] = m, true
	}
	if len(bad) > 0 {
		sort.Ints(bad)
		return nil, inputErr("resolution_multipliers", Resolution(bad[0]).String(), resolutionEnum.unknown)
	}
	return s.build("")
}

// build validates s and returns the table; prefix is put before every
// field name in errors ("tables[2]." when loading a book).
func (s *tableSpec) build(prefix string) (*PriceTable, error) {
	if s.version == "" {
		return nil, inputErr(prefix+"version", "", "required")
	}
	if len(s.version) > MaxVersionLen {
		return nil, inputErr(prefix+"version", s.version, fmt.Sprintf("longer than %d bytes", MaxVersionLen))
	}
	for i := 0; i < len(s.version); i++ {
		if c := s.version[i]; c <= ' ' || c > '~' {
			return nil, inputErr(prefix+"version", s.version, "must be printable ASCII without spaces")
		}
	}
	if s.effectiveFrom.IsZero() {
		return nil, inputErr(prefix+"effective_from", "", "required")
	}
	t := &PriceTable{version: s.version, effectiveFrom: s.effectiveFrom.UTC()}
	for a := Action(1); a < numActions; a++ {
		field := prefix + "prices." + a.String()
		if !s.priced[a] {
			return nil, inputErr(field, "", "missing: every action must be priced")
		}
		if s.prices[a] < 0 {
			return nil, inputErr(field, s.prices[a].String(), "negative price")
		}
		t.prices[a] = s.prices[a]
	}
	maxMult := decimal.NewFromInt(MaxMultiplier)
	one := decimal.NewFromInt(1)
	for r := Resolution(1); r < numResolutions; r++ {
		field := prefix + "resolution_multipliers." + r.String()
		m := s.multipliers[r]
		switch {
		case !s.multiplied[r]:
			return nil, inputErr(field, "", "missing: every resolution needs a multiplier")
		case m.Sign() <= 0:
			return nil, inputErr(field, m.String(), "must be greater than 0")
		case m.GreaterThan(maxMult):
			return nil, inputErr(field, m.String(), fmt.Sprintf("must be at most %d", MaxMultiplier))
		case r == Res720p && !m.Equal(one):
			return nil, inputErr(field, m.String(), "must be 1: the video_generation price is the 720p price")
		}
		p, err := multiplyPrice(t.prices[VideoGeneration], m)
		if err != nil {
			return nil, inputErr(field, m.String(), "video_generation price times this multiplier overflows")
		}
		t.multipliers[r] = m
		t.videoPrices[r] = p
	}
	return t, nil
}

// multiplyPrice returns p × m, rounded half away from zero to the
// micro-credit: the library's one rounding rule.
func multiplyPrice(p Credits, m decimal.Decimal) (Credits, error) {
	return FromDecimal(p.Decimal().Mul(m).Round(Scale))
}

// DefaultPriceTable returns a new copy of the R-Credits price table of
// SPEC.md, version "v1", in force from 2025-01-01T00:00:00Z:
//
//	chat_message 3, live_voice_chat 3, text_to_speech 2, image_generation 4,
//	music_generation 8, video_generation 10 at 720p (1080p 2x = 20, 4k 4x = 40),
//	public_api_ai_creation 3, render 5, upload_video 5, upload_image 0,
//	upload_audio 3, screen_recording_upload 0, screen_recording_analysis 5.
func DefaultPriceTable() *PriceTable {
	prices := map[Action]Credits{
		ChatMessage:             3 * Credit,
		LiveVoiceChat:           3 * Credit,
		TextToSpeech:            2 * Credit,
		ImageGeneration:         4 * Credit,
		MusicGeneration:         8 * Credit,
		VideoGeneration:         10 * Credit,
		PublicAPIAICreation:     3 * Credit,
		Render:                  5 * Credit,
		UploadVideo:             5 * Credit,
		UploadImage:             0,
		UploadAudio:             3 * Credit,
		ScreenRecordingUpload:   0,
		ScreenRecordingAnalysis: 5 * Credit,
	}
	multipliers := map[Resolution]decimal.Decimal{
		Res720p:  decimal.NewFromInt(1),
		Res1080p: decimal.NewFromInt(2),
		Res4K:    decimal.NewFromInt(4),
	}
	t, err := NewPriceTable("v1", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), prices, multipliers)
	if err != nil {
		panic("credits: the default price table is invalid: " + err.Error())
	}
	return t
}

// Version returns the table's version string, recorded with every charge
// priced from it.
func (t *PriceTable) Version() string { return t.version }

// EffectiveFrom returns the instant (in UTC) from which the table is in force.
func (t *PriceTable) EffectiveFrom() time.Time { return t.effectiveFrom }

// Price returns the base unit price of a: for video_generation, its 720p
// price. It returns 0 for an invalid action; use [PriceTable.UnitPrice]
// to get an error instead.
func (t *PriceTable) Price(a Action) Credits {
	if !a.Valid() {
		return 0
	}
	return t.prices[a]
}

// Multiplier returns the price multiplier of resolution r, exactly as the
// table was given it. The zero Resolution means 720p; an invalid
// resolution returns zero. The price of video_generation at r is its base
// price times this multiplier, rounded half away from zero to the
// micro-credit once, when the table was built (see [NewPriceTable]); use
// [PriceTable.UnitPrice] for it rather than multiplying again.
func (t *PriceTable) Multiplier(r Resolution) decimal.Decimal {
	if r == 0 {
		r = Res720p
	}
	if !r.Valid() {
		return decimal.Zero
	}
	return t.multipliers[r]
}

// UnitPrice returns the price of one unit of a. For video_generation it is
// the base price times the multiplier of r, rounded half away from zero to
// the micro-credit; the zero Resolution means 720p. Any other action takes
// no resolution: passing one is an [*InputError], as are an invalid action
// and an invalid resolution.
func (t *PriceTable) UnitPrice(a Action, r Resolution) (Credits, error) {
	if !a.Valid() {
		return 0, inputErr("action", a.String(), actionEnum.unknown)
	}
	if a != VideoGeneration {
		if r != 0 {
			return 0, inputErr("resolution", r.String(), "only video_generation has a resolution")
		}
		return t.prices[a], nil
	}
	if r == 0 {
		r = Res720p
	}
	if !r.Valid() {
		return 0, inputErr("resolution", r.String(), resolutionEnum.unknown)
	}
	return t.videoPrices[r], nil
}

// QuoteOptions are the options of [PriceTable.Quote].
type QuoteOptions struct {
	// Resolution of video_generation; zero means 720p. Must be zero for
	// every other action.
	Resolution Resolution
	// Quantity is the number of units; 0 means 1. Negative is an error.
	Quantity int64
}

// Quote is the price of some units of one action, as [PriceTable.Quote]
// computes it. Its JSON form is
//
//	{"action": "video_generation", "resolution": "4k", "quantity": 2,
//	 "unit_price": 40, "total": 80, "price_version": "v1"}
//
// where "resolution" is null for actions other than video_generation.
type Quote struct {
	Action       Action     `json:"action"`
	Resolution   Resolution `json:"resolution"` // the resolution priced (720p when none was given); zero for other actions
	Quantity     int64      `json:"quantity"`   // at least 1
	UnitPrice    Credits    `json:"unit_price"`
	Total        Credits    `json:"total"` // UnitPrice × Quantity, exactly
	PriceVersion string     `json:"price_version"`
}

// MarshalJSON encodes q in the form documented on [Quote], with a null
// resolution for actions that have none.
func (q Quote) MarshalJSON() ([]byte, error) {
	var res *Resolution
	if q.Resolution != 0 {
		res = &q.Resolution
	}
	return json.Marshal(struct {
		Action       Action      `json:"action"`
		Resolution   *Resolution `json:"resolution"`
		Quantity     int64       `json:"quantity"`
		UnitPrice    Credits     `json:"unit_price"`
		Total        Credits     `json:"total"`
		PriceVersion string      `json:"price_version"`
	}{q.Action, res, q.Quantity, q.UnitPrice, q.Total, q.PriceVersion})
}

// Quote prices opts.Quantity units of action a (video_generation at
// opts.Resolution). The unit price is [PriceTable.UnitPrice]'s: for
// video_generation, the base price times the multiplier, rounded half
// away from zero to the micro-credit once, when the table was built (see
// [NewPriceTable]). The total is that unit price times the quantity,
// exactly, and is never rounded again: 3 units at 8.333333 cost
// 24.999999. A total that does not fit is an error wrapping [ErrOverflow].
// Bad input (unknown action or resolution, a resolution on an action that
// has none, a negative quantity) is an [*InputError].
func (t *PriceTable) Quote(a Action, opts QuoteOptions) (Quote, error) {
	unit, err := t.UnitPrice(a, opts.Resolution)
	if err != nil {
		return Quote{}, err
	}
	n := opts.Quantity
	if n < 0 {
		return Quote{}, inputErr("quantity", strconv.FormatInt(n, 10), "must not be negative")
	}
	if n == 0 {
		n = 1
	}
	total, err := unit.Mul(n)
	if err != nil {
		return Quote{}, fmt.Errorf("credits: quote %d × %s: %w", n, a, err)
	}
	r := opts.Resolution
	if a == VideoGeneration && r == 0 {
		r = Res720p
	}
	return Quote{Action: a, Resolution: r, Quantity: n, UnitPrice: unit, Total: total, PriceVersion: t.version}, nil
}

// Equal reports whether t and u hold the same version, instant, prices and
// multipliers (multipliers compared as numbers: 2 equals 2.0).
func (t *PriceTable) Equal(u *PriceTable) bool {
	if t == nil || u == nil {
		return t == u
	}
	if t.version != u.version || !t.effectiveFrom.Equal(u.effectiveFrom) || t.prices != u.prices || t.videoPrices != u.videoPrices {
		return false
	}
	for r := range t.multipliers {
		if !t.multipliers[r].Equal(u.multipliers[r]) {
			return false
		}
	}
	return true
}

// MarshalJSON encodes the table as
//
//	{"version": "v1", "effective_from": "2025-01-01T00:00:00Z",
//	 "prices": {"chat_message": 3, ...every action in Action order...},
//	 "resolution_multipliers": {"720p": 1, "1080p": 2, "4k": 4}}
//
// with amounts and multipliers as exact JSON numbers. [PriceTable.UnmarshalJSON]
// reads it back to an equal table.
func (t *PriceTable) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"version":`)
	v, _ := json.Marshal(t.version)
	b.Write(v)
	b.WriteString(`,"effective_from":"`)
	b.WriteString(t.effectiveFrom.UTC().Format(time.RFC3339Nano))
	b.WriteString(`","prices":{`)
	for a := Action(1); a < numActions; a++ {
		if a > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", a.String(), t.prices[a].String())
	}
	b.WriteString(`},"resolution_multipliers":{`)
	for r := Resolution(1); r < numResolutions; r++ {
		if r > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", r.String(), t.multipliers[r].String())
	}
	b.WriteString(`}}`)
	return b.Bytes(), nil
}

// UnmarshalJSON reads a table in the form [PriceTable.MarshalJSON] writes,
// strictly: unknown or duplicate fields, unknown actions or resolutions and
// values of the wrong type are errors, and the table is validated as
// [NewPriceTable] does. Amounts and multipliers may be JSON numbers or
// strings holding a decimal number ("2.5"); exponents are not accepted.
// Every error is an [*InputError] naming the field at fault. As with
// encoding/json's own types, a JSON null leaves t unchanged.
func (t *PriceTable) UnmarshalJSON(data []byte) error {
	if strictjson.IsNull(data) {
		return nil
	}
	r := strictjson.New(data, "price table", inputErr)
	tbl, err := readPriceTable(r, "")
	if err != nil {
		return err
	}
	if err := r.End(); err != nil {
		return err
	}
	*t = *tbl
	return nil
}

// PriceBook holds the versions of the price table, ordered by the instant
// each takes effect, and answers which table was in force at an instant.
// It is immutable once built and safe for concurrent use.
type PriceBook struct {
	tables []*PriceTable // effective instants strictly increasing
}

// NewPriceBook returns a book of the given tables. There must be at least
// one; versions must be unique and effective instants strictly increasing
// in the order given. Errors are [*InputError]s naming the table, such as
// "tables[1].effective_from".
func NewPriceBook(tables ...*PriceTable) (*PriceBook, error) {
	if len(tables) == 0 {
		return nil, inputErr("tables", "", "a price book needs at least one table")
	}
	for i, t := range tables {
		if t == nil {
			return nil, inputErr(fmt.Sprintf("tables[%d]", i), "", "nil table")
		}
		for j := 0; j < i; j++ {
			if tables[j].version == t.version {
				return nil, inputErr(fmt.Sprintf("tables[%d].version", i), t.version, fmt.Sprintf("duplicate version (also tables[%d])", j))
			}
		}
		if i > 0 && !t.effectiveFrom.After(tables[i-1].effectiveFrom) {
			return nil, inputErr(fmt.Sprintf("tables[%d].effective_from", i), t.effectiveFrom.Format(time.RFC3339Nano),
				fmt.Sprintf("must be after tables[%d].effective_from (%s)", i-1, tables[i-1].effectiveFrom.Format(time.RFC3339Nano)))
		}
	}
	return &PriceBook{tables: append([]*PriceTable(nil), tables...)}, nil
}

// DefaultPriceBook returns a new book holding only [DefaultPriceTable]
// (version "v1", in force from 2025-01-01T00:00:00Z). Each call builds a
// fresh book; there is no shared mutable state.
func DefaultPriceBook() *PriceBook {
	return &PriceBook{tables: []*PriceTable{DefaultPriceTable()}}
}

// LoadPriceBook reads a price book from JSON:
//
//	{"tables": [ {a table as PriceTable.MarshalJSON writes it}, ... ]}
//
// strictly (unknown or duplicate fields, trailing data and wrong types are
// errors), at most [MaxPriceBookSize] bytes, and validates every table as
// [NewPriceTable] does and the book as [NewPriceBook] does. Errors name the
// field at fault, such as "tables[0].prices.render".
// testdata/prices/default.json holds [DefaultPriceBook] in this form.
func LoadPriceBook(r io.Reader) (*PriceBook, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPriceBookSize+1))
	if err != nil {
		return nil, fmt.Errorf("credits: read price book: %w", err)
	}
	if len(data) > MaxPriceBookSize {
		return nil, inputErr("price book", "", fmt.Sprintf("larger than %d bytes", MaxPriceBookSize))
	}
	return decodePriceBook(data)
}

// MarshalJSON encodes the book in the form [LoadPriceBook] reads.
func (b *PriceBook) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Tables []*PriceTable `json:"tables"`
	}{b.tables})
}

// UnmarshalJSON reads a book as [LoadPriceBook] does (without its size
// limit). As with encoding/json's own types, a JSON null leaves b unchanged.
func (b *PriceBook) UnmarshalJSON(data []byte) error {
	if strictjson.IsNull(data) {
		return nil
	}
	nb, err := decodePriceBook(data)
	if err != nil {
		return err
	}
	*b = *nb
	return nil
}

// decodePriceBook reads and validates one price-book document.
func decodePriceBook(data []byte) (*PriceBook, error) {
	r := strictjson.New(data, "price book", inputErr)
	var tables []*PriceTable
	seen := false
	err := r.Object("", func(key, path string) error {
		if key != "tables" {
			return inputErr(path, "", `unknown field (a price book is {"tables": [table, ...]})`)
		}
		seen = true
		_, err := r.Array(path, false, func(i int, path string) error {
			t, err := readPriceTable(r, path+".")
			if err != nil {
				return err
			}
			tables = append(tables, t)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := r.End(); err != nil {
		return nil, err
	}
	if !seen {
		return nil, inputErr("tables", "", "required")
	}
	return NewPriceBook(tables...)
}

// At returns the table in force at instant at: the one with the latest
// effective instant not after at. Before the first table it returns an
// error wrapping [ErrUnknownPriceVersion], as does the zero (empty) PriceBook.
func (b *PriceBook) At(at time.Time) (*PriceTable, error) {
	if len(b.tables) == 0 {
		return nil, fmt.Errorf("credits: the price book is empty: %w", ErrUnknownPriceVersion)
	}
	i := sort.Search(len(b.tables), func(i int) bool { return b.tables[i].effectiveFrom.After(at) })
	if i == 0 {
		return nil, fmt.Errorf("credits: no price table in force at %s (the first takes effect at %s): %w",
			at.UTC().Format(time.RFC3339Nano), b.tables[0].effectiveFrom.Format(time.RFC3339Nano), ErrUnknownPriceVersion)
	}
	return b.tables[i-1], nil
}

// Version returns the table with version v, or an error wrapping
// [ErrUnknownPriceVersion].
func (b *PriceBook) Version(v string) (*PriceTable, error) {
	for _, t := range b.tables {
		if t.version == v {
			return t, nil
		}
	}
	return nil, fmt.Errorf("credits: price version %q: %w", v, ErrUnknownPriceVersion)
}

// Tables returns the book's tables, earliest first. The slice is a copy;
// the tables themselves are immutable.
func (b *PriceBook) Tables() []*PriceTable {
	return append([]*PriceTable(nil), b.tables...)
}

// readPriceTable reads one table from r; prefix is its path plus "." (or
// "" at the top level).
func readPriceTable(r *strictjson.Reader, prefix string) (*PriceTable, error) {
	var s tableSpec
	path := prefix
	if path != "" {
		path = path[:len(path)-1]
	}
	err := r.Object(path, func(key, path string) error {
		switch key {
		case "version":
			v, err := r.Str(path, false)
			if err != nil {
				return err
			}
			if v == "" {
				return inputErr(path, "", "required")
			}
			s.version = v
		case "effective_from":
			v, err := r.Str(path, false)
			if err != nil {
				return err
			}
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return inputErr(path, v, "must be an RFC 3339 instant such as 2025-01-01T00:00:00Z")
			}
			s.effectiveFrom = at
		case "prices":
			return r.Object(path, func(key, path string) error {
				a, err := ParseAction(key)
				if err != nil {
					return inputErr(path, "", actionEnum.unknown)
				}
				v, err := r.DecimalText(path)
				if err != nil {
					return err
				}
				p, err := Parse(v)
				if err != nil {
					return inputErr(path, v, fmt.Sprintf("not an amount of credits (at most %d decimal places)", Scale))
				}
				s.prices[a], s.priced[a] = p, true
				return nil
			})
		case "resolution_multipliers":
			return r.Object(path, func(key, path string) error {
				res, err := ParseResolution(key)
				if err != nil {
					return inputErr(path, "", resolutionEnum.unknown)
				}
				if s.multiplied[res] {
					return inputErr(path, "", "duplicate resolution")
				}
				v, err := r.DecimalText(path)
				if err != nil {
					return err
				}
				m, err := decimal.NewFromString(v)
				if err != nil {
					return inputErr(path, v, "must be a plain decimal number")
				}
				s.multipliers[res], s.multiplied[res] = m, true
				return nil
			})
		default:
			return inputErr(path, "", "unknown field")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.build(prefix)
}
