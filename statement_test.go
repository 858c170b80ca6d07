package credits

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// ---- Statements ----

func TestStatementAddsUpAndTiles(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("carry", 100*Credit, Monthly, RolloverPolicy{Mode: RollOverCarry, Max: 40 * Credit}), t0, nil)
	if _, err := f.l.ClaimFreeTier(f.ctx, f.account, ""); err != nil {
		t.Fatal(err)
	}
	f.renew(s)
	at := func(d int) { f.at(testDate(2026, 1, d, 12, 0, time.UTC)) }
	at(3)
	chat, err := f.l.Charge(f.ctx, f.account, ChargeRequest{Key: "chat", Action: ChatMessage, Quantity: 4})
	if err != nil {
		t.Fatal(err)
	}
	at(4)
	if _, err := f.l.Charge(f.ctx, f.account, ChargeRequest{Key: "video", Action: VideoGeneration, Resolution: Res1080p}); err != nil {
		t.Fatal(err)
	}
	at(5)
	f.mustCharge(Credit)
	at(6)
	h, err := f.l.Hold(f.ctx, f.account, HoldRequest{Key: "h", Amount: 8 * Credit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Capture(f.ctx, f.account, CaptureRequest{Key: "cap", Hold: h.ID, Amount: 5 * Credit}); err != nil {
		t.Fatal(err)
	}
	at(7)
	if _, err := f.l.Refund(f.ctx, f.account, RefundRequest{Key: "ref", Entry: chat.ID, Amount: 3 * Credit}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top", Amount: 15 * Credit, Source: SourceTopUp, ExpiresAt: testDate(2026, 2, 10, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	f.at(testDate(2026, 2, 1, 0, 0, time.UTC)).renew(s)
	f.at(testDate(2026, 2, 20, 0, 0, time.UTC))
	f.mustCharge(2 * Credit)
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "top2", Amount: 5 * Credit, Source: SourceTopUp, ExpiresAt: testDate(2026, 2, 25, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	f.at(testDate(2026, 2, 26, 0, 0, time.UTC)) // the 5 expired; nothing has recorded it yet

	jan := f.statement(s.PeriodAt(t0))
	if jan.Opening != 0 || jan.Refunded != 3*Credit || jan.Expired != 0 || jan.Carried != 0 {
		t.Fatalf("january: %+v", jan)
	}
	wantGranted := []GrantLine{{SourceFreeTier, 1, 30 * Credit}, {SourceSubscription, 2, 100 * Credit}, {SourceTopUp, 1, 15 * Credit}}
	if !slices.Equal(jan.Granted, wantGranted) {
		t.Fatalf("january granted %+v, want %+v", jan.Granted, wantGranted)
	}
	wantSpent := []SpendLine{
		{Kind: KindCharge, Entries: 1, Amount: Credit},
		{Kind: KindCharge, Action: ChatMessage, Entries: 1, Quantity: 4, Amount: 12 * Credit},
		{Kind: KindCharge, Action: VideoGeneration, Entries: 1, Quantity: 1, Amount: 20 * Credit},
		{Kind: KindCapture, Entries: 1, Amount: 5 * Credit},
	}
	if !slices.Equal(jan.Spent, wantSpent) {
		t.Fatalf("january spent %+v, want %+v", jan.Spent, wantSpent)
	}
	feb := f.statement(s.PeriodAt(testDate(2026, 2, 1, 0, 0, time.UTC)))
	if feb.Opening != jan.Closing {
		t.Fatalf("february opens at %s, january closed at %s", feb.Opening, jan.Closing)
	}
	// By hand: January's 100 were granted as 60 over the carry's max
	// (expiring at January's end) and 40; the 38 spent came out of the 60
	// first, so 22 expired on February 1 and the 40 were carried. On the
	// 20th the first top-up (expired on the 10th) is recorded, 15; the
	// second top-up's 5 expired on the 25th and only this statement knows
	// (it is the current period's). Closing is what Balance says.
	if jan.Closing != 110*Credit || feb.Expired != 22*Credit+15*Credit+5*Credit || feb.Carried != 40*Credit ||
		feb.TotalGranted() != 105*Credit || feb.TotalSpent() != 2*Credit || feb.Closing != 171*Credit {
		t.Fatalf("january %+v\nfebruary %+v", jan, feb)
	}
	if feb.Closing != f.total() || !feb.AsOf.Equal(f.l.Now()) {
		t.Fatalf("february closes at %s as of %s; balance %s", feb.Closing, feb.AsOf, f.total())
	}
	// A statement over both months is the sum of the two.
	both := f.statement(Period{Start: t0, End: testDate(2026, 3, 1, 0, 0, time.UTC)})
	if both.Opening != 0 || both.Closing != feb.Closing || both.Expired != jan.Expired+feb.Expired ||
		both.TotalSpent() != jan.TotalSpent()+feb.TotalSpent() || both.TotalGranted() != jan.TotalGranted()+feb.TotalGranted() {
		t.Fatalf("both months %+v\njan %+v\nfeb %+v", both, jan, feb)
	}
	// A period with no entries, and one in the future, are flat.
	if st := f.statement(Period{Start: testDate(2025, 1, 1, 0, 0, time.UTC), End: testDate(2025, 2, 1, 0, 0, time.UTC)}); st.Opening != 0 || st.Closing != 0 || st.First != 0 {
		t.Fatalf("before the account: %+v", st)
	}
	if st := f.statement(Period{Start: testDate(2026, 6, 1, 0, 0, time.UTC), End: testDate(2026, 7, 1, 0, 0, time.UTC)}); st.Opening != f.total() || st.Closing != f.total() {
		t.Fatalf("future: %+v, balance %s", st, f.total())
	}
	if _, err := f.l.Statement(f.ctx, f.account, Period{Start: t0, End: t0}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("empty period: %v", err)
	}
	if st, err := f.l.Statement(f.ctx, "nobody", Period{Start: t0, End: t0.Add(time.Hour)}); err != nil || st.Opening != 0 || st.Closing != 0 || st.First != 0 {
		t.Fatalf("an account with no entries: %+v, %v; want a statement of zeros", st, err)
	}
}

func TestStatementReadsEveryPage(t *testing.T) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	f := newSubFixture(t, t0)
	s := testSub("s", testPlan("big", 5000*Credit, Monthly, RolloverPolicy{}), t0, nil)
	f.renew(s)
	const n = 2*statementPage + 17
	for i := range n {
		f.at(t0.Add(time.Duration(i+1) * time.Minute))
		f.mustCharge(Credit)
	}
	st := f.statement(s.PeriodAt(t0))
	if len(st.Spent) != 1 || st.Spent[0].Entries != n || st.Spent[0].Amount != n*Credit || st.Last != int64(n+1) {
		t.Fatalf("statement over %d charges: %+v", n, st)
	}
}

func statementLedger(b *testing.B) (*Ledger, Period) {
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	c := &testClock{t: t0}
	l := NewMemoryLedger(Options{Now: c.Now})
	ctx := context.Background()
	s := testSub("s", testPlan("big", 10000*Credit, Monthly, RolloverPolicy{}), t0, nil)
	if _, err := l.Renew(ctx, "a", s); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		c.Set(t0.Add(time.Duration(i+1) * time.Minute))
		if _, err := l.Charge(ctx, "a", ChargeRequest{Key: fmt.Sprint(i), Action: Action(1 + i%int(numActions-1))}); err != nil {
			b.Fatal(err)
		}
	}
	c.Set(testDate(2026, 3, 1, 0, 0, time.UTC))
	return l, s.PeriodAt(t0)
}

// BenchmarkStatement: a month of 1,001 entries.
func BenchmarkStatement(b *testing.B) {
	l, p := statementLedger(b)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		if _, err := l.Statement(ctx, "a", p); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(b)
}

// BenchmarkStatementBaselineHistory reads the same entries through
// History, without adding anything up.
func BenchmarkStatementBaselineHistory(b *testing.B) {
	l, p := statementLedger(b)
	ctx := context.Background()
	cpu := startRolloverCPU(b)
	for b.Loop() {
		q := HistoryQuery{Since: p.Start, Until: p.End, Limit: 1000}
		for {
			pg, err := l.History(ctx, "a", q)
			if err != nil {
				b.Fatal(err)
			}
			if pg.Next == 0 {
				break
			}
			q.After = pg.Next
		}
	}
	cpu.stop(b)
}

// A lot that expired on June 20, with no write until August, expired in
// June: June's statement closes without its credits, and neither July's
// nor August's counts it, whether the expiry is recorded yet or not.
func TestStatementCountsAnExpiryInThePeriodItTookEffect(t *testing.T) {
	june := Period{Start: testDate(2026, 6, 1, 0, 0, time.UTC), End: testDate(2026, 7, 1, 0, 0, time.UTC)}
	july := Period{Start: june.End, End: testDate(2026, 8, 1, 0, 0, time.UTC)}
	august := Period{Start: july.End, End: testDate(2026, 9, 1, 0, 0, time.UTC)}
	f := newSubFixture(t, june.Start)
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "keep", Amount: 10 * Credit, Source: SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.Grant(f.ctx, f.account, GrantRequest{Key: "promo", Amount: 5 * Credit, Source: SourceAdjustment,
		ExpiresAt: testDate(2026, 6, 20, 12, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			p                         Period
			opening, expired, closing Credits
		}{{june, 0, 5 * Credit, 10 * Credit}, {july, 10 * Credit, 0, 10 * Credit}, {august, 10 * Credit, 0, 10 * Credit}} {
			st := f.statement(c.p)
			checkAddsUp(t, st)
			if st.Opening != c.opening || st.Expired != c.expired || st.Closing != c.closing {
				t.Errorf("%s: statement of %s: opening %s, expired %s, closing %s; want %s, %s, %s",
					when, c.p, st.Opening, st.Expired, st.Closing, c.opening, c.expired, c.closing)
			}
		}
	}
	f.at(testDate(2026, 8, 10, 0, 0, time.UTC))
	check("before any write recorded the expiry")
	if _, err := f.l.Charge(f.ctx, f.account, ChargeRequest{Key: "august", Amount: Credit}); err != nil {
		t.Fatal(err)
	}
	es := f.history()
	exp := es[2]
	if exp.Kind != KindExpire || !exp.Time.Equal(testDate(2026, 6, 20, 12, 0, time.UTC)) {
		t.Fatalf("the expiry recorded in August: %+v, want it stamped June 20, 12:00", exp)
	}
	june.End, july.End = july.Start, august.Start
	if st := f.statement(august); st.Expired != 0 || st.Closing != 9*Credit || st.TotalSpent() != Credit {
		t.Errorf("August after the charge: %+v", st)
	}
	if st := f.statement(june); st.Expired != 5*Credit || st.Closing != 10*Credit {
		t.Errorf("June after the expiry was recorded in August: %+v", st)
	}
}

// Quantities of a statement line add up with an overflow check, never
// wrapping to a negative count.
func TestStatementQuantitiesDoNotWrap(t *testing.T) {
	prices := map[Action]Credits{}
	for _, a := range Actions() {
		prices[a] = Credit
	}
	prices[UploadImage] = 0
	table, err := NewPriceTable("free-images", testDate(2020, 1, 1, 0, 0, time.UTC), prices, map[Resolution]decimal.Decimal{Res720p: decimal.NewFromInt(1), Res1080p: decimal.NewFromInt(2), Res4K: decimal.NewFromInt(4)})
	if err != nil {
		t.Fatal(err)
	}
	book, err := NewPriceBook(table)
	if err != nil {
		t.Fatal(err)
	}
	t0 := testDate(2026, 1, 1, 0, 0, time.UTC)
	c := &testClock{t: t0}
	l := NewMemoryLedger(Options{Now: c.Now, Prices: book})
	ctx := context.Background()
	if _, err := l.Grant(ctx, "a", GrantRequest{Key: "g", Amount: Credit, Source: SourceTopUp}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := l.Charge(ctx, "a", ChargeRequest{Key: fmt.Sprint("c", i), Action: UploadImage, Quantity: 1 << 62}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := l.Statement(ctx, "a", Period{Start: t0, End: t0.Add(time.Hour)})
	if !errors.Is(err, ErrOverflow) {
		t.Fatalf("statement of two charges of 2^62 units each: %+v, %v; want ErrOverflow", st.Spent, err)
	}
}
