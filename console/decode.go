package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/avstudio/credits"
)

// maxBody is the largest write request body the API reads (a job for
// /api/estimate has DecodeJob's own limit, credits.MaxJobSize).
const maxBody = 64 << 10

// readObject decodes a request body that is one JSON object, strictly: every
// member must be one of fields (each decodes its own value), once; an
// empty body is an empty object. Errors are *credits.InputError naming
// the member.
func readObject(r *http.Request, fields map[string]func(path string, raw json.RawMessage) error) error {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody+1))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || len(data) > maxBody {
		return badRequest("body", "", fmt.Sprintf("larger than %d bytes", maxBody))
	}
	if err != nil {
		return badRequest("body", "", "could not be read")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return badRequest("body", "", "must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("body", "", "malformed JSON")
		}
		name, _ := tok.(string)
		fn, ok := fields[name]
		if !ok {
			return badRequest(name, "", "unknown field")
		}
		if seen[name] {
			return badRequest(name, "", "given twice")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return badRequest(name, "", "malformed JSON")
		}
		if string(raw) == "null" {
			continue
		}
		if err := fn(name, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return badRequest("body", "", "malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("body", "", "data after the JSON object")
	}
	return nil
}

// The decoders of one member's value, for readObject.

func amountField(dst *credits.Credits) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		var c credits.Credits
		if err := c.UnmarshalJSON(raw); err != nil {
			return badRequest(path, string(raw), "must be an amount of credits, such as 12 or \"2.5\", with at most 6 decimal places")
		}
		*dst = c
		return nil
	}
}

func stringField(dst *string) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		if err := json.Unmarshal(raw, dst); err != nil {
			return badRequest(path, string(raw), "must be a string")
		}
		return nil
	}
}

func boolField(dst *bool) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		if err := json.Unmarshal(raw, dst); err != nil {
			return badRequest(path, string(raw), "must be true or false")
		}
		return nil
	}
}

func intField(dst *int64) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return badRequest(path, string(raw), "must be a whole number")
		}
		*dst = n
		return nil
	}
}

func timeField(dst *time.Time) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return badRequest(path, string(raw), "must be an RFC 3339 instant, such as \"2026-01-02T15:04:05Z\"")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return badRequest(path, s, "must be an RFC 3339 instant, such as \"2026-01-02T15:04:05Z\"")
		}
		*dst = t
		return nil
	}
}

// textField decodes a string into a value that reads its own text form
// (an Action, a Resolution, a Source).
func textField(dst interface{ UnmarshalText([]byte) error }) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return badRequest(path, string(raw), "must be a string")
		}
		if err := dst.UnmarshalText([]byte(s)); err != nil {
			var in *credits.InputError
			if errors.As(err, &in) {
				return badRequest(path, s, in.Reason)
			}
			return badRequest(path, s, "unknown name")
		}
		return nil
	}
}

func metadataField(dst *map[string]string) func(string, json.RawMessage) error {
	return func(path string, raw json.RawMessage) error {
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return badRequest(path, "", "must be an object of strings")
		}
		*dst = m
		return nil
	}
}

// The readers of query parameters: errors are *credits.InputError naming
// the parameter.

func queryInt(r *http.Request, name string, dst *int64) error {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return badRequest(name, s, "must be a whole number")
	}
	*dst = n
	return nil
}

func queryTime(r *http.Request, name string, dst *time.Time) error {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return badRequest(name, s, "must be an RFC 3339 instant, such as 2026-01-02T15:04:05Z")
	}
	*dst = t
	return nil
}

// pathID reads a positive ID from the path.
func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, badRequest(name, s, "must be an entry's ID, a whole number from 1")
	}
	return n, nil
}
