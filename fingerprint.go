package credits

import "time"

// requestHash fingerprints what a request asked for (FNV-1a, 64 bits): a
// retry has the same fingerprint, another request under the same key
// almost surely not. Metadata counts, in any order.
func requestHash(e *Entry) uint64 {
	h := newFNV()
	h = h.u64(uint64(e.Kind)).u64(uint64(e.Amount)).u64(uint64(e.Held)).u64(uint64(e.Source))
	h = h.u64(uint64(e.Action)).u64(uint64(e.Resolution)).u64(uint64(e.Quantity)).str(e.PriceVersion)
	h = h.u64(uint64(e.Hold)).u64(uint64(e.Lot)).u64(uint64(e.Reverses)).u64(uint64(e.Priority))
	h = h.time(e.ExpiresAt).time(e.Period)
	var md uint64
	for k, v := range e.Metadata {
		md += uint64(newFNV().str(k).str(v))
	}
	return uint64(h.u64(md))
}

type fnv uint64

func newFNV() fnv { return 14695981039346656037 }

func (h fnv) u64(v uint64) fnv {
	for i := 0; i < 8; i++ {
		h ^= fnv(v & 0xff)
		h *= 1099511628211
		v >>= 8
	}
	return h
}

func (h fnv) str(s string) fnv {
	h = h.u64(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		h ^= fnv(s[i])
		h *= 1099511628211
	}
	return h
}

func (h fnv) time(t time.Time) fnv {
	if t.IsZero() {
		return h.u64(0)
	}
	return h.u64(uint64(t.UnixMicro()))
}
