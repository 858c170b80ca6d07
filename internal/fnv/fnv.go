// Package fnv is the one 64-bit FNV-1a hash of the credits packages: the
// fingerprints the ledger stores with every entry (so its values must
// never change), the memory backend's account shards and the public-API
// estimator's duplicate-URL lookup.
//
// A [Hash] is a value: each method returns the hash with more data mixed
// in, so a fingerprint reads as one expression and nothing allocates.
//
//	h := fnv.New().Str(name).U64(uint64(amount)).Time(at)
//	key := h.Sum64()
//
// Hashing bytes with [Hash.Byte] or [Hash.Raw] gives the standard FNV-1a
// of those bytes, as hash/fnv.New64a does. [Hash.Str], [Hash.U64] and
// [Hash.Time] hash values as fields: a string with its length first, so
// that ("ab", "c") and ("a", "bc") differ; a number as its 8 bytes, least
// significant first.
package fnv

import "time"

// Hash is a 64-bit FNV-1a hash in progress. Start one with [New]; the zero
// Hash is not the FNV-1a starting value.
type Hash uint64

const (
	offset64 = 14695981039346656037
	prime64  = 1099511628211
)

// New returns the FNV-1a hash of no data.
func New() Hash { return offset64 }

// Byte returns h with the byte c mixed in.
func (h Hash) Byte(c byte) Hash {
	return (h ^ Hash(c)) * prime64
}

// Raw returns h with the bytes of s mixed in, and nothing else: Raw("ab")
// equals Raw("a").Raw("b").
func (h Hash) Raw(s string) Hash {
	for i := 0; i < len(s); i++ {
		h = (h ^ Hash(s[i])) * prime64
	}
	return h
}

// Str returns h with the string s mixed in as one field: its length (as
// [Hash.U64]), then its bytes.
func (h Hash) Str(s string) Hash {
	return h.U64(uint64(len(s))).Raw(s)
}

// U64 returns h with v mixed in as 8 bytes, least significant first.
func (h Hash) U64(v uint64) Hash {
	for i := 0; i < 8; i++ {
		h = (h ^ Hash(v&0xff)) * prime64
		v >>= 8
	}
	return h
}

// Time returns h with the instant t mixed in as its Unix time in
// microseconds (the precision the ledger keeps), or 0 for the zero
// time.Time, as [Hash.U64].
func (h Hash) Time(t time.Time) Hash {
	if t.IsZero() {
		return h.U64(0)
	}
	return h.U64(uint64(t.UnixMicro()))
}

// Sum64 returns the hash value.
func (h Hash) Sum64() uint64 { return uint64(h) }
