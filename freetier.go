package credits

import (
	"context"
	"errors"
	"fmt"
)

// Keys and accounts that begin with '$' belong to the ledger itself.
const (
	reservedPrefix     = "$"
	freeTierKey        = "$free_tier"
	claimAccountPrefix = "$claim:"
	claimKey           = "claim" // the key of the first claim entry on a claim record
)

// ClaimFreeTier grants the one-time free credits (30 unless
// Options.FreeTier says otherwise): once per account, and, if claim is not
// empty, once per claim key across all accounts, so that one person (say,
// one email address) cannot claim twice through two accounts. Claiming
// again with the same account and claim key returns the first grant; any
// other second claim fails with ErrAlreadyClaimed.
//
// The claim key is compared byte for byte: normalize it first, so that
// "Bob@Example.com " and "bob@example.com" are one person (for an email
// address, [NormalizeEmail]).
//
// The ledger records which account holds a claim key (on a record of its
// own, the account "$claim:" + claim) before it grants the credits, so a
// key is never granted twice. A claim that does not end in a grant does
// not use the key up: if the account's free tier was granted under
// another key (two claims of one account racing with different keys), the
// key is given back, and should giving it back fail (a crash), the next
// account to claim the key takes it over. If the grant itself fails (a
// crash, a cancelled context), the key stays with the account that took
// it, and retrying the same claim finishes it.
func (l *Ledger) ClaimFreeTier(ctx context.Context, account, claim string) (res Entry, err error) {
	ob := l.begin(ctx, OpClaimFreeTier, account, "")
	defer func() { ob.end(res, err) }()
	if err := checkAccount(account); err != nil {
		return Entry{}, err
	}
	if claim != "" {
		if err := checkText("claim", claim, maxKeyLen); err != nil {
			return Entry{}, err
		}
	}
	grant := Entry{Kind: KindGrant, Amount: l.freeTier, Source: SourceFreeTier, Claim: claim}
	grant.RequestHash = freeTierHash(l.freeTier, claim)

	// Look before taking the key: an account that has its free credits
	// must not take a claim key it can never use.
	if done, ok, err := l.entryByKey(ctx, OpClaimFreeTier, account, freeTierKey); err != nil {
		return Entry{}, err
	} else if ok {
		if done.RequestHash != grant.RequestHash {
			return Entry{}, fmt.Errorf("account %q claimed its free tier in entry %d: %w", account, done.ID, ErrAlreadyClaimed)
		}
		ob.replayed = true
		return done, nil
	}
	if claim != "" {
		if err := l.takeClaim(ctx, account, claim); err != nil {
			return Entry{}, err
		}
	}
	e, err := l.run(ctx, &ob, OpClaimFreeTier, account, freeTierKey, l.Now(), grant, nil)
	if errors.Is(err, ErrIdempotencyConflict) {
		// Another claim of this account, under another key, won: give
		// this key back. If that fails, the key is taken over by the
		// next account that claims it (see takeClaim).
		if claim != "" {
			_ = l.setClaimHolder(ctx, claim, account, "")
		}
		return Entry{}, fmt.Errorf("account %q already claimed its free tier: %w", account, ErrAlreadyClaimed)
	}
	return e, err
}

// freeTierHash is the fingerprint of a free-tier claim: the grant of
// amount with the claim key (as it was when the key was metadata, so that
// claims made before the key had a field of its own still replay).
func freeTierHash(amount Credits, claim string) uint64 {
	e := Entry{Kind: KindGrant, Amount: amount, Source: SourceFreeTier}
	if claim != "" {
		e.Metadata = map[string]string{"claim": claim}
	}
	return requestHash(&e)
}

// errClaimHeld is takeClaim's decision refusing a key another account
// holds.
type errClaimHeld struct{ holder string }

func (e errClaimHeld) Error() string { return "claim key held by " + e.holder }

// takeClaim makes account the holder of the claim key, unless another
// account holds it and may still be granted under it.
func (l *Ledger) takeClaim(ctx context.Context, account, claim string) error {
	from := account // take the key only from nobody, or from account itself
	for attempt := 0; attempt < 3; attempt++ {
		err := l.setClaimHolder(ctx, claim, from, account)
		var held errClaimHeld
		if !errors.As(err, &held) {
			return err
		}
		// Another account holds the key. It can never be granted under
		// it if its free tier was granted under another key (or none):
		// then the key is free to take over.
		g, ok, err := l.entryByKey(ctx, OpClaimFreeTier, held.holder, freeTierKey)
		if err != nil {
			return err
		}
		if !ok || g.Claim == claim {
			return fmt.Errorf("claim key %q was used by another account: %w", claim, ErrAlreadyClaimed)
		}
		from = held.holder
	}
	return fmt.Errorf("claim key %q is contended by other accounts: %w", claim, ErrAlreadyClaimed)
}

// setClaimHolder moves the claim key from the account from (or from no
// holder at all) to the account to ("" gives the key up). If the key is
// held by another account than from, it fails with errClaimHeld naming
// it; if to already holds it, it changes nothing.
func (l *Ledger) setClaimHolder(ctx context.Context, claim, from, to string) error {
	record := claimAccountPrefix + claim
	now := l.Now()
	return l.update(ctx, OpClaimFreeTier, record, claimKey, func(s *AccountState, first *Entry) ([]Entry, error) {
		holder := s.claimedBy
		if s.Version() == 1 && first != nil && holder == "" {
			holder = first.Claim // a record whose state predates claimedBy
		}
		switch {
		case holder == to:
			return nil, nil
		case holder != "" && holder != from:
			return nil, errClaimHeld{holder}
		}
		e := Entry{Kind: KindClaim, Claim: to}
		if s.Version() == 0 {
			e.Key = claimKey
		}
		stamp(s, &e, record, s.writeTime(now))
		s.apply(&e)
		return []Entry{e}, nil
	})
}
