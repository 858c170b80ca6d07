package sqlentry

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/avstudio/credits"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.FixedZone("UTC+3", 3*3600))
	for _, e := range []credits.Entry{
		{Account: "a", ID: 1, Kind: credits.KindGrant, Time: at, Amount: 5, BalanceAfter: 5, Source: credits.SourceSubscription,
			Priority: -7, ExpiresAt: at.Add(time.Hour), Period: at.Add(-time.Hour), PeriodEnd: at.Add(24 * time.Hour),
			Subscription: "sub ✓", Plan: "Pro", Key: "$sub:x", RequestHash: 1<<64 - 1, Metadata: map[string]string{"note": "<é>"}},
		{Account: "a", ID: 2, Kind: credits.KindCharge, Time: at, Amount: -3, BalanceAfter: 2, Action: credits.VideoGeneration,
			Resolution: credits.Res4K, Quantity: 3, PriceVersion: "v1", Key: "k", RequestHash: 1 << 63,
			Hash: credits.Hash{0: 0xde, 31: 0xad}},
		{Account: "a", ID: 3, Kind: credits.KindRollover, Time: at, Source: credits.SourceSubscription, Lot: 3, Carried: 40, Subscription: "s"},
		{Account: "$claim:x", ID: 1, Kind: credits.KindClaim, Time: at, Claim: "alice"},
		{Account: "a", ID: 5, Kind: credits.KindNotice, Time: at, Notice: credits.NoticeExpiring, Lot: 3, ExpiresAt: at, Value: 7},
		{Account: "a", ID: 4, Kind: credits.KindRefund, Time: at, Reverses: 2, Amount: 3, Metadata: map[string]string{}, Spender: "key ✓", Failure: credits.FailureProvider},
		{Account: "a", ID: 6, Kind: credits.KindHold, Time: at, Held: 15, Spender: "k", MultiCapture: true, PriceVersion: "v1",
			Lines: []credits.EstimateLine{{Action: credits.UploadVideo, Quantity: 2, UnitPrice: 5, Subtotal: 10}, {Action: credits.Render, Quantity: 1, UnitPrice: 5, Subtotal: 5}}},
		{Account: "a", ID: 7, Kind: credits.KindBudget, Time: at, Spender: "key_*", Cap: 50, Window: credits.WindowWeek, Zone: "Asia/Kolkata", Subscription: "s"},
	} {
		r, err := Encode(&e)
		if err != nil {
			t.Fatalf("Encode(%+v): %v", e, err)
		}
		got, err := r.Entry()
		if err != nil {
			t.Fatalf("Entry of %+v: %v", r, err)
		}
		want := e
		want.Time, want.ExpiresAt, want.Period, want.PeriodEnd = utc(e.Time), utc(e.ExpiresAt), utc(e.Period), utc(e.PeriodEnd)
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("entry %d round trip (-want +got):\n%s", e.ID, diff)
		}
		if len(e.Metadata) == 0 && (r.Metadata != nil || got.Metadata != nil) {
			t.Errorf("entry %d: empty metadata stored as %q, read as %v; want NULL and nil", e.ID, r.Metadata, got.Metadata)
		}
		if !got.Time.IsZero() && got.Time.Location() != time.UTC {
			t.Errorf("entry %d: time not in UTC", e.ID)
		}
	}
	if n := strings.Count(Columns, ",") + 1; n != NumColumns || n != 36 {
		t.Errorf("NumColumns %d, columns %d", NumColumns, n)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for column, r := range map[string]Row{
		"kind":          {ID: 1, Kind: "gift"},
		"source":        {ID: 1, Kind: "grant", Source: "lottery"},
		"action":        {ID: 1, Kind: "charge", Action: "teleport"},
		"resolution":    {ID: 1, Kind: "charge", Action: "video_generation", Resolution: "8k"},
		"notice":        {ID: 1, Kind: "notice", Notice: "lottery"},
		"metadata":      {ID: 1, Kind: "grant", Metadata: []byte(`["not an object"]`)},
		"failure":       {ID: 1, Kind: "release", Failure: "meteor"},
		"budget_window": {ID: 1, Kind: "budget", BudgetWindow: "fortnight"},
		"lines":         {ID: 1, Kind: "hold", Lines: []byte(`{"not": "an array"}`)},
		"hash":          {ID: 1, Kind: "grant", Hash: make([]byte, 31)},
	} {
		if _, err := r.Entry(); err == nil || !strings.Contains(err.Error(), "column "+column) {
			t.Errorf("%s: %v, want an error naming the column", column, err)
		}
	}
	if _, err := Encode(&credits.Entry{ID: 1, Kind: 200}); !errors.Is(err, credits.ErrInvalidInput) {
		t.Errorf("Encode of an unknown kind: %v", err)
	}
}
