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

func checkCommon(account, key string, md map[string]string) error {
	if err := checkAccount(account); err != nil {
		return err
	}
	if key == "" {
		return inputErr("key", "", "an idempotency key is required")
	}
	if err := checkText("key", key, maxKeyLen); err != nil {
		return err
	}
	if strings.HasPrefix(key, reservedPrefix) {
		return inputErr("key", key, "keys beginning with '$' are reserved")
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

func utcMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
