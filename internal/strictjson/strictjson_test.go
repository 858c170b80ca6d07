package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// testErr is the caller's error type: every error a Reader returns must be
// one, made by the function given to New.
type testErr struct{ field, value, reason string }

func (e *testErr) Error() string {
	if e.value == "" {
		return e.field + ": " + e.reason
	}
	return fmt.Sprintf("%s: %q: %s", e.field, e.value, e.reason)
}

func errf(field, value, reason string) error { return &testErr{field, value, reason} }

// doc is what readDoc decodes: a small schema using every method.
//
//	{"s": string or null, "b": bool or null, "n": number or numeric string,
//	 "a": [doc, ...] or null}
func readDoc(r *Reader, path string, depth int) (map[string]any, error) {
	out := map[string]any{}
	err := r.Object(path, func(key, path string) error {
		var err error
		switch key {
		case "s":
			out[key], err = r.Str(path, true)
		case "b":
			out[key], err = r.Bool(path, true)
		case "n":
			out[key], err = r.DecimalText(path)
		case "a":
			var list []any
			var isNull bool
			isNull, err = r.Array(path, true, func(i int, path string) error {
				if depth > 8 {
					return errf(path, "", "too deep")
				}
				d, err := readDoc(r, path, depth+1)
				list = append(list, d)
				return err
			})
			if isNull {
				out[key] = nil
			} else {
				out[key] = list
			}
		default:
			err = errf(path, "", "unknown field")
		}
		return err
	})
	return out, err
}

func decode(doc string) (map[string]any, error) {
	r := New([]byte(doc), "doc", errf)
	d, err := readDoc(r, "", 0)
	if err != nil {
		return nil, err
	}
	return d, r.End()
}

func TestAccepts(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want map[string]any
	}{
		{`{}`, map[string]any{}},
		{" \n{ }\t\n", map[string]any{}},
		{`{"s": "x", "b": true, "n": 2.5}`, map[string]any{"s": "x", "b": true, "n": "2.5"}},
		{`{"s": null, "b": null, "a": null}`, map[string]any{"s": "", "b": false, "a": nil}},
		{`{"n": "-0.000001"}`, map[string]any{"n": "-0.000001"}},
		{`{"n": 12345678901234567890123456789012345678.9}`, map[string]any{"n": "12345678901234567890123456789012345678.9"}},
		{`{"a": []}`, map[string]any{"a": []any(nil)}},
		{`{"a": [{}, {"s": "y"}]}`, map[string]any{"a": []any{map[string]any{}, map[string]any{"s": "y"}}}},
		{`{"s": "\u00e9\ud83d\ude00"}`, map[string]any{"s": "é😀"}},
	} {
		got, err := decode(tc.doc)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v, %v; want %#v", tc.doc, got, err, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want testErr
	}{
		{``, testErr{"doc", "", "empty document"}},
		{"  \n", testErr{"doc", "", "empty document"}},
		{`{"s": "x",}`, testErr{"doc", "", "malformed JSON at byte 10: invalid character '}' looking for beginning of object key string"}},
		{`{"s": "x"`, testErr{"doc", "", "malformed JSON: unexpected end of input"}},
		{`{"s": "x`, testErr{"doc", "", "malformed JSON: unexpected end of input"}},
		{`{} {}`, testErr{"doc", "", "unexpected data after the JSON value, which ends at byte 2"}},
		{`{} x`, testErr{"doc", "", "unexpected data after the JSON value, which ends at byte 2"}},
		{`[]`, testErr{"doc", "", "must be an object, got an array"}},
		{`null`, testErr{"doc", "", "must be an object, got null"}},
		{`"x"`, testErr{"doc", "", "must be an object, got a string"}},
		{`7`, testErr{"doc", "", "must be an object, got a number"}},
		{`true`, testErr{"doc", "", "must be an object, got a boolean"}},
		{`{"x": 1}`, testErr{"x", "", "unknown field"}},
		{`{"": 1}`, testErr{`""`, "", "unknown field"}},
		{`{"s": "a", "s": "b"}`, testErr{"s", "", "duplicate field"}},
		{`{"s": 1}`, testErr{"s", "", "must be a string, got a number"}},
		{`{"b": "true"}`, testErr{"b", "", "must be true or false, got a string"}},
		{`{"n": null}`, testErr{"n", "", "must be a number, got null"}},
		{`{"n": true}`, testErr{"n", "", "must be a number, got a boolean"}},
		{`{"n": 1e3}`, testErr{"n", "1e3", "must be a plain decimal number"}},
		{`{"n": "+1"}`, testErr{"n", "+1", "must be a plain decimal number"}},
		{`{"n": " 1"}`, testErr{"n", " 1", "must be a plain decimal number"}},
		{`{"n": "` + strings.Repeat("9", MaxDecimalLen+1) + `"}`, testErr{"n", strings.Repeat("9", MaxDecimalLen+1), "too many digits"}},
		{`{"a": {}}`, testErr{"a", "", "must be an array, got an object"}},
		{`{"a": [{}, 3]}`, testErr{"a[1]", "", "must be an object, got a number"}},
		{`{"a": [{"a": [{"s": 2}]}]}`, testErr{"a[0].a[0].s", "", "must be a string, got a number"}},
		{`{"a": [{"": 1}]}`, testErr{`a[0].""`, "", "unknown field"}},
		{`{"a": [{"s": "x", "s": "y"}]}`, testErr{"a[0].s", "", "duplicate field"}},
		{`{"a": [}`, testErr{"doc", "", "malformed JSON at byte 7: invalid character '}' looking for beginning of value"}},
	} {
		_, err := decode(tc.doc)
		var te *testErr
		if !errors.As(err, &te) || *te != tc.want {
			t.Errorf("%s: %v\nwant %v", tc.doc, err, &tc.want)
		}
	}
}

// An error fn returns stops the walk and comes back as it is.
func TestCallbackErrors(t *testing.T) {
	stop := errors.New("stop")
	r := New([]byte(`{"a": 1, "b": 2}`), "doc", errf)
	calls := 0
	err := r.Object("", func(key, path string) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("Object = %v after %d calls, want stop after 1", err, calls)
	}
	r = New([]byte(`[1, 2]`), "doc", errf)
	if _, err := r.Array("", false, func(int, string) error { return stop }); err != stop {
		t.Errorf("Array = %v, want stop", err)
	}
	r = New([]byte(`null`), "doc", errf)
	if isNull, err := r.Array("", true, nil); !isNull || err != nil {
		t.Errorf("nullable Array of null = %v, %v", isNull, err)
	}
	r = New([]byte(`null`), "doc", errf)
	if _, err := r.Array("list", false, nil); err == nil || err.Error() != "list: must be an array, got null" {
		t.Errorf("Array of null, not nullable = %v", err)
	}
	r = New([]byte(`null`), "doc", errf)
	if _, err := r.Str("", false); err == nil || err.Error() != "doc: must be a string, got null" {
		t.Errorf("Str of null, not nullable = %v", err)
	}
	r = New([]byte(`null`), "doc", errf)
	if _, err := r.Bool("", false); err == nil || err.Error() != "doc: must be true or false, got null" {
		t.Errorf("Bool of null, not nullable = %v", err)
	}
}

func TestIsNull(t *testing.T) {
	for in, want := range map[string]bool{"null": true, " null\n": true, "": false, "nul": false, `"null"`: false, "null null": false} {
		if got := IsNull([]byte(in)); got != want {
			t.Errorf("IsNull(%q) = %v", in, got)
		}
	}
}

// FuzzReader: the Reader never panics; every error is the caller's; a
// document it accepts is valid JSON that encoding/json reads to the same
// values (strings, booleans, number texts, nesting), with no key twice.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"s": "x", "b": true, "n": 2.5, "a": [{"n": "-1"}]}`, `{"a": null, "s": null}`,
		`{"s": "a", "s": "b"}`, `{"n": 1e3}`, `{} {}`, `{"a": [{"a": [{}]}]}`, "{\"s\": \"\xff\"}", `[`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		got, err := decode(doc)
		if err != nil {
			var te *testErr
			if !errors.As(err, &te) || te.field == "" || te.reason == "" {
				t.Fatalf("%q: error %#v is not the caller's, naming a field and a reason", doc, err)
			}
			return
		}
		if !json.Valid([]byte(doc)) {
			t.Fatalf("accepted invalid JSON %q", doc)
		}
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var std map[string]any
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("encoding/json cannot read accepted %q: %v", doc, err)
		}
		if want := normalize(std); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: read %#v, encoding/json %#v", doc, got, want)
		}
	})
}

// normalize turns encoding/json's view of an accepted document into
// readDoc's: nulls as the nullable readers return them, numbers as text.
func normalize(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch k {
		case "s":
			if v == nil {
				v = ""
			}
		case "b":
			if v == nil {
				v = false
			}
		case "n":
			if n, ok := v.(json.Number); ok {
				v = string(n)
			}
		case "a":
			if list, ok := v.([]any); ok {
				var l []any
				for _, e := range list {
					l = append(l, normalize(e.(map[string]any)))
				}
				v = l
			}
		}
		out[k] = v
	}
	return out
}
