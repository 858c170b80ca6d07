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
	// Fields added after fingerprints were first stored are mixed in only
	// when set, each behind a tag of its own, so that every fingerprint
	// stored before them stays what it was.
	if e.Spender != "" {
		h = h.Byte(1).Str(e.Spender)
	}
	if e.MultiCapture {
		h = h.Byte(2)
	}
	if e.Cap != 0 {
		h = h.Byte(3).U64(uint64(e.Cap))
	}
	if e.Window != 0 {
		h = h.Byte(4).U64(uint64(e.Window)).Str(e.Zone).Str(e.Subscription)
	}
	for _, line := range e.Lines {
		h = h.Byte(5).U64(uint64(line.Action)).U64(uint64(line.Quantity)).U64(uint64(line.UnitPrice)).U64(uint64(line.Subtotal))
	}
	if e.Failure != 0 {
		h = h.Byte(6).U64(uint64(e.Failure))
	}
	var md uint64
	for k, v := range e.Metadata {
		md += fnv.New().Str(k).Str(v).Sum64()
	}
	return h.U64(md).Sum64()
}
