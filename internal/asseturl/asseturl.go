// Package asseturl validates the remote asset URLs of public-API jobs and
// tells when two name the same asset, without net/url and without
// allocating: the estimator runs it on every URL of every request.
//
// The rules (the credits package documents them on RemoteAsset): http or
// https; printable ASCII only (the characters " < > \ ^ ` { | } and
// anything else must be percent-encoded); a host that is a name of
// letters, digits, - . _ ~ or a bracketed IPv6 literal (of which only
// the characters are checked: hex digits, ':' and '.'); no user
// credentials; a port of 1 to 5 digits, if any; well-formed %XX escapes.
// Two URLs name the same asset when they are equal once the scheme and
// host are lower-cased and the fragment (#...) is dropped.
package asseturl

import (
	"fmt"
	"math"
	"strings"

	"github.com/avstudio/credits/internal/fnv"
)

// Parts locates the parts of a URL that [Parse] accepted, as offsets into
// it: s[:hostEnd] is "scheme://host[:port]", s[hostEnd:pathEnd] the path,
// s[pathEnd:fragStart] the query (with its '?'), s[fragStart:] the
// fragment (with its '#'). It holds no pointer, so arrays of Parts are
// cheap to clear and fill; its methods take the URL it was parsed from.
type Parts struct {
	hostEnd, pathEnd, fragStart int32
}

// Classes of URL bytes.
const (
	allowed = 1 << iota // may appear unescaped in an asset URL
	hostCh              // may appear in a host name: letters, digits, - . _ ~
	hexCh               // a hexadecimal digit
	special             // '%', '?' or '#': Parse looks closer
)

// byteClass is a read-only lookup table built once.
var byteClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] |= allowed | hostCh | hexCh
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= allowed | hostCh
		t[c-'a'+'A'] |= allowed | hostCh
	}
	for _, c := range "abcdefABCDEF" {
		t[c] |= hexCh
	}
	for _, c := range "-._~" {
		t[c] |= allowed | hostCh
	}
	for _, c := range ":/[]@!$&'()*+,;=" {
		t[c] |= allowed
	}
	for _, c := range "%?#" {
		t[c] |= allowed | special
	}
	return t
}()

// Parse validates s as an asset URL of at most maxLen bytes (maxLen is
// capped at math.MaxInt32) and returns its parts, or a reason it is
// refused, in a few words: "required", "has no host", "contains a
// non-ASCII byte (percent-encode it)"... It does not allocate on success.
func Parse(s string, maxLen int) (Parts, string) {
	maxLen = min(maxLen, math.MaxInt32)
	if s == "" {
		return Parts{}, "required"
	}
	if len(s) > maxLen {
		return Parts{}, fmt.Sprintf("%d bytes: longer than %d bytes", len(s), maxLen)
	}
	start := 0
	if len(s) >= 7 && s[0]|0x20 == 'h' && s[1]|0x20 == 't' && s[2]|0x20 == 't' && s[3]|0x20 == 'p' {
		switch {
		case s[4:7] == "://":
			start = 7
		case len(s) >= 8 && s[4]|0x20 == 's' && s[5:8] == "://":
			start = 8
		}
	}
	if start == 0 {
		return Parts{}, "must be an http:// or https:// URL"
	}
	tbl := &byteClass

	// The authority, up to the first '/', '?' or '#'. Plain host names take
	// the fast loop; a port, an IPv6 literal or anything odd is checked by
	// checkAuthority.
	i := start
	for i < len(s) && tbl[s[i]]&hostCh != 0 {
		i++
	}
	if i == len(s) || s[i] == '/' || s[i] == '?' || s[i] == '#' {
		if i == start {
			return Parts{}, "has no host"
		}
	} else {
		for i < len(s) && s[i] != '/' && s[i] != '?' && s[i] != '#' {
			if tbl[s[i]]&allowed == 0 {
				return Parts{}, badByte(s[i])
			}
			i++
		}
		if reason := checkAuthority(s[start:i]); reason != "" {
			return Parts{}, reason
		}
	}
	hostEnd, pathEnd, fragStart := i, len(s), len(s)

	// The path, query and fragment.
	for i < len(s) {
		c := s[i]
		cls := tbl[c]
		if cls&(allowed|special) == allowed {
			i++
			continue
		}
		switch {
		case cls == 0:
			return Parts{}, badByte(c)
		case c == '%':
			if i+2 >= len(s) || tbl[s[i+1]]&hexCh == 0 || tbl[s[i+2]]&hexCh == 0 {
				return Parts{}, "has a malformed %-escape"
			}
			i += 2
		case c == '?':
			pathEnd = min(pathEnd, i)
		case c == '#':
			pathEnd = min(pathEnd, i)
			fragStart = min(fragStart, i)
		}
		i++
	}
	return Parts{hostEnd: int32(hostEnd), pathEnd: int32(pathEnd), fragStart: int32(fragStart)}, ""
}

// badByte says why c may not appear in an asset URL.
func badByte(c byte) string {
	switch {
	case c <= ' ' || c == 0x7f:
		return "contains a space or control character"
	case c >= 0x80:
		return "contains a non-ASCII byte (percent-encode it)"
	default:
		return fmt.Sprintf("contains %q, which must be percent-encoded", c)
	}
}

// checkAuthority checks the "host[:port]" part of an asset URL: a host name
// (letters, digits, - . _ ~) or a bracketed IPv6 literal, then optionally a
// port of 1 to 5 digits. User credentials (user@) are refused.
func checkAuthority(a string) string {
	if a == "" {
		return "has no host"
	}
	if strings.IndexByte(a, '@') >= 0 {
		return "must not contain credentials (user@host)"
	}
	var port string
	if a[0] == '[' { // an IPv6 literal
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "has a malformed host"
		}
		for i := 1; i < end; i++ {
			if c := a[i]; byteClass[c]&hexCh == 0 && c != ':' && c != '.' {
				return "has a malformed host"
			}
		}
		if end == 1 {
			return "has no host"
		}
		port = a[end+1:]
	} else {
		host := a
		if i := strings.IndexByte(a, ':'); i >= 0 {
			host, port = a[:i], a[i:]
		}
		if host == "" {
			return "has no host"
		}
		for i := 0; i < len(host); i++ {
			if byteClass[host[i]]&hostCh == 0 {
				return "has a malformed host"
			}
		}
	}
	if port == "" {
		return ""
	}
	if port[0] != ':' || len(port) < 2 || len(port) > 6 {
		return "has a malformed port"
	}
	for i := 1; i < len(port); i++ {
		if c := port[i]; c < '0' || c > '9' {
			return "has a malformed port"
		}
	}
	return ""
}

// Path returns the path of s, the URL p was parsed from: "/a/b.mp4" of
// "https://x.example/a/b.mp4?v=1#t", "" of "https://x.example".
func (p Parts) Path(s string) string { return s[p.hostEnd:p.pathEnd] }

// Same reports whether URLs a and b (parsed into pa and pb) name the same
// asset: equal after lower-casing scheme and host, fragment ignored.
func Same(a string, pa Parts, b string, pb Parts) bool {
	return pa.hostEnd == pb.hostEnd && pa.fragStart == pb.fragStart &&
		a[pa.hostEnd:pa.fragStart] == b[pb.hostEnd:pb.fragStart] &&
		strings.EqualFold(a[:pa.hostEnd], b[:pb.hostEnd])
}

// Hash returns a 64-bit FNV-1a hash of what [Same] compares in s, the URL
// p was parsed from (scheme and host lower-cased, then path and query),
// without allocating: URLs that are the same have the same hash.
func (p Parts) Hash(s string) uint64 {
	h := fnv.New()
	for i := int32(0); i < p.hostEnd; i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = h.Byte(c)
	}
	return h.Raw(s[p.hostEnd:p.fragStart]).Sum64()
}
