package credits

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	maxAccountLen   = 200
	maxKeyLen       = 255
	maxMetadataKeys = 16
	maxMetadataKey  = 64
	maxMetadataVal  = 512
)

func checkAccount(account string) error {
	if err := checkText("account", account, maxAccountLen); err != nil {
		return err
	}
	if strings.HasPrefix(account, reservedPrefix) {
		return inputErr("account", account, "names beginning with '$' are reserved")
	}
	return nil
}

// checkKey accepts an idempotency key a caller may use.
func checkKey(key string) error {
	if key == "" {
		return inputErr("key", "", "an idempotency key is required")
	}
	if err := checkText("key", key, maxKeyLen); err != nil {
		return err
	}
	if strings.HasPrefix(key, reservedPrefix) {
		return inputErr("key", key, "keys beginning with '$' are reserved")
	}
	return nil
}

func checkCommon(account, key string, md map[string]string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(md) > maxMetadataKeys {
		return inputErr("metadata", "", fmt.Sprintf("has %d keys, at most %d allowed", len(md), maxMetadataKeys))
	}
	for k, v := range md {
		if err := checkText("metadata key", k, maxMetadataKey); err != nil {
			return err
		}
		if len(v) > maxMetadataVal || !utf8.ValidString(v) {
			return inputErr("metadata["+k+"]", v, fmt.Sprintf("must be valid UTF-8 of at most %d bytes", maxMetadataVal))
		}
	}
	return nil
}

// checkText accepts 1 to max bytes of UTF-8 with no control characters.
func checkText(field, s string, max int) error {
	switch {
	case s == "":
		return inputErr(field, "", "must not be empty")
	case len(s) > max:
		return inputErr(field, s, fmt.Sprintf("longer than %d bytes", max))
	case !utf8.ValidString(s):
		return inputErr(field, s, "must be valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return inputErr(field, s, "must not contain control characters")
		}
	}
	return nil
}

// The instants the ledger stores: from the first to the last microsecond
// of the years 1 to 9999, in UTC. Every backend (JSON, SQLite's unix
// microseconds, PostgreSQL's timestamptz) holds them exactly.
var (
	minInstant = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxInstant = time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)
)

// checkInstant accepts the zero time and instants the ledger can store.
func checkInstant(field string, t time.Time) error {
	if !t.IsZero() && (t.Before(minInstant) || t.After(maxInstant)) {
		return inputErr(field, t.Format(time.RFC3339Nano), "must be in the years 1 to 9999 (UTC)")
	}
	return nil
}

// checkQuery validates a history query and puts it in the form backends
// are given: a Limit (100 if none), and bounds in UTC rounded up to the
// whole microsecond (entry times are whole microseconds, so an entry is at
// or after Since exactly when it is at or after Since rounded up, and
// before Until exactly when it is before Until rounded up).
func checkQuery(q *HistoryQuery) error {
	switch {
	case q.Limit < 0 || q.Limit > maxPage:
		return inputErr("limit", fmt.Sprint(q.Limit), fmt.Sprintf("must be 0 to %d", maxPage))
	case q.Limit == 0:
		q.Limit = 100
	}
	if q.After < 0 {
		return inputErr("after", fmt.Sprint(q.After), "must not be negative")
	}
	for _, k := range q.Kinds {
		if !k.Valid() {
			return inputErr("kinds", k.String(), "unknown entry kind")
		}
	}
	if q.Spender != "" {
		if err := checkScope("spender", q.Spender); err != nil {
			return err
		}
	}
	if err := checkInstant("since", q.Since); err != nil {
		return err
	}
	if err := checkInstant("until", q.Until); err != nil {
		return err
	}
	q.Since, q.Until = ceilMicro(q.Since), ceilMicro(q.Until)
	return nil
}

// ceilMicro is t in UTC rounded up to the whole microsecond (the zero time
// stays zero).
func ceilMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	c := t.UTC().Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c
}

func utcMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
