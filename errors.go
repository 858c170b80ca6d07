package credits

import (
	"errors"
	"fmt"
)

// The errors of the library. Every error the library returns either is one
// of these sentinels or wraps one, so errors.Is answers "what kind of
// failure"; the typed errors below carry the details for errors.As.
var (
	// ErrInvalidInput: a request, price table, job or name is malformed.
	// The returned error is an [*InputError] naming the field at fault.
	ErrInvalidInput = errors.New("invalid input")

	// ErrOverflow: an amount does not fit in [Credits]. An amount read
	// from text or a decimal ([Parse], [FromDecimal], JSON) that does not
	// fit is the caller's bad input as well: that error is an
	// [*InputError] and matches both ErrOverflow and [ErrInvalidInput].
	ErrOverflow = errors.New("amount overflows")

	// ErrInsufficientCredits: a charge or hold would take the account's
	// available credits below its overdraft limit. The returned error is
	// an [*InsufficientCreditsError] with the shortfall.
	ErrInsufficientCredits = errors.New("insufficient credits")

	// ErrIdempotencyConflict: an idempotency key was reused for a different
	// request. The returned error is an [*IdempotencyConflictError].
	ErrIdempotencyConflict = errors.New("idempotency key reused for a different request")

	// ErrUnknownAccount: the account has no entries at all. Reads do not
	// return it (an account with no entries has a zero balance and an
	// empty history); it is kept for callers that need to say so.
	ErrUnknownAccount = errors.New("unknown account")

	// ErrEntryNotFound: no entry has the given ID in the account.
	ErrEntryNotFound = errors.New("entry not found")

	// ErrHoldNotFound: the ID names no hold of the account.
	ErrHoldNotFound = errors.New("hold not found")

	// ErrHoldClosed: the hold was already captured, released or expired.
	ErrHoldClosed = errors.New("hold already closed")

	// ErrAlreadyClaimed: the free tier was already claimed by this account
	// or under this claim key.
	ErrAlreadyClaimed = errors.New("free tier already claimed")

	// ErrNotRefundable: a refund names an entry that is not a charge or a
	// capture, or asks for more than is left of it to refund.
	ErrNotRefundable = errors.New("not refundable")

	// ErrUnknownPriceVersion: no price table has the given version, or none
	// is in force at the given instant.
	ErrUnknownPriceVersion = errors.New("unknown price version")

	// ErrBackend: the backend failed to load or store (a lost connection,
	// a full disk, a locked file). The returned error is a
	// [*BackendError], which also wraps the backend's own error (and the
	// context's, if it was cancelled or expired). A write that fails so
	// may or may not have been stored: retry it with the same idempotency
	// key.
	ErrBackend = errors.New("backend failure")

	// ErrConflict: a stored record changed under a compare-and-swap (a
	// backend's SaveConsumer): someone else saved it first.
	ErrConflict = errors.New("stored record changed")

	// ErrLeaseHeld: another instance holds the lease of a feed consumer
	// (see [Ledger.Consume]).
	ErrLeaseHeld = errors.New("consumer lease held by another instance")

	// ErrCorrupt: a durable backend found stored data it cannot trust (a
	// state that does not decode, or disagrees with its checksum or with
	// the account's entries; an entry row that does not decode, or is not
	// the one asked for), and refused to act on it. The error is a
	// [*CorruptError] naming the account and what is wrong; under a Ledger
	// operation it comes wrapped in a [*BackendError], which matches both
	// ErrBackend and ErrCorrupt. Nothing was changed; retrying will fail
	// the same way until the data is repaired (restore the account from a
	// backup, or rebuild its state from its entries).
	ErrCorrupt = errors.New("corrupt ledger data")
)

// InputError reports bad input: which field, the value found there, and
// why it is wrong. It matches [ErrInvalidInput] with errors.Is.
type InputError struct {
	Field  string // the field at fault, as named in JSON: "remote_assets[2].url"
	Value  string // the offending value, possibly shortened; "" when absent
	Reason string // what is wrong, in a few words
}

// Error names the field, the value and what is wrong.
func (e *InputError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("%s: %q: %s", e.Field, shorten(e.Value, 120), e.Reason)
}

// Unwrap returns [ErrInvalidInput].
func (e *InputError) Unwrap() error { return ErrInvalidInput }

// inputErr is shorthand for a new [*InputError].
func inputErr(field, value, reason string) error {
	return &InputError{Field: field, Value: value, Reason: reason}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// InsufficientCreditsError reports a charge or hold the account cannot
// cover. It matches [ErrInsufficientCredits] with errors.Is.
type InsufficientCreditsError struct {
	Account   string
	Requested Credits // what the operation needed
	Available Credits // what the account could spend, overdraft included
	Shortfall Credits // Requested - Available
}

// Error says what was needed, what was available and the shortfall.
func (e *InsufficientCreditsError) Error() string {
	return fmt.Sprintf("account %q: insufficient credits: needs %s, has %s available (short by %s)",
		e.Account, e.Requested, e.Available, e.Shortfall)
}

// Unwrap returns [ErrInsufficientCredits].
func (e *InsufficientCreditsError) Unwrap() error { return ErrInsufficientCredits }

// IdempotencyConflictError reports an idempotency key that was first used
// for another request. It matches [ErrIdempotencyConflict] with errors.Is.
type IdempotencyConflictError struct {
	Account string
	Key     string
	EntryID int64 // the entry recorded under Key by the first request
}

// Error names the account, the key and the first request's entry.
func (e *IdempotencyConflictError) Error() string {
	return fmt.Sprintf("account %q: idempotency key %q was used for a different request (entry %d)",
		e.Account, e.Key, e.EntryID)
}

// Unwrap returns [ErrIdempotencyConflict].
func (e *IdempotencyConflictError) Unwrap() error { return ErrIdempotencyConflict }

// BackendError reports a failure of the [Backend] under a Ledger
// operation. It matches [ErrBackend] and the backend's own error with
// errors.Is and errors.As (a cancelled ctx shows as context.Canceled).
type BackendError struct {
	Op      Op     // the ledger operation that called the backend
	Account string // the account it was working on
	Err     error  // what the backend returned
}

// Error names the operation, the account and the backend's error.
func (e *BackendError) Error() string {
	return fmt.Sprintf("credits: %s account %q: %v", e.Op, e.Account, e.Err)
}

// Unwrap returns [ErrBackend] and the backend's error.
func (e *BackendError) Unwrap() []error { return []error{ErrBackend, e.Err} }

// CorruptError reports stored data of an account that a backend cannot
// trust. It matches [ErrCorrupt] with errors.Is, and Err, if any.
type CorruptError struct {
	Account string // the account whose data is corrupt ("" when it cannot be told, e.g. a damaged file page)
	Entry   int64  // the entry at fault; 0 for the account's stored state, or none in particular
	Reason  string // what is wrong, in a few words
	Err     error  // the underlying error (a decoding or storage engine error), or nil
}

// Error names the account, the entry if any, and what is wrong.
func (e *CorruptError) Error() string {
	var where string
	switch {
	case e.Account == "":
		where = "ledger data"
	case e.Entry != 0:
		where = fmt.Sprintf("account %q: entry %d", e.Account, e.Entry)
	default:
		where = fmt.Sprintf("account %q", e.Account)
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: corrupt: %s: %v", where, e.Reason, e.Err)
	}
	return fmt.Sprintf("%s: corrupt: %s", where, e.Reason)
}

// Unwrap returns [ErrCorrupt] and Err, if any.
func (e *CorruptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Err}
}
