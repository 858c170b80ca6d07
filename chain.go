package credits

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// The chain. Every entry the Ledger writes carries a [Hash]: SHA-256 over
// the hash of the account's entry before it and a canonical encoding of
// its own fields. Changing, removing, reordering or inserting an entry
// behind the ledger's back breaks the chain at that entry, which
// [Ledger.Verify] reports; the account's state holds the hash of its last
// entry, so a state that does not match the tail of its history is found
// too, by Verify and, on every write, by a durable backend that checks the
// last entry (see [AccountState.CheckLast]).
//
// # Algorithm, version 1
//
// hash(e) = SHA-256(
//
//	"credits/chain/v1\n" ||
//	hash of the entry before (32 zero bytes for the first entry of the chain) ||
//	encoding of e)
//
// The encoding is every field of the Entry but Hash, in the order the
// struct declares them, each as:
//
//   - a string (Account, PriceVersion, Spender, Zone, Subscription, Plan,
//     Claim, Key, and the names of Kind, Source, Action, Resolution,
//     Failure, Window and Notice, as their String methods print them, ""
//     for none): its length as an unsigned varint (encoding/binary's
//     AppendUvarint), then its bytes;
//   - an integer (ID, the Credits fields in micro-credits, Quantity, Hold,
//     Lot, Reverses, Priority, RequestHash): 8 bytes, big-endian, two's
//     complement;
//   - a boolean (MultiCapture): one byte, 1 for true, 0 for false;
//   - Lines: the number of lines as an unsigned varint, then each line's
//     Action (a string), Quantity, UnitPrice and Subtotal (integers);
//   - an instant (Time, ExpiresAt, Period, PeriodEnd): one byte 0 for the
//     zero time, or 1 followed by its Unix time in microseconds as an
//     integer;
//   - Metadata: the number of pairs as an unsigned varint, then each key
//     and its value as strings, keys in ascending byte order.
//
// Hashes are computed by the Ledger, never by a backend, and are the same
// on every backend. A hash's text form is its 64 lowercase hex digits.
//
// The chain of an account starts at its first entry written by a release
// that has it: entries written before (v0.1.0 and earlier) have the zero
// Hash, and the first hashed entry links to 32 zero bytes. Verify accepts
// such a prefix, and nothing else without a hash. A chain proves that an
// account's history is the one its state was built from, not that the
// database as a whole was not replaced: record the head hash that Verify
// reports somewhere else (a log, another system) to anchor it.

// ChainVersion is the version of the chain algorithm entries are hashed
// with.
const ChainVersion = 1

// Hash is an entry's link in its account's chain: SHA-256 over the hash of
// the entry before it and its own fields (see ChainVersion). The zero Hash
// is an entry written before the chain.
type Hash [sha256.Size]byte

// IsZero reports whether h is the zero Hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// String returns the 64 lowercase hex digits of h.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText returns h's hex digits, or nothing for the zero Hash.
func (h Hash) MarshalText() ([]byte, error) {
	if h.IsZero() {
		return []byte{}, nil
	}
	return hex.AppendEncode(nil, h[:]), nil
}

// UnmarshalText parses 64 hex digits (either case), or "" for the zero Hash.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*h = Hash{}
		return nil
	}
	var n Hash
	if len(b) != 2*len(n) {
		return inputErr("hash", string(b), "want 64 hex digits")
	}
	if _, err := hex.Decode(n[:], b); err != nil {
		return inputErr("hash", string(b), "want 64 hex digits")
	}
	*h = n
	return nil
}

// HashEntry returns the hash of e following the hash prev of the entry
// before it (the zero Hash for the first entry of a chain). e.Hash is not
// read.
func HashEntry(prev Hash, e *Entry) Hash {
	var buf [512]byte
	b := append(buf[:0], "credits/chain/v1\n"...)
	b = append(b, prev[:]...)
	b = encodeEntry(b, e)
	return sha256.Sum256(b)
}

// encodeEntry appends the canonical encoding of e (every field but Hash).
func encodeEntry(b []byte, e *Entry) []byte {
	b = chainString(b, e.Account)
	b = chainInt(b, e.ID)
	b = chainString(b, e.Kind.String())
	b = chainTime(b, e.Time)
	b = chainInt(b, int64(e.Amount))
	b = chainInt(b, int64(e.Held))
	b = chainInt(b, int64(e.BalanceAfter))
	b = chainString(b, e.Source.String())
	b = chainString(b, e.Action.String())
	b = chainString(b, e.Resolution.String())
	b = chainInt(b, e.Quantity)
	b = chainString(b, e.PriceVersion)
	b = chainString(b, e.Spender)
	b = chainBool(b, e.MultiCapture)
	b = binary.AppendUvarint(b, uint64(len(e.Lines)))
	for _, l := range e.Lines {
		b = chainString(b, l.Action.String())
		b = chainInt(b, l.Quantity)
		b = chainInt(b, int64(l.UnitPrice))
		b = chainInt(b, int64(l.Subtotal))
	}
	b = chainString(b, e.Failure.String())
	b = chainInt(b, int64(e.Cap))
	b = chainString(b, e.Window.String())
	b = chainString(b, e.Zone)
	b = chainInt(b, e.Hold)
	b = chainInt(b, e.Lot)
	b = chainInt(b, e.Reverses)
	b = chainInt(b, int64(e.Priority))
	b = chainTime(b, e.ExpiresAt)
	b = chainTime(b, e.Period)
	b = chainTime(b, e.PeriodEnd)
	b = chainString(b, e.Subscription)
	b = chainString(b, e.Plan)
	b = chainInt(b, int64(e.Carried))
	b = chainString(b, e.Claim)
	b = chainString(b, e.Notice.String())
	b = chainInt(b, int64(e.Value))
	b = chainString(b, e.Key)
	b = chainInt(b, int64(e.RequestHash))
	b = binary.AppendUvarint(b, uint64(len(e.Metadata)))
	if len(e.Metadata) > 0 {
		keys := make([]string, 0, len(e.Metadata))
		for k := range e.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = chainString(b, k)
			b = chainString(b, e.Metadata[k])
		}
	}
	return b
}

func chainString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func chainBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func chainInt(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }

func chainTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return chainInt(append(b, 1), t.UnixMicro())
}

// chain sets the hashes of entries, just decided on s, whose last entry
// before them had the hash prev, and records the chain's new tail in s.
func (s *AccountState) chain(prev Hash, entries []Entry) {
	if len(entries) == 0 {
		return
	}
	start := prev
	for i := range entries {
		entries[i].Hash = HashEntry(prev, &entries[i])
		prev = entries[i].Hash
	}
	s.lastHash = prev
	if len(entries) > 1 {
		s.prevHash = entries[len(entries)-2].Hash
	} else {
		s.prevHash = start
	}
}

// CheckLast checks the account's last entry, as a durable backend reads it
// with the state, against the state: its ID is the state's Version, its
// Hash the one the state recorded, and its fields hash to it. A mismatch
// is a [*CorruptError]: the entry, or the state, was changed, or the
// entry removed, behind the ledger's back. A backend that checks calls it
// with nil when the account has no entry under the state's Version.
func (s *AccountState) CheckLast(account string, last *Entry) error {
	if s.lastID == 0 {
		if last != nil {
			return &CorruptError{Account: account, Entry: last.ID, Reason: "an entry of an account whose state has none"}
		}
		return nil
	}
	switch {
	case last == nil:
		return &CorruptError{Account: account, Entry: s.lastID, Reason: "the state's last entry is missing"}
	case last.ID != s.lastID:
		return &CorruptError{Account: account, Entry: last.ID, Reason: fmt.Sprintf("the last entry is not the state's last, %d", s.lastID)}
	case last.Hash != s.lastHash:
		return &CorruptError{Account: account, Entry: last.ID, Reason: fmt.Sprintf("hash %s, the state recorded %s", hashText(last.Hash), hashText(s.lastHash))}
	case !last.Hash.IsZero() && HashEntry(s.prevHash, last) != last.Hash:
		return &CorruptError{Account: account, Entry: last.ID, Reason: "its fields do not match its hash"}
	}
	return nil
}

// hashText is h's hex digits, or "none" for the zero Hash.
func hashText(h Hash) string {
	if h.IsZero() {
		return "none"
	}
	return h.String()
}
