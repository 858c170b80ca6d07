package credits_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/avstudio/credits"
)

func TestNormalizeEmail(t *testing.T) {
	long := strings.Repeat("a", 254-len("@example.com")) + "@example.com" // 254 bytes
	for _, tc := range []struct {
		in, want string
	}{
		{"bob@example.com", "bob@example.com"},
		{"Bob@Example.com", "bob@example.com"},
		{"  BOB@EXAMPLE.COM\t\r\n", "bob@example.com"},
		{"\u00a0bob@example.com\u2003", "bob@example.com"}, // Unicode white space, too
		{"Ana.María+Promo@Correo.Example", "ana.maría+promo@correo.example"},
		// What it does not do: dots and +tags stay, and so do the forms of
		// an internationalized domain.
		{"B.O.B+news@Gmail.com", "b.o.b+news@gmail.com"},
		{"bob@BÜCHER.example", "bob@bücher.example"},
		{"bob@xn--bcher-kva.example", "bob@xn--bcher-kva.example"},
		{"\"bob@home\"@example.com", "\"bob@home\"@example.com"}, // a quoted local part may hold '@'
		{long, long},
		{strings.ToUpper(long), long},
	} {
		got, err := credits.NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizeEmailRefuses(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", `email: must not be empty`},
		{" \t\n", `email: must not be empty`},
		{"bob", `email: "bob": not an email address: no '@'`},
		{"bob.example.com", `email: "bob.example.com": not an email address: no '@'`},
		{"@example.com", `email: "@example.com": not an email address: nothing before the '@'`},
		{"bob@", `email: "bob@": not an email address: nothing after the '@'`},
		{"bob@example.com@", `email: "bob@example.com@": not an email address: nothing after the '@'`},
		{"bob@exa\nmple.com", `email: "bob@exa\nmple.com": must not contain control characters`},
		{"bob\x00@example.com", `email: "bob\x00@example.com": must not contain control characters`},
		{"bob\x7f@example.com", `email: "bob\x7f@example.com": must not contain control characters`},
		{"bob\u0085x@example.com", `email: "bob\u0085x@example.com": must not contain control characters`},
		{"bob\xff@example.com", `email: "bob\xff@example.com": must be valid UTF-8`},
		{strings.Repeat("a", 255-len("@example.com")) + "@example.com", "longer than 254 bytes"},
	} {
		got, err := credits.NormalizeEmail(tc.in)
		var ie *credits.InputError
		if got != "" || !errors.Is(err, credits.ErrInvalidInput) || !errors.As(err, &ie) || ie.Field != "email" {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want an *InputError for email", tc.in, got, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NormalizeEmail(%q): %q, want %q", tc.in, err, tc.want)
		}
	}
}

// TestNormalizeEmailClaims: two spellings of one address are one claim.
func TestNormalizeEmailClaims(t *testing.T) {
	ctx := context.Background()
	l := credits.NewMemoryLedger(credits.Options{})
	key, err := credits.NormalizeEmail("Bob@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ClaimFreeTier(ctx, "bob", key); err != nil {
		t.Fatal(err)
	}
	again, err := credits.NormalizeEmail(" bob@example.COM ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ClaimFreeTier(ctx, "bob-2", again); !errors.Is(err, credits.ErrAlreadyClaimed) {
		t.Errorf("a second account claiming %q after %q: %v, want ErrAlreadyClaimed", again, key, err)
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"bob@example.com", " Bob@Example.COM ", "bob", "@", "a@b", "\"a@b\"@c", "bob@exa\nmple.com",
		"İstanbul@Örnek.example", "ǅ@ǈ.example", "\u00a0x@y\u2003", "x\xff@y", strings.Repeat("A", 250) + "@b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := credits.NormalizeEmail(s)
		if err != nil {
			var ie *credits.InputError
			if key != "" || !errors.Is(err, credits.ErrInvalidInput) || !errors.As(err, &ie) || ie.Field != "email" {
				t.Fatalf("NormalizeEmail(%q) = %q, %v: want an *InputError for email", s, key, err)
			}
			return
		}
		// What it promises of an address it accepts.
		if want := strings.ToLower(strings.TrimSpace(s)); key != want {
			t.Fatalf("NormalizeEmail(%q) = %q, want %q", s, key, want)
		}
		at := strings.LastIndexByte(key, '@')
		if !utf8.ValidString(key) || len(key) > 254 || at < 1 || at == len(key)-1 || strings.IndexFunc(key, unicode.IsControl) >= 0 {
			t.Fatalf("NormalizeEmail(%q) = %q, which is not an address", s, key)
		}
		// A normalized address is its own normal form, and a claim key the
		// ledger accepts.
		if again, err := credits.NormalizeEmail(key); err != nil || again != key {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v", s, key, key, again, err)
		}
		if _, err := credits.NewMemoryLedger(credits.Options{}).ClaimFreeTier(context.Background(), "a", key); err != nil {
			t.Fatalf("ClaimFreeTier with the key %q of %q: %v", key, s, err)
		}
	})
}

// A service normalizes the address a user verified before claiming the
// free tier with it: the ledger compares claim keys byte for byte.
func ExampleNormalizeEmail() {
	ctx := context.Background()
	ledger := credits.NewMemoryLedger(credits.Options{})
	for _, signup := range []struct{ account, email string }{
		{"bob", "Bob@Example.com"},
		{"bob-2", " bob@example.COM "}, // the same person, a second account
		{"carol", "carol.example.com"},
	} {
		key, err := credits.NormalizeEmail(signup.email)
		if err != nil {
			fmt.Println(signup.account+":", err)
			continue
		}
		e, err := ledger.ClaimFreeTier(ctx, signup.account, key)
		if err != nil {
			fmt.Println(signup.account+":", err)
			continue
		}
		fmt.Printf("%s: +%s credits, claim key %s\n", signup.account, e.Amount, key)
	}
	// Output:
	// bob: +30 credits, claim key bob@example.com
	// bob-2: claim key "bob@example.com" was used by another account: free tier already claimed
	// carol: email: "carol.example.com": not an email address: no '@'
}
