package credits

import (
	"context"
	"errors"
	"fmt"
)

// TopUpPolicy is how an [AutoTopUp] recharges one account.
type TopUpPolicy struct {
	// Threshold: top up when a write leaves the available credits below
	// it (more than zero).
	Threshold Credits

	// Amount: the credits bought each time (more than zero).
	Amount Credits

	// MaxPerMonth is the safety rail: at most this many automatic top-ups
	// in one calendar month (UTC); zero means 3.
	MaxPerMonth int

	// MaxFailures: after this many failed charges of the payment method
	// in a row, automatic top-ups are off for the account until it tops
	// up any other way (a grant of source topup); zero means 3.
	MaxFailures int
}

// AutoTopUp recharges accounts whose balance runs low: a [Handler] for
// [Ledger.Consume] that, for each low_balance notice in the feed, charges
// the account's payment method through the service's own Pay and then
// grants the credits (source auto_topup). Run it as a consumer, and give
// the Ledger its thresholds:
//
//	topup := &credits.AutoTopUp{Policy: policyOf, Pay: chargeCard}
//	ledger := credits.NewLedger(backend, credits.Options{LowBalance: topup.Threshold})
//	topup.Ledger = ledger
//	go ledger.Consume(ctx, "auto-topup", topup.Handle, credits.ConsumeOptions{})
//
// It never grants twice for one notice: the grant's idempotency key is
// derived from the notice ("auto-topup/" and its ID), and so is the key it
// gives Pay. If the consumer dies between the charge and the grant, the
// notice is handed over again, Pay is called again with the same key, and
// the grant is written once; Pay must therefore be idempotent by its key,
// as payment providers' APIs are (Stripe's Idempotency-Key, say), so that
// the second call charges nothing and reports success.
type AutoTopUp struct {
	// Ledger is the ledger it tops up (and whose feed it consumes).
	Ledger *Ledger

	// Policy returns the account's policy, and false for an account that
	// has none.
	Policy func(account string) (TopUpPolicy, bool)

	// Pay charges the account's payment method for amount credits. key
	// is the same for every call about one low balance: the payment's
	// idempotency key. An error means nothing was charged; it is recorded
	// as a topup_failed notice.
	Pay func(ctx context.Context, account string, amount Credits, key string) error
}

// Threshold is the account's low-balance threshold under its policy: use
// it as [Options].LowBalance of the Ledger.
func (a *AutoTopUp) Threshold(account string) Credits {
	if a.Policy == nil {
		return 0
	}
	p, ok := a.Policy(account)
	if !ok {
		return 0
	}
	return p.Threshold
}

// Handle is the consumer's [Handler]: it tops up after each low_balance
// notice among entries. It returns an error only for a failure of the
// ledger (the batch is then handed over again); a failed payment is a
// topup_failed notice, and the consumer goes on.
func (a *AutoTopUp) Handle(ctx context.Context, entries []Entry) error {
	if a.Ledger == nil || a.Policy == nil || a.Pay == nil {
		return errors.New("credits: AutoTopUp needs a Ledger, a Policy and a Pay")
	}
	for _, e := range entries {
		if e.Kind != KindNotice || e.Notice != NoticeLowBalance {
			continue
		}
		if err := a.topUp(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// topUp acts on one low_balance notice.
func (a *AutoTopUp) topUp(ctx context.Context, notice Entry) error {
	l, account := a.Ledger, notice.Account
	p, ok := a.Policy(account)
	if !ok || p.Amount <= 0 {
		return nil
	}
	key := fmt.Sprintf("auto-topup/%d", notice.ID)
	if _, done, err := l.entryByKey(ctx, OpGrant, account, key); err != nil || done {
		return err // done: this notice was acted on already
	}
	if _, failed, err := l.entryByKey(ctx, OpGrant, account, key+"/failed"); err != nil || failed {
		return err
	}
	s, err := l.load(ctx, OpGrant, account)
	if err != nil {
		return err
	}
	maxPer, maxFail := p.MaxPerMonth, p.MaxFailures
	if maxPer == 0 {
		maxPer = 3
	}
	if maxFail == 0 {
		maxFail = 3
	}
	if s.topUps.Failures >= maxFail || (s.topUps.Month == monthOf(l.Now()) && s.topUps.Count >= maxPer) {
		return nil // off, or enough this month: the safety rails
	}
	payKey := "credits/" + account + "/" + key
	if err := a.Pay(ctx, account, p.Amount, payKey); err != nil {
		e := Entry{Kind: KindNotice, Notice: NoticeTopUpFailed, Value: p.Amount}
		e.RequestHash = requestHash(&e)
		_, err := l.run(ctx, nil, OpGrant, account, key+"/failed", l.Now(), e, nil)
		return err
	}
	_, err = l.Grant(ctx, account, GrantRequest{Key: key, Amount: p.Amount, Source: SourceAutoTopUp})
	return err
}
