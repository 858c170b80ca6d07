package credits

import (
	"fmt"
	"strings"
)

// enum is the one implementation of the text names of the package's
// enums (Kind, Source, Action, Resolution, AssetType, Pipeline, Interval,
// RolloverMode, WindowUnit, JobStep, FailureKind, JobStatus): their String, Parse, MarshalText and UnmarshalText
// methods delegate to it, so that all of them behave alike:
//
//   - String prints a value's name; the zero value of an enum whose zero
//     means "not given" prints ""; any other value without a name prints
//     as Type(n), such as "Action(42)".
//   - Parse is strict: only a name is accepted ("" never is), exactly or,
//     for an enum that folds case, case-insensitively. Anything else is
//     an [*InputError] naming the field, the value and every valid name:
//     `action: "rendr": unknown action (want chat_message, ... or render)`.
//   - MarshalText writes String's text for a name and for a "not given"
//     zero, and refuses any other value with the same InputError.
//   - UnmarshalText is Parse, and leaves the value unchanged on error.
type enum[T ~uint8] struct {
	typ       string   // the Go type's name: undefined values print as typ(n)
	field     string   // the field named in errors: "action", "rollover.mode"
	names     []string // names[v] is the name of v; "" for a value without one
	zeroUnset bool     // the zero value means "not given": it prints and marshals as ""
	fold      bool     // Parse ignores case
	unknown   string   // the reason of an error: "unknown action (want ...)"
}

// newEnum returns the names of type typ. what says what a value is in
// errors ("entry kind": "unknown entry kind (want ...)").
func newEnum[T ~uint8](typ, field, what string, names []string, zeroUnset, fold bool) *enum[T] {
	var valid []string
	for _, n := range names {
		if n != "" {
			valid = append(valid, n)
		}
	}
	list := valid[len(valid)-1]
	if len(valid) > 1 {
		list = strings.Join(valid[:len(valid)-1], ", ") + " or " + list
	}
	return &enum[T]{typ: typ, field: field, names: names, zeroUnset: zeroUnset, fold: fold,
		unknown: "unknown " + what + " (want " + list + ")"}
}

// named reports whether v has a name.
func (e *enum[T]) named(v T) bool { return int(v) < len(e.names) && e.names[v] != "" }

func (e *enum[T]) string(v T) string {
	switch {
	case e.named(v):
		return e.names[v]
	case v == 0 && e.zeroUnset:
		return ""
	}
	return fmt.Sprintf("%s(%d)", e.typ, uint8(v))
}

// parse returns the value named s; errors name the enum's own field.
func (e *enum[T]) parse(s string) (T, error) { return e.parseField(e.field, s) }

// parseField is parse with errors naming field, for a name read from a
// document at another path ("uploads[2].type").
func (e *enum[T]) parseField(field, s string) (T, error) {
	for v, n := range e.names {
		if n != "" && (n == s || e.fold && strings.EqualFold(n, s)) {
			return T(v), nil
		}
	}
	return 0, inputErr(field, s, e.unknown)
}

func (e *enum[T]) marshalText(v T) ([]byte, error) {
	if !e.named(v) && (v != 0 || !e.zeroUnset) {
		return nil, inputErr(e.field, e.string(v), e.unknown)
	}
	return []byte(e.string(v)), nil
}

func (e *enum[T]) unmarshalText(p *T, b []byte) error {
	v, err := e.parse(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
