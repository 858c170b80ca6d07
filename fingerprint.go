package credits

import "github.com/avstudio/credits/internal/fnv"

// requestHash fingerprints what a request asked for (FNV-1a, 64 bits): a
// retry has the same fingerprint, another request under the same key
// almost surely not. Metadata counts, in any order.
func requestHash(e *Entry) uint64 {
	h := fnv.New()
	h = h.U64(uint64(e.Kind)).U64(uint64(e.Amount)).U64(uint64(e.Held)).U64(uint64(e.Source))
	h = h.U64(uint64(e.Action)).U64(uint64(e.Resolution)).U64(uint64(e.Quantity)).Str(e.PriceVersion)
	h = h.U64(uint64(e.Hold)).U64(uint64(e.Lot)).U64(uint64(e.Reverses)).U64(uint64(e.Priority))
	h = h.Time(e.ExpiresAt).Time(e.Period)
	var md uint64
	for k, v := range e.Metadata {
		md += fnv.New().Str(k).Str(v).Sum64()
	}
	return h.U64(md).Sum64()
}
