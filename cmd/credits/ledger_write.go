package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/avstudio/credits"
)

// grantSources are the sources "ledger grant --source" accepts. The free
// tier is claimed with --free-tier (once per account), and rollover lots
// are the ledger's own.
var grantSources = []credits.Source{credits.SourceTopUp, credits.SourceAdjustment, credits.SourceSubscription, credits.SourceRefund}

// runLedgerGrant: credits ledger grant --amount N --source S ... | --free-tier [--claim KEY].
func runLedgerGrant(e *env, args []string) int {
	f := newLedgerFlags("grant", true)
	amount := f.String("amount", "", "credits to grant: an `amount` more than zero, such as 100 or 2.5")
	source := f.String("source", "", "where the credits come from (`source`): topup, adjustment, subscription or refund")
	expires := f.String("expires", "", "RFC 3339 `instant` at which the lot's unspent credits expire (default: never)")
	priority := f.String("priority", "", "the lot's spending `priority`: higher is spent first (default 0)")
	freeTier := f.Bool("free-tier", false, "claim the account's one-time free tier (30 credits) instead")
	claim := f.String("claim", "", "with --free-tier: the user's email `address`, usable by one account only; lower-cased and trimmed into the claim key (see credits.NormalizeEmail)")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	if *freeTier {
		for _, n := range []string{"amount", "source", "expires", "priority"} {
			if f.given(n) {
				return e.usageErr(f.cmdName(), "--"+n+" does not go with --free-tier (the free tier is a fixed grant)")
			}
		}
		if f.key != "" {
			return e.usageErr(f.cmdName(), "--key does not go with --free-tier (a claim is idempotent per account and claim key)")
		}
		claimKey := ""
		if f.given("claim") {
			var err error
			if claimKey, err = credits.NormalizeEmail(*claim); err != nil {
				return e.fail(f.cmdName(), err)
			}
		}
		return f.runWrite(e, credits.Options{}, credits.OpClaimFreeTier, "", false, "the free tier was already claimed by this account",
			func(ctx context.Context, l *credits.Ledger) (credits.Entry, error) {
				return l.ClaimFreeTier(ctx, f.account, claimKey)
			})
	}
	if code, done := f.onlyWith(e, false, "--free-tier", "claim"); done {
		return code
	}
	if *amount == "" || *source == "" {
		return e.usageErr(f.cmdName(), "want --amount N and --source S, or --free-tier")
	}
	var req credits.GrantRequest
	var err error
	if req.Amount, err = parseAmount("amount", *amount); err != nil {
		return e.fail(f.cmdName(), err)
	}
	if req.Source, err = parseGrantSource(*source); err != nil {
		return e.fail(f.cmdName(), err)
	}
	if *expires != "" {
		if req.ExpiresAt, err = parseInstant("expires", *expires); err != nil {
			return e.fail(f.cmdName(), err)
		}
	}
	if *priority != "" {
		p, err := strconv.ParseInt(*priority, 10, 32)
		if err != nil {
			return e.fail(f.cmdName(), &credits.InputError{Field: "--priority", Value: *priority, Reason: "want a whole number from -2147483648 to 2147483647"})
		}
		req.Priority = int32(p)
	}
	return f.writeEntry(e, credits.Options{}, credits.OpGrant, func(ctx context.Context, l *credits.Ledger, key string) (credits.Entry, error) {
		req.Key = key
		return l.Grant(ctx, f.account, req)
	})
}

func parseGrantSource(s string) (credits.Source, error) {
	names := make([]string, len(grantSources))
	for i, src := range grantSources {
		if src.String() == s {
			return src, nil
		}
		names[i] = src.String()
	}
	reason := "want " + strings.Join(names, ", ")
	if s == credits.SourceFreeTier.String() {
		reason = "claim the free tier with --free-tier (once per account)"
	}
	return 0, &credits.InputError{Field: "--source", Value: s, Reason: reason}
}

// runLedgerCharge: credits ledger charge ACTION [--resolution R] [--quantity N] [--price-version V] | --amount N.
func runLedgerCharge(e *env, args []string) int {
	f := newLedgerFlags("charge", true)
	amount := f.String("amount", "", "charge a raw `amount` of credits instead of an ACTION")
	resolution := f.String("resolution", "", "video `resolution`: 720p, 1080p or 4k (video_generation only; default 720p)")
	quantity := f.String("quantity", "", "number of units `N` of the action (default 1)")
	version := f.String("price-version", "", "price with the table of this `version` (say, the one an estimate showed) instead of the one in force")
	prices := f.String("prices", "", "price with the price book in this JSON `file` (default: the built-in R-Credits book)")
	pos, code, done := f.parse(e, args)
	if done {
		return code
	}
	if len(pos) > 1 {
		return e.usageErr(f.cmdName(), fmt.Sprintf("want one ACTION, got %d arguments", len(pos)))
	}
	if len(pos) == 1 && *amount != "" {
		return e.usageErr(f.cmdName(), "want an ACTION or --amount, not both")
	}
	if len(pos) == 0 && *amount == "" {
		return e.usageErr(f.cmdName(), "want an ACTION (such as chat_message) or --amount N")
	}
	if code, done := f.onlyWith(e, len(pos) == 1, "an ACTION", "resolution", "quantity", "price-version", "prices"); done {
		return code
	}
	var req credits.ChargeRequest
	var opts credits.Options
	var err error
	if *amount != "" {
		if req.Amount, err = parseAmount("amount", *amount); err != nil {
			return e.fail(f.cmdName(), err)
		}
	} else {
		if req.Action, err = parseAction(pos[0]); err != nil {
			return e.fail(f.cmdName(), err)
		}
		if *resolution != "" {
			if req.Resolution, err = credits.ParseResolution(*resolution); err != nil {
				return e.fail(f.cmdName(), err)
			}
		}
		if *quantity != "" {
			if req.Quantity, err = parseQuantity(*quantity); err != nil {
				return e.fail(f.cmdName(), err)
			}
		}
		req.PriceVersion = *version
		if *prices != "" {
			if opts.Prices, err = loadPriceBook(*prices); err != nil {
				return e.fail(f.cmdName(), err)
			}
		}
	}
	return f.writeEntry(e, opts, credits.OpCharge, func(ctx context.Context, l *credits.Ledger, key string) (credits.Entry, error) {
		req.Key = key
		return l.Charge(ctx, f.account, req)
	})
}

// loadPriceBook reads a price book from a JSON file.
func loadPriceBook(path string) (*credits.PriceBook, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	book, err := credits.LoadPriceBook(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return book, nil
}

// runLedgerHold: credits ledger hold --amount N [--deadline RFC3339 | --ttl DURATION].
func runLedgerHold(e *env, args []string) int {
	f := newLedgerFlags("hold", true)
	amount := f.String("amount", "", "credits to hold: an `amount` more than zero")
	deadline := f.String("deadline", "", "RFC 3339 `instant` at which the hold lapses if not captured or released")
	ttl := f.String("ttl", "", "how long the hold lasts: a `duration` such as 30m (default 1h); a retry with the same --key keeps the first deadline")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	if *amount == "" {
		return e.usageErr(f.cmdName(), "--amount is required")
	}
	if *deadline != "" && *ttl != "" {
		return e.usageErr(f.cmdName(), "want --deadline or --ttl, not both")
	}
	var req credits.HoldRequest
	var opts credits.Options
	var err error
	if req.Amount, err = parseAmount("amount", *amount); err != nil {
		return e.fail(f.cmdName(), err)
	}
	if *deadline != "" {
		if req.Deadline, err = parseInstant("deadline", *deadline); err != nil {
			return e.fail(f.cmdName(), err)
		}
	}
	if *ttl != "" {
		// The TTL is the ledger's, not a deadline computed here: the
		// request then stays the same when it is retried later.
		if opts.HoldTTL, err = time.ParseDuration(*ttl); err != nil || opts.HoldTTL < time.Microsecond {
			return e.fail(f.cmdName(), &credits.InputError{Field: "--ttl", Value: *ttl, Reason: "want a duration of at least 1µs, such as 30m or 2h"})
		}
	}
	return f.writeEntry(e, opts, credits.OpHold, func(ctx context.Context, l *credits.Ledger, key string) (credits.Entry, error) {
		req.Key = key
		return l.Hold(ctx, f.account, req)
	})
}

// runLedgerCapture: credits ledger capture --hold ID --amount N.
func runLedgerCapture(e *env, args []string) int {
	f := newLedgerFlags("capture", true)
	hold := f.String("hold", "", "the hold's `ID` (its hold entry's ID)")
	amount := f.String("amount", "", "credits to spend of the hold: an `amount` more than zero, at most what it holds")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	if *hold == "" || *amount == "" {
		return e.usageErr(f.cmdName(), "want --hold ID and --amount N (to spend nothing, use 'credits ledger release')")
	}
	var req credits.CaptureRequest
	var err error
	if req.Hold, err = parseID("hold", *hold); err != nil {
		return e.fail(f.cmdName(), err)
	}
	if req.Amount, err = parseAmount("amount", *amount); err != nil {
		return e.fail(f.cmdName(), err)
	}
	return f.writeEntry(e, credits.Options{}, credits.OpCapture, func(ctx context.Context, l *credits.Ledger, key string) (credits.Entry, error) {
		req.Key = key
		return l.Capture(ctx, f.account, req)
	})
}

// runLedgerRelease: credits ledger release --hold ID.
func runLedgerRelease(e *env, args []string) int {
	f := newLedgerFlags("release", true)
	hold := f.String("hold", "", "the hold's `ID` (its hold entry's ID)")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	if *hold == "" {
		return e.usageErr(f.cmdName(), "--hold is required")
	}
	var req credits.ReleaseRequest
	var err error
	if req.Hold, err = parseID("hold", *hold); err != nil {
		return e.fail(f.cmdName(), err)
	}
	return f.writeEntry(e, credits.Options{}, credits.OpRelease, func(ctx context.Context, l *credits.Ledger, key string) (credits.Entry, error) {
		req.Key = key
		return l.Release(ctx, f.account, req)
	})
}

// runLedgerRefund: credits ledger refund --entry ID [--amount N].
func runLedgerRefund(e *env, args []string) int {
	f := newLedgerFlags("refund", true)
	entry := f.String("entry", "", "the `ID` of the charge or capture to refund")
	amount := f.String("amount", "", "credits to give back: an `amount` (default: all that is left to refund of the entry)")
	if code, done := f.parseNoArgs(e, args); done {
		return code
	}
	if *entry == "" {
		return e.usageErr(f.cmdName(), "--entry is required")
	}
	var req credits.RefundRequest
	var err error
	if req.Entry, err = parseID("entry", *entry); err != nil {
		return e.fail(f.cmdName(), err)
	}
	if *amount != "" {
		if req.Amount, err = parseAmount("amount", *amount); err != nil {
			return e.fail(f.cmdName(), err)
		}
	}
	return f.writeEntry(e, credits.Options{}, credits.OpRefund, func(ctx context.Context, l *credits.Ledger, key string) (credits.Entry, error) {
		req.Key = key
		return l.Refund(ctx, f.account, req)
	})
}

// describeWrite says in one line what a write did: its entry, then, for a
// replay, why it was one (replay, "" for a fresh write), and the
// account's balance now (read after the write: on a replay the entry's
// BalanceAfter is stale).
func describeWrite(e *credits.Entry, replay string, now credits.Credits) string {
	s := describeEntry(e)
	if replay != "" {
		s += fmt.Sprintf("; replayed: %s, nothing changed; balance now %s", replay, now)
	} else {
		s += fmt.Sprintf("; balance %s", now)
	}
	if e.Kind == credits.KindHold {
		if replay != "" {
			s += fmt.Sprintf(" (if it is still open, capture or release it with --hold %d)", e.ID)
		} else {
			s += fmt.Sprintf(" (capture or release it with --hold %d)", e.ID)
		}
	}
	return s
}

// describeEntry says what an entry did.
func describeEntry(e *credits.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d: ", e.Kind, e.ID)
	switch e.Kind {
	case credits.KindHold:
		fmt.Fprintf(&b, "%s credits held", e.Held)
	case credits.KindRelease:
		fmt.Fprintf(&b, "hold %d released, %s credits back", e.Hold, -e.Held)
	default:
		fmt.Fprintf(&b, "%s credits", signed(e.Amount))
	}
	if d := entryDetail(e); d != "" && e.Kind != credits.KindRelease {
		b.WriteString(" (" + d + ")")
	}
	return b.String()
}

// entryDetail describes an entry's particulars: what a charge was for,
// which hold or entry it refers to, a lot's source and expiry.
func entryDetail(e *credits.Entry) string {
	var parts []string
	switch e.Kind {
	case credits.KindGrant:
		parts = append(parts, e.Source.String())
		if e.Priority != 0 {
			parts = append(parts, fmt.Sprintf("priority %d", e.Priority))
		}
		if !e.Period.IsZero() {
			parts = append(parts, "period from "+instantText(e.Period))
		}
		if !e.ExpiresAt.IsZero() {
			parts = append(parts, "expires "+instantText(e.ExpiresAt))
		}
	case credits.KindCharge:
		if e.Action == 0 {
			parts = append(parts, "raw amount")
			break
		}
		what := fmt.Sprintf("%d x %s", e.Quantity, e.Action)
		if e.Resolution != 0 {
			what += " at " + e.Resolution.String()
		}
		parts = append(parts, what, "prices "+e.PriceVersion)
	case credits.KindHold:
		parts = append(parts, "until "+instantText(e.ExpiresAt))
	case credits.KindCapture:
		parts = append(parts, fmt.Sprintf("of hold %d", e.Hold))
		if back := -e.Held + e.Amount; back > 0 {
			parts = append(parts, fmt.Sprintf("%s back", back))
		}
	case credits.KindRelease:
		parts = append(parts, fmt.Sprintf("of hold %d", e.Hold))
	case credits.KindRefund:
		parts = append(parts, fmt.Sprintf("of entry %d", e.Reverses))
	case credits.KindExpire:
		if e.Hold != 0 {
			parts = append(parts, fmt.Sprintf("hold %d lapsed", e.Hold))
		} else {
			parts = append(parts, fmt.Sprintf("lot %d", e.Lot))
		}
	case credits.KindRollover:
		if e.Lot != 0 {
			parts = append(parts, fmt.Sprintf("carried into lot %d", e.Lot))
		}
		if !e.Period.IsZero() {
			parts = append(parts, "period from "+instantText(e.Period))
		}
	case credits.KindNotice:
		parts = append(parts, e.Notice.String())
		switch e.Notice {
		case credits.NoticeLowBalance:
			parts = append(parts, "under "+e.Value.String())
		case credits.NoticeExpiring:
			parts = append(parts, fmt.Sprintf("%s of lot %d at %s", e.Value, e.Lot, instantText(e.ExpiresAt)))
		case credits.NoticeTopUpFailed:
			parts = append(parts, "tried "+e.Value.String())
		}
	}
	return strings.Join(parts, ", ")
}

// signed formats an amount with its sign: "+30", "-3", "0".
func signed(c credits.Credits) string {
	if c > 0 {
		return "+" + c.String()
	}
	return c.String()
}
