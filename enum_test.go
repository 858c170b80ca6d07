package credits_test

import (
	"encoding"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/avstudio/credits"
)

// enumCase describes one of the package's enums as a user sees it.
type enumCase[T ~uint8] struct {
	typ       string   // the Go type's name, as String prints an undefined value
	field     string   // the field named in errors
	what      string   // the reason of an unknown name: "unknown " + what + " (want ...)"
	names     []string // the text names of the defined values, from the first
	first     T        // the first defined value (0 or 1)
	zeroUnset bool     // the zero value means "not given": it prints and marshals as ""
	fold      bool     // Parse ignores case
	parse     func(string) (T, error)
	valid     func(T) bool
}

// textEnum is what every enum's pointer implements.
type textEnum[T ~uint8] interface {
	*T
	fmt.Stringer
	encoding.TextMarshaler
	encoding.TextUnmarshaler
}

// wantNames is the way every enum lists its names in errors.
func wantNames(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func checkEnum[T ~uint8, P textEnum[T]](t *testing.T, c enumCase[T]) {
	t.Run(c.typ, func(t *testing.T) {
		reason := "unknown " + c.what + " (want " + wantNames(c.names) + ")"
		last := c.first + T(len(c.names)) // one past the last defined value
		for i, name := range c.names {
			v := c.first + T(i)
			if !c.valid(v) || P(&v).String() != name {
				t.Errorf("%s(%d): valid %v, String %q; want %q", c.typ, v, c.valid(v), P(&v).String(), name)
			}
			for _, in := range []string{name, strings.ToUpper(name)} {
				got, err := c.parse(in)
				if exact := in == name; exact || c.fold {
					if err != nil || got != v {
						t.Errorf("Parse%s(%q) = %v, %v; want %v", c.typ, in, got, err, v)
					}
				} else if in != name && err == nil {
					t.Errorf("Parse%s(%q) = %v, want an error (names are exact)", c.typ, in, got)
				}
			}
			txt, err := P(&v).MarshalText()
			if err != nil || string(txt) != name {
				t.Errorf("%s(%d).MarshalText() = %q, %v", c.typ, v, txt, err)
			}
			var back T
			if err := P(&back).UnmarshalText(txt); err != nil || back != v {
				t.Errorf("UnmarshalText(%q) = %v, %v", txt, back, err)
			}
		}
		// Every value outside the names is undefined; only the zero value
		// of a "not given" enum prints as "" and marshals.
		for v := T(0); ; v++ {
			if v < c.first || v >= last {
				if c.valid(v) {
					t.Errorf("%s(%d) is valid", c.typ, v)
				}
				txt, err := P(&v).MarshalText()
				if v == 0 && c.zeroUnset {
					if s := P(&v).String(); s != "" || err != nil || len(txt) != 0 {
						t.Errorf("zero %s: String %q, MarshalText %q, %v; want \"\"", c.typ, s, txt, err)
					}
				} else {
					str := fmt.Sprintf("%s(%d)", c.typ, uint8(v))
					if s := P(&v).String(); s != str {
						t.Errorf("%s(%d).String() = %q, want %q", c.typ, v, s, str)
					}
					var ie *credits.InputError
					if !errors.As(err, &ie) || ie.Field != c.field || ie.Value != str || ie.Reason != reason {
						t.Errorf("%s(%d).MarshalText() = %q, %v; want an InputError {%s %s %s}", c.typ, v, txt, err, c.field, str, reason)
					}
				}
			}
			if v == 255 {
				break
			}
		}
		// Unknown names: an InputError naming the field, the value and the
		// valid names; UnmarshalText leaves the value as it was.
		for _, bad := range []string{"", "bogus", c.names[0] + " ", " " + c.names[0], c.names[0] + "\x00", "Ǆ"} {
			_, err := c.parse(bad)
			var ie *credits.InputError
			if !errors.As(err, &ie) || !errors.Is(err, credits.ErrInvalidInput) || ie.Field != c.field || ie.Value != bad || ie.Reason != reason {
				t.Errorf("Parse%s(%q) = %v; want an InputError {%s %q %s}", c.typ, bad, err, c.field, bad, reason)
			}
			v := last - 1
			if err := P(&v).UnmarshalText([]byte(bad)); !errors.Is(err, credits.ErrInvalidInput) || v != last-1 {
				t.Errorf("UnmarshalText(%q) = %v and changed the value to %v; want an error and %v kept", bad, err, v, last-1)
			}
		}
	})
}

func TestEnums(t *testing.T) {
	checkEnum[credits.Kind](t, enumCase[credits.Kind]{typ: "Kind", field: "kind", what: "entry kind", first: 1,
		names: []string{"grant", "charge", "refund", "hold", "capture", "release", "expire", "rollover", "claim", "notice"},
		parse: credits.ParseKind, valid: credits.Kind.Valid})
	checkEnum[credits.Source](t, enumCase[credits.Source]{typ: "Source", field: "source", what: "source", first: 1, zeroUnset: true,
		names: []string{"free_tier", "subscription", "topup", "refund", "adjustment", "rollover", "auto_topup"},
		parse: credits.ParseSource, valid: credits.Source.Valid})
	var actions []string
	for _, a := range credits.Actions() {
		actions = append(actions, a.String())
	}
	checkEnum[credits.Action](t, enumCase[credits.Action]{typ: "Action", field: "action", what: "action", first: 1,
		names: actions, parse: credits.ParseAction, valid: credits.Action.Valid})
	checkEnum[credits.Resolution](t, enumCase[credits.Resolution]{typ: "Resolution", field: "resolution", what: "resolution", first: 1, zeroUnset: true, fold: true,
		names: []string{"720p", "1080p", "4k"}, parse: credits.ParseResolution, valid: credits.Resolution.Valid})
	checkEnum[credits.AssetType](t, enumCase[credits.AssetType]{typ: "AssetType", field: "type", what: "asset type", first: 1, zeroUnset: true, fold: true,
		names: []string{"video", "image", "audio", "screen_recording"}, parse: credits.ParseAssetType, valid: credits.AssetType.Valid})
	checkEnum[credits.Pipeline](t, enumCase[credits.Pipeline]{typ: "Pipeline", field: "pipeline", what: "pipeline", first: 1, zeroUnset: true,
		names: []string{"prompt_to_mp4", "json_to_mp4"}, parse: credits.ParsePipeline, valid: credits.Pipeline.Valid})
	checkEnum[credits.Interval](t, enumCase[credits.Interval]{typ: "Interval", field: "interval", what: "interval", first: 1, zeroUnset: true,
		names: []string{"monthly", "yearly"}, parse: credits.ParseInterval, valid: credits.Interval.Valid})
	checkEnum[credits.RolloverMode](t, enumCase[credits.RolloverMode]{typ: "RolloverMode", field: "rollover.mode", what: "rollover mode", first: 0,
		names: []string{"all", "none", "capped", "carry"}, parse: credits.ParseRolloverMode, valid: credits.RolloverMode.Valid})
	checkEnum[credits.NoticeKind](t, enumCase[credits.NoticeKind]{typ: "NoticeKind", field: "notice", what: "notice", first: 1, zeroUnset: true,
		names: []string{"low_balance", "expiring", "hold_lapsed", "free_tier_claimed", "renewed", "topup_failed"}, parse: credits.ParseNoticeKind, valid: credits.NoticeKind.Valid})
}

// parsed adapts a Parse function for FuzzEnumNames: the name it read
// printed back, and whether that name parses to the same value.
func parsed[T interface {
	~uint8
	String() string
}](parse func(string) (T, error)) func(string) (string, bool, error) {
	return func(s string) (string, bool, error) {
		v, err := parse(s)
		if err != nil {
			return "", false, err
		}
		back, err := parse(v.String())
		return v.String(), err == nil && back == v, nil
	}
}

// FuzzEnumNames: no Parse function of the eight enums panics; each
// rejection is an InputError; what one accepts prints back to a name that
// parses to the same value, equal to the input (ignoring case where the
// enum folds case).
func FuzzEnumNames(f *testing.F) {
	for _, s := range []string{"charge", "topup", "chat_message", "4K", "Screen_Recording", "json_to_mp4", "yearly", "all", "", "carry\x00"} {
		f.Add(s)
	}
	parsers := []struct {
		name  string
		fold  bool
		parse func(string) (string, bool, error)
	}{
		{"Kind", false, parsed(credits.ParseKind)},
		{"Source", false, parsed(credits.ParseSource)},
		{"Action", false, parsed(credits.ParseAction)},
		{"Resolution", true, parsed(credits.ParseResolution)},
		{"AssetType", true, parsed(credits.ParseAssetType)},
		{"Pipeline", false, parsed(credits.ParsePipeline)},
		{"Interval", false, parsed(credits.ParseInterval)},
		{"RolloverMode", false, parsed(credits.ParseRolloverMode)},
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range parsers {
			name, roundTrips, err := p.parse(s)
			if err != nil {
				var ie *credits.InputError
				if !errors.As(err, &ie) || ie.Value != s {
					t.Fatalf("Parse%s(%q): %v is not an InputError naming the value", p.name, s, err)
				}
				continue
			}
			if !roundTrips || name == "" || (name != s && !(p.fold && strings.EqualFold(name, s))) {
				t.Fatalf("Parse%s(%q) prints as %q (round trip %v)", p.name, s, name, roundTrips)
			}
		}
	})
}
