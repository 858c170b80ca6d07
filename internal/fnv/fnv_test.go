package fnv

import (
	"encoding/binary"
	stdfnv "hash/fnv"
	"testing"
	"time"
)

// The published FNV-1a 64 test vectors (draft-eastlake-fnv).
func TestVectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
	} {
		if got := New().Raw(tc.in).Sum64(); got != tc.want {
			t.Errorf("Raw(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
		h := New()
		for i := 0; i < len(tc.in); i++ {
			h = h.Byte(tc.in[i])
		}
		if got := h.Sum64(); got != tc.want {
			t.Errorf("Byte by byte %q = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

// The field encodings: what each method mixes in, as bytes.
func TestFields(t *testing.T) {
	le := func(v uint64) string {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		return string(b[:])
	}
	at := time.Date(2025, 6, 1, 12, 30, 0, 5000, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		name string
		got  Hash
		raw  string
	}{
		{"U64", New().U64(0x0102030405060708), le(0x0102030405060708)},
		{"Str", New().Str("héllo"), le(6) + "héllo"},
		{"empty Str", New().Str(""), le(0)},
		{"Time", New().Time(at), le(uint64(at.UnixMicro()))},
		{"zero Time", New().Time(time.Time{}), le(0)},
		{"negative U64", New().U64(uint64(1<<64 - 3)), le(1<<64 - 3)},
	} {
		if want := New().Raw(tc.raw); tc.got != want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got.Sum64(), want.Sum64())
		}
	}
	if New().Str("ab").Str("c") == New().Str("a").Str("bc") {
		t.Error(`Str("ab").Str("c") equals Str("a").Str("bc")`)
	}
	if New().Time(at) != New().Time(at.UTC().Add(999)) {
		t.Error("Time depends on the location or on nanoseconds below the microsecond")
	}
}

func TestDoesNotAllocate(t *testing.T) {
	s := "https://cdn.example.com/a.mp4"
	if n := testing.AllocsPerRun(100, func() {
		_ = New().Raw(s).Str(s).U64(7).Time(time.Unix(1, 0)).Sum64()
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzRaw: Raw and Byte are hash/fnv's FNV-1a, for any bytes and any split.
func FuzzRaw(f *testing.F) {
	f.Add("", 0)
	f.Add("foobar", 3)
	f.Add("\x00\xff", 1)
	f.Fuzz(func(t *testing.T, s string, split int) {
		std := stdfnv.New64a()
		std.Write([]byte(s))
		want := std.Sum64()
		if got := New().Raw(s).Sum64(); got != want {
			t.Fatalf("Raw(%q) = %#x, hash/fnv %#x", s, got, want)
		}
		if split < 0 {
			split = -split
		}
		if len(s) > 0 {
			split %= len(s) + 1
		} else {
			split = 0
		}
		if got := New().Raw(s[:split]).Raw(s[split:]).Sum64(); got != want {
			t.Fatalf("Raw split at %d = %#x, want %#x", split, got, want)
		}
		h := New()
		for i := 0; i < len(s); i++ {
			h = h.Byte(s[i])
		}
		if h.Sum64() != want {
			t.Fatalf("Byte by byte = %#x, want %#x", h.Sum64(), want)
		}
	})
}
