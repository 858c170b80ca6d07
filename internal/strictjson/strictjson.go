// Package strictjson reads one JSON document token by token, for the
// credits package's strict decoders (price tables and books, public-API
// jobs): every unknown field, duplicate field, wrong type and trailing
// byte is an error naming its exact path, such as "remote_assets[3].url".
// Numbers are kept as text, never float64.
//
// The caller decides what an error is: every error a [Reader] returns is
// made by the function given to [New], so the credits package's errors
// stay its own *InputError values.
//
// A decoder walks the document in the order it expects it, giving each
// value's path:
//
//	r := strictjson.New(data, "job", inputErr)
//	err := r.Object("", func(key, path string) error {
//		switch key {
//		case "prompt":
//			prompt, err = r.Str(path, true)
//			return err
//		}
//		return inputErr(path, "", "unknown field")
//	})
//	if err == nil {
//		err = r.End()
//	}
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxDecimalLen is the longest number [Reader.DecimalText] accepts, in
// bytes.
const MaxDecimalLen = 40

// Reader reads one JSON document. It is not safe for concurrent use.
type Reader struct {
	dec     *json.Decoder
	root    string // names the whole document in errors about it
	errf    func(field, value, reason string) error
	started bool // a token has been read
}

// New returns a Reader of data. root names the whole document in errors
// that are about no one field ("job: empty document"), and in errors about
// the value at path "" (the top-level value). errf makes every error the
// Reader returns, from the field at fault, the offending value ("" when
// there is none to show) and the reason.
func New(data []byte, root string, errf func(field, value, reason string) error) *Reader {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return &Reader{dec: dec, root: root, errf: errf}
}

// IsNull reports whether data is the JSON literal null, with or without
// white space around it.
func IsNull(data []byte) bool {
	return string(bytes.TrimSpace(data)) == "null"
}

// field names the value at path in errors: the root for the top level.
func (r *Reader) field(path string) string {
	if path == "" {
		return r.root
	}
	return path
}

// token returns the next token. Malformed JSON and a premature end are
// errors about the root.
func (r *Reader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if err == nil {
		r.started = true
		return tok, nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return nil, r.errf(r.root, "", fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error()))
	case err == io.EOF && !r.started:
		return nil, r.errf(r.root, "", "empty document")
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, r.errf(r.root, "", "malformed JSON: unexpected end of input")
	default:
		return nil, r.errf(r.root, "", "malformed JSON: "+err.Error())
	}
}

// End checks that nothing but white space follows the document. Call it
// once the top-level value is read.
func (r *Reader) End() error {
	end := r.dec.InputOffset()
	if _, err := r.dec.Token(); err != io.EOF {
		return r.errf(r.root, "", fmt.Sprintf("unexpected data after the JSON value, which ends at byte %d", end))
	}
	return nil
}

// describe names the kind of a token, for "must be X, got Y" errors.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// joinPath returns the path of key in the object at path; an empty key
// shows as "" so that every error names a field.
func joinPath(path, key string) string {
	if key == "" {
		key = `""`
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// Object reads an object at path, calling fn with each key and its path
// (path.key, or key at the top level); fn must read the key's value, or
// return an error. A duplicate key is an error naming it, before fn sees
// it again.
func (r *Reader) Object(path string, fn func(key, path string) error) error {
	tok, err := r.token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return r.errf(r.field(path), "", "must be an object, got "+describe(tok))
	}
	var seen []string
	for {
		tok, err := r.token()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			return nil
		}
		key, _ := tok.(string) // the decoder only returns strings as keys
		for _, k := range seen {
			if k == key {
				return r.errf(joinPath(path, key), "", "duplicate field")
			}
		}
		seen = append(seen, key)
		if err := fn(key, joinPath(path, key)); err != nil {
			return err
		}
	}
}

// Array reads an array at path (or, when nullable, null, reporting
// isNull), calling fn with each element's index and path (path[i]); fn
// must read the element, or return an error.
func (r *Reader) Array(path string, nullable bool, fn func(i int, path string) error) (isNull bool, err error) {
	tok, err := r.token()
	if err != nil {
		return false, err
	}
	if tok == nil && nullable {
		return true, nil
	}
	if tok != json.Delim('[') {
		return false, r.errf(r.field(path), "", "must be an array, got "+describe(tok))
	}
	for i := 0; ; i++ {
		if !r.dec.More() {
			if _, err := r.token(); err != nil { // the closing ']'
				return false, err
			}
			return false, nil
		}
		if err := fn(i, path+"["+strconv.Itoa(i)+"]"); err != nil {
			return false, err
		}
	}
}

// Str reads a string at path (or, when nullable, null, read as "").
func (r *Reader) Str(path string, nullable bool) (string, error) {
	tok, err := r.token()
	if err != nil {
		return "", err
	}
	switch v := tok.(type) {
	case string:
		return v, nil
	case nil:
		if nullable {
			return "", nil
		}
	}
	return "", r.errf(r.field(path), "", "must be a string, got "+describe(tok))
}

// Bool reads true or false at path (or, when nullable, null, read as
// false).
func (r *Reader) Bool(path string, nullable bool) (bool, error) {
	tok, err := r.token()
	if err != nil {
		return false, err
	}
	switch v := tok.(type) {
	case bool:
		return v, nil
	case nil:
		if nullable {
			return false, nil
		}
	}
	return false, r.errf(r.field(path), "", "must be true or false, got "+describe(tok))
}

// DecimalText reads a number at path, or a string holding one, as text.
// Only digits, '.' and '-' are accepted (no exponent, no '+', no white
// space), at most [MaxDecimalLen] bytes, which keeps the decimal
// arithmetic that follows small. The text is not checked further: the
// caller parses it ("1.2.3" and "-" pass here).
func (r *Reader) DecimalText(path string) (string, error) {
	tok, err := r.token()
	if err != nil {
		return "", err
	}
	var s string
	switch v := tok.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	default:
		return "", r.errf(r.field(path), "", "must be a number, got "+describe(tok))
	}
	if len(s) > MaxDecimalLen {
		return "", r.errf(r.field(path), s, "too many digits")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' && c != '-' {
			return "", r.errf(r.field(path), s, "must be a plain decimal number")
		}
	}
	return s, nil
}
