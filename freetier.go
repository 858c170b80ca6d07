package credits

import (
	"context"
	"errors"
	"fmt"
	"maps"
)

// ClaimFreeTier grants the one-time free credits (30 unless
// Options.FreeTier says otherwise): once per account, and, if claim is not
// empty, once per claim key across all accounts, so that one person (say,
// one normalized email address) cannot claim twice through two accounts.
// Claiming again with the same account and claim key returns the first
// grant; any other second claim fails with ErrAlreadyClaimed.
//
// Claim keys are compared byte for byte, so the caller must normalize
// them: for an email address, with [NormalizeEmail], or "Bob@Example.com"
// and "bob@example.com" are two people and get two grants.
//
// The claim key is recorded before the credits are granted. If the grant
// then fails (a crash, a cancelled context), retrying the same claim
// finishes it; the key is never lost to the account that took it.
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
	grant := Entry{Kind: KindGrant, Amount: l.freeTier, Source: SourceFreeTier, Metadata: map[string]string{"claim": claim}}
	if claim == "" {
		grant.Metadata = nil
	}
	grant.RequestHash = requestHash(&grant)

	// Look before claiming the key: an account that has its free credits
	// must not take a claim key it can never use.
	var done *Entry
	err = l.backend.Update(ctx, account, freeTierKey, func(_ *AccountState, existing *Entry) ([]Entry, error) {
		if existing != nil {
			if existing.RequestHash != grant.RequestHash {
				return nil, fmt.Errorf("account %q claimed its free tier in entry %d: %w", account, existing.ID, ErrAlreadyClaimed)
			}
			e := *existing
			e.Metadata = maps.Clone(existing.Metadata)
			done = &e
		}
		return nil, nil
	})
	if err != nil {
		return Entry{}, err
	}
	if done != nil {
		ob.replayed = true
		return *done, nil
	}
	if claim != "" {
		rec := Entry{Kind: KindClaim, Metadata: map[string]string{"account": account}}
		rec.RequestHash = requestHash(&rec)
		_, err := l.run(ctx, nil, claimAccountPrefix+claim, "claim", l.Now(), rec, nil)
		if errors.Is(err, ErrIdempotencyConflict) {
			return Entry{}, fmt.Errorf("claim key %q was used by another account: %w", claim, ErrAlreadyClaimed)
		}
		if err != nil {
			return Entry{}, err
		}
	}
	e, err := l.run(ctx, &ob, account, freeTierKey, l.Now(), grant, nil)
	if errors.Is(err, ErrIdempotencyConflict) {
		return Entry{}, fmt.Errorf("account %q already claimed its free tier: %w", account, ErrAlreadyClaimed)
	}
	return e, err
}

// Keys and accounts that begin with '$' belong to the ledger itself.
const (
	reservedPrefix     = "$"
	freeTierKey        = "$free_tier"
	claimAccountPrefix = "$claim:"
)
