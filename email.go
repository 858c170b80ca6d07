package credits

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxEmailLen is the longest address NormalizeEmail accepts, in bytes:
// RFC 5321's limit on the path that carries it (256 bytes, less the angle
// brackets).
const maxEmailLen = 254

// NormalizeEmail returns the email address s in one form for every way of
// writing it that differs only in case or surrounding white space, for use
// as a free-tier claim key ([Ledger.ClaimFreeTier]), which the ledger
// compares byte for byte: " Bob@Example.com" and "bob@example.com" both
// become "bob@example.com".
//
// It does two things: it trims the white space around s (Unicode white
// space, as [strings.TrimSpace] does), and it lower-cases all of it, the
// local part included, by Unicode's simple case mapping
// ([strings.ToLower]). RFC 5321 lets a mail server treat the local part's
// case as significant; no common provider does, and one person must not
// get two claims by writing it in capitals.
//
// It refuses, with an [*InputError] for the field "email", what is not an
// address: nothing (or only white space); no '@' with something before and
// after it (the last '@', since a quoted local part may contain one);
// control characters (such as a line feed or NUL) within it; bytes that
// are not UTF-8; more than 254 bytes once normalized.
//
// It does NOT:
//   - remove dots or "+tags": "b.o.b+news@gmail.com" and "bob@gmail.com"
//     stay two keys (Gmail delivers them to one mailbox; other providers
//     do not, and a rule for one domain would be wrong for the rest);
//   - convert an internationalized domain to or from punycode (IDNA):
//     "bob@bücher.example" and "bob@xn--bcher-kva.example" stay two keys;
//   - apply Unicode normalization (NFC, NFKC): an "é" written as one code
//     point and as "e" with a combining accent stay two keys;
//   - check the address's syntax beyond the above (RFC 5322), that its
//     domain exists or has an MX record, or that anyone reads it: verify
//     the address by sending it mail before the claim.
func NormalizeEmail(s string) (string, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return "", inputErr("email", "", "must not be empty")
	case !utf8.ValidString(t):
		return "", inputErr("email", s, "must be valid UTF-8")
	case strings.IndexFunc(t, unicode.IsControl) >= 0:
		return "", inputErr("email", s, "must not contain control characters")
	}
	t = strings.ToLower(t)
	at := strings.LastIndexByte(t, '@')
	switch {
	case len(t) > maxEmailLen:
		return "", inputErr("email", s, "longer than 254 bytes")
	case at < 0:
		return "", inputErr("email", s, "not an email address: no '@'")
	case at == 0:
		return "", inputErr("email", s, "not an email address: nothing before the '@'")
	case at == len(t)-1:
		return "", inputErr("email", s, "not an email address: nothing after the '@'")
	}
	return t, nil
}
