package credits

import "time"

// Kind is the kind of a ledger entry. Each has a stable text name used in
// JSON, SQL and the command line.
type Kind uint8

// The kinds of ledger entries.
const (
	KindGrant    Kind = iota + 1 // grant: credits added to the account, as a new lot
	KindCharge                   // charge: credits spent on an action or a raw amount
	KindRefund                   // refund: credits given back for a charge or capture
	KindHold                     // hold: credits reserved for work in flight
	KindCapture                  // capture: a hold closed by spending all or part of it
	KindRelease                  // release: a hold closed without spending it
	KindExpire                   // expire: a lot's credits or a hold's deadline ran out
	KindRollover                 // rollover: a period ended; the policy let some credits expire
	KindClaim                    // claim: a free-tier claim key taken (on a claim record)
	KindNotice                   // notice: something a service should hear of (see NoticeKind); it moves no credits
	KindBudget                   // budget: a spender's budget set, changed or removed (moves no credits)

	numKinds = iota + 1
)

var kindNames = [numKinds]string{
	KindGrant: "grant", KindCharge: "charge", KindRefund: "refund", KindHold: "hold",
	KindCapture: "capture", KindRelease: "release", KindExpire: "expire",
	KindRollover: "rollover", KindClaim: "claim", KindNotice: "notice", KindBudget: "budget",
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k > 0 && k < numKinds }

var kindEnum = newEnum[Kind]("Kind", "kind", "entry kind", kindNames[:], false, false)

// String returns the stable text name of k, such as "charge", or
// "Kind(n)" for an undefined kind.
func (k Kind) String() string { return kindEnum.string(k) }

// ParseKind returns the kind named s, exactly as [Kind.String] prints it.
// An unknown name is an [*InputError] naming it and listing the valid names.
func ParseKind(s string) (Kind, error) { return kindEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler. An undefined kind (the
// zero value included) is an [*InputError].
func (k Kind) MarshalText() ([]byte, error) { return kindEnum.marshalText(k) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseKind]. On
// error k is left unchanged.
func (k *Kind) UnmarshalText(b []byte) error { return kindEnum.unmarshalText(k, b) }

// Source says where granted credits came from. The zero value is not a
// source.
type Source uint8

// The sources of granted credits.
const (
	SourceFreeTier     Source = iota + 1 // free_tier: the one-time free credits
	SourceSubscription                   // subscription: a billing period's credits
	SourceTopUp                          // topup: credits bought on top
	SourceRefund                         // refund: credits given back
	SourceAdjustment                     // adjustment: a manual correction
	SourceRollover                       // rollover: leftovers carried into a new lot at a period's end
	SourceAutoTopUp                      // auto_topup: credits bought by an AutoTopUp when the balance ran low

	numSources = iota + 1
)

var sourceNames = [numSources]string{
	SourceFreeTier: "free_tier", SourceSubscription: "subscription", SourceTopUp: "topup",
	SourceRefund: "refund", SourceAdjustment: "adjustment", SourceRollover: "rollover", SourceAutoTopUp: "auto_topup",
}

// Valid reports whether s is one of the defined sources.
func (s Source) Valid() bool { return s > 0 && s < numSources }

var sourceEnum = newEnum[Source]("Source", "source", "source", sourceNames[:], true, false)

// String returns the stable text name of s, such as "topup"; "" for zero.
func (s Source) String() string { return sourceEnum.string(s) }

// ParseSource returns the source named s, exactly as [Source.String]
// prints it. An unknown name ("" included) is an [*InputError] naming it
// and listing the valid names.
func ParseSource(s string) (Source, error) { return sourceEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler: "" for the zero value,
// an [*InputError] for an undefined one.
func (s Source) MarshalText() ([]byte, error) { return sourceEnum.marshalText(s) }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseSource].
// On error s is left unchanged.
func (s *Source) UnmarshalText(b []byte) error { return sourceEnum.unmarshalText(s, b) }

// Entry is one immutable line of an account's history. Entries are only
// ever appended; the account's balance is always the sum of their Amounts.
//
// Every field but Metadata is the ledger's: what the request asked for and
// what the ledger decided. Metadata is the caller's alone; the ledger never
// writes or reads it.
type Entry struct {
	Account string    `json:"account"`
	ID      int64     `json:"id"`   // position in the account's history: 1, 2, 3...
	Kind    Kind      `json:"kind"` // what happened
	Time    time.Time `json:"time"` // when it took effect, in UTC, to the microsecond; never earlier than the entry before

	Amount       Credits `json:"amount"`          // signed change to the balance
	Held         Credits `json:"held,omitempty"`  // signed change to the credits on hold
	BalanceAfter Credits `json:"balance_after"`   // the balance once this entry is applied
	Source       Source  `json:"source,omitzero"` // grant: where the credits came from; rollover: which lots

	Action       Action     `json:"action,omitzero"`         // charge, capture of a job's step: the action priced
	Resolution   Resolution `json:"resolution,omitzero"`     // charge: the video resolution, if any
	Quantity     int64      `json:"quantity,omitempty"`      // charge, capture of a job's step: units of the action
	PriceVersion string     `json:"price_version,omitempty"` // charge, job hold and its captures: the price table used

	// Spender is who spent: on a charge or hold, the spender the request
	// named (an API key, a member, an agent; "" for none); on a capture,
	// release or lapse of a hold, the hold's; on a refund, the refunded
	// entry's. On a budget entry it names what the budget caps (see
	// [BudgetRequest.Spender]).
	Spender      string         `json:"spender,omitempty"`
	MultiCapture bool           `json:"multi_capture,omitempty"` // hold: it may be captured several times (see [HoldRequest.MultiCapture])
	Lines        []EstimateLine `json:"lines,omitempty"`         // hold of a job run: the estimate's lines, each step's share of it
	Failure      FailureKind    `json:"failure,omitzero"`        // release and refunds of a failed job run: why it failed

	Cap    Credits    `json:"cap,omitempty"`   // budget: the most its spenders may spend and hold in one window
	Window WindowUnit `json:"window,omitzero"` // budget: the window the cap is per; zero: the budget is removed
	Zone   string     `json:"zone,omitempty"`  // budget: the IANA time zone of a day, week or month window ("" = UTC)

	Hold      int64     `json:"hold,omitempty"`      // hold, capture, release, expire: the hold (its hold entry's ID)
	Lot       int64     `json:"lot,omitempty"`       // expire: the lot that expired; rollover: the lot leftovers were carried into, or 0; grant, refund: the lot its credits went into, one of the same source, priority and expiry not yet warned of, or 0 for a new lot of their own (as every grant and refund made before lots merged)
	Reverses  int64     `json:"reverses,omitempty"`  // refund: the charge or capture refunded
	Priority  int32     `json:"priority,omitempty"`  // grant, rollover: the new lot's spending priority
	ExpiresAt time.Time `json:"expires_at,omitzero"` // grant, rollover: when the new lot expires; hold: its deadline
	Period    time.Time `json:"period,omitzero"`     // subscription grant, rollover: the start of the billing period
	PeriodEnd time.Time `json:"period_end,omitzero"` // subscription grant, rollover: the end of that period (zero on entries written before v0.1.0)

	Subscription string  `json:"subscription,omitempty"` // subscription grant, rollover: the subscription's ID; budget: the subscription whose billing periods are its windows
	Plan         string  `json:"plan,omitempty"`         // subscription grant: the plan's name
	Carried      Credits `json:"carried,omitempty"`      // rollover: the credits carried into the lot Lot (not a change of balance)
	Claim        string  `json:"claim,omitempty"`        // free-tier grant: the claim key it was granted under; claim: the account that holds the key ("" once given up)

	Notice NoticeKind `json:"notice,omitzero"` // notice: what it is about
	Value  Credits    `json:"value,omitempty"` // notice: low_balance, the threshold crossed; expiring, the credits of lot Lot that expire at ExpiresAt

	Key         string            `json:"key,omitempty"`          // the idempotency key of the request that made it; "" for entries the ledger made itself
	RequestHash uint64            `json:"request_hash,omitempty"` // fingerprint of that request, to tell a retry from a conflict
	Metadata    map[string]string `json:"metadata,omitempty"`     // the caller's notes

	Hash Hash `json:"hash,omitzero"` // its link in the account's tamper-evident chain (see HashEntry); zero on entries written before the chain
}
