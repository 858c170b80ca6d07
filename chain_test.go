package credits_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/avstudio/credits"
)

// fullEntry has every field of an Entry set.
func fullEntry() credits.Entry {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	return credits.Entry{
		Account: "studio ✓", ID: 7, Kind: credits.KindGrant, Time: at,
		Amount: 5, Held: -2, BalanceAfter: 9, Source: credits.SourceSubscription,
		Action: credits.VideoGeneration, Resolution: credits.Res4K, Quantity: 3, PriceVersion: "v1",
		Spender: "key_7", MultiCapture: true, Lines: []credits.EstimateLine{{Action: credits.Render, Quantity: 1, UnitPrice: 10, Subtotal: 10}},
		Failure: credits.FailureProvider, Cap: 11, Window: credits.WindowDay, Zone: "Europe/Paris",
		Hold: 4, Lot: 5, Reverses: 6, Priority: -7, ExpiresAt: at.Add(time.Hour), Period: at.Add(-time.Hour), PeriodEnd: at.Add(24 * time.Hour),
		Subscription: "pro", Plan: "Pro", Carried: 40, Claim: "a@example.com",
		Notice: credits.NoticeExpiring, Value: 8,
		Key: "k", RequestHash: 1<<64 - 1, Metadata: map[string]string{"b": "2", "a": "1"},
	}
}

// TestChainGolden pins version 1 of the algorithm: a change to the
// encoding changes every stored hash, and must come as a new version.
// go test -run ChainGolden -update . rewrites it (for a new version only).
func TestChainGolden(t *testing.T) {
	e := fullEntry()
	first := credits.HashEntry(credits.Hash{}, &e)
	e.ID++
	second := credits.HashEntry(first, &e)
	got := []byte(fmt.Sprintf("first  %s\nsecond %s\n", first, second))
	path := filepath.Join("testdata", "chain_v1.golden")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the chain's hashes changed (version %d):\n%s\nwant:\n%s", credits.ChainVersion, got, want)
	}
}

// TestChainCoversEveryField changes each field of an Entry but Hash in
// turn: every change must change the hash, so that a field added to Entry
// but not to the encoding fails here.
func TestChainCoversEveryField(t *testing.T) {
	base := fullEntry()
	h := credits.HashEntry(credits.Hash{}, &base)
	typ := reflect.TypeFor[credits.Entry]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Hash" {
			continue
		}
		e := fullEntry()
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Int64, reflect.Int32:
			v.SetInt(v.Int() + 1)
		case reflect.Uint8, reflect.Uint64:
			v.SetUint(v.Uint() - 1)
		case reflect.Map:
			v.Set(reflect.ValueOf(map[string]string{"a": "1"}))
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Slice: // Lines
			l := e.Lines[0]
			for _, change := range []func(*credits.EstimateLine){
				func(l *credits.EstimateLine) { l.Action = credits.ChatMessage },
				func(l *credits.EstimateLine) { l.Quantity++ },
				func(l *credits.EstimateLine) { l.UnitPrice++ },
				func(l *credits.EstimateLine) { l.Subtotal++ },
			} {
				c := l
				change(&c)
				e.Lines = []credits.EstimateLine{c}
				if credits.HashEntry(credits.Hash{}, &e) == h {
					t.Errorf("changing a field of a line of Lines (%+v) does not change the hash", c)
				}
			}
			e.Lines = []credits.EstimateLine{l, l}
		case reflect.Struct: // time.Time
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Microsecond)))
		default:
			t.Fatalf("field %s: kind %s: teach this test to change it", f.Name, v.Kind())
		}
		if credits.HashEntry(credits.Hash{}, &e) == h {
			t.Errorf("changing %s does not change the hash: add it to the chain's encoding (as a new ChainVersion)", f.Name)
		}
	}
	// Metadata is hashed whatever the map's order; the previous hash counts.
	e := fullEntry()
	e.Metadata = map[string]string{"a": "1", "b": "2"}
	if credits.HashEntry(credits.Hash{}, &e) != h {
		t.Error("the hash depends on the order of the metadata map")
	}
	if credits.HashEntry(credits.Hash{1}, &e) == h {
		t.Error("the previous hash does not change the hash")
	}
	// A zero instant and the instant of Unix time 0 differ.
	a, b := fullEntry(), fullEntry()
	a.ExpiresAt, b.ExpiresAt = time.Time{}, time.Unix(0, 0).UTC()
	if credits.HashEntry(credits.Hash{}, &a) == credits.HashEntry(credits.Hash{}, &b) {
		t.Error("a zero ExpiresAt hashes as the Unix epoch")
	}
	// Strings are length-prefixed: moving bytes between fields changes it.
	a, b = fullEntry(), fullEntry()
	a.Subscription, a.Plan = "ab", "c"
	b.Subscription, b.Plan = "a", "bc"
	if credits.HashEntry(credits.Hash{}, &a) == credits.HashEntry(credits.Hash{}, &b) {
		t.Error("moving a byte from one string field to the next keeps the hash")
	}
}

func TestHashText(t *testing.T) {
	e := fullEntry()
	h := credits.HashEntry(credits.Hash{}, &e)
	b, err := h.MarshalText()
	if err != nil || string(b) != h.String() || len(b) != 64 {
		t.Fatalf("MarshalText: %q, %v", b, err)
	}
	var back credits.Hash
	if err := back.UnmarshalText(bytes.ToUpper(b)); err != nil || back != h {
		t.Fatalf("UnmarshalText of upper case: %v, %v", back, err)
	}
	if b, _ := (credits.Hash{}).MarshalText(); len(b) != 0 {
		t.Fatalf("the zero Hash marshals as %q", b)
	}
	for _, bad := range []string{"12", string(b[:63]) + "g", string(b) + "00"} {
		if err := back.UnmarshalText([]byte(bad)); err == nil || back != h {
			t.Errorf("UnmarshalText(%q): %v, left %s", bad, err, back)
		}
	}
}

func FuzzHashText(f *testing.F) {
	f.Add("")
	f.Add("00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		var h credits.Hash
		if err := h.UnmarshalText([]byte(s)); err != nil {
			if !h.IsZero() {
				t.Fatalf("a failed UnmarshalText changed the hash to %s", h)
			}
			return
		}
		b, err := h.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var again credits.Hash
		if err := again.UnmarshalText(b); err != nil || again != h {
			t.Fatalf("%q: round trip through %q gave %s, %v", s, b, again, err)
		}
	})
}

// TestChainAsDocumented computes the hash of fullEntry from the
// algorithm's documentation (chain.go), byte by byte, apart from the
// package's own encoder: what the documentation says is what is hashed.
func TestChainAsDocumented(t *testing.T) {
	var b []byte
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	num := func(v int64) { b = binary.BigEndian.AppendUint64(b, uint64(v)) }
	at := func(v time.Time) {
		if v.IsZero() {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		num(v.UnixMicro())
	}
	e := fullEntry()
	b = append(b, "credits/chain/v1\n"...)
	b = append(b, make([]byte, 32)...)
	str("studio ✓")
	num(7)
	str("grant")
	at(e.Time)
	num(5)
	num(-2)
	num(9)
	str("subscription")
	str("video_generation")
	str("4k")
	num(3)
	str("v1")
	str("key_7")
	b = append(b, 1) // MultiCapture
	b = binary.AppendUvarint(b, 1)
	str("render")
	num(1)
	num(10)
	num(10)
	str("provider_failure")
	num(11)
	str("day")
	str("Europe/Paris")
	num(4)
	num(5)
	num(6)
	num(-7)
	at(e.ExpiresAt)
	at(e.Period)
	at(e.PeriodEnd)
	str("pro")
	str("Pro")
	num(40)
	str("a@example.com")
	str("expiring")
	num(8)
	str("k")
	num(-1) // RequestHash 1<<64-1
	b = binary.AppendUvarint(b, 2)
	str("a")
	str("1")
	str("b")
	str("2")
	if got, want := credits.HashEntry(credits.Hash{}, &e), credits.Hash(sha256.Sum256(b)); got != want {
		t.Fatalf("HashEntry = %s, the documented algorithm gives %s", got, want)
	}
}
