package credits

import "time"

// NoticeKind says what a [Notice] is about. The zero value is not a
// kind; each has a stable text name.
type NoticeKind uint8

// The notices a Ledger gives. Low balance and expiring are entries of
// their own (kind notice), written by the core in the same atomic step as
// the write that causes them; the others are the entries of the event
// itself. Every one reaches consumers of the feed.
const (
	// NoticeLowBalance: a write left the account's available credits
	// below its threshold (Options.LowBalance). Once given, it is not
	// given again until the available credits are back at the threshold
	// or above. An entry of its own: Value is the threshold.
	NoticeLowBalance NoticeKind = iota + 1

	// NoticeExpiring: a lot's credits expire within Options.ExpiringNotice
	// (say, a week). Given once per lot. An entry of its own: Lot, its
	// ExpiresAt, and Value, the credits that will expire.
	NoticeExpiring

	// NoticeHoldLapsed: a hold reached its deadline with neither a capture
	// nor a release (the expire entry of the hold).
	NoticeHoldLapsed

	// NoticeFreeTierClaimed: the free tier was granted (its grant).
	NoticeFreeTierClaimed

	// NoticeRenewed: a subscription's period was granted, or a period's
	// end rolled credits over or let them expire (the grant and rollover
	// entries of Renew; Subscription, Period and Carried say what).
	NoticeRenewed

	// NoticeTopUpFailed: an [AutoTopUp] could not charge the payment
	// method after a low balance. An entry of its own: Value is the
	// amount it tried.
	NoticeTopUpFailed

	numNoticeKinds = iota + 1
)

var noticeNames = [numNoticeKinds]string{
	NoticeLowBalance: "low_balance", NoticeExpiring: "expiring", NoticeHoldLapsed: "hold_lapsed",
	NoticeFreeTierClaimed: "free_tier_claimed", NoticeRenewed: "renewed", NoticeTopUpFailed: "topup_failed",
}

var noticeEnum = newEnum[NoticeKind]("NoticeKind", "notice", "notice", noticeNames[:], true, false)

// Valid reports whether k is one of the defined notice kinds.
func (k NoticeKind) Valid() bool { return k > 0 && k < numNoticeKinds }

// String returns the stable text name of k, such as "low_balance"; ""
// for the zero value.
func (k NoticeKind) String() string { return noticeEnum.string(k) }

// ParseNoticeKind returns the notice kind named s.
func ParseNoticeKind(s string) (NoticeKind, error) { return noticeEnum.parse(s) }

// MarshalText implements encoding.TextMarshaler.
func (k NoticeKind) MarshalText() ([]byte, error) { return noticeEnum.marshalText(k) }

// UnmarshalText implements encoding.TextUnmarshaler with
// [ParseNoticeKind]. On error k is left unchanged.
func (k *NoticeKind) UnmarshalText(b []byte) error { return noticeEnum.unmarshalText(k, b) }

// Notice is something a service should hear of: an entry, and what it
// means. A consumer of the feed (see [Ledger.Consume]) finds them with
// [NoticeOf].
type Notice struct {
	Kind  NoticeKind
	Entry Entry
}

// NoticeOf reports whether e is a notice, and which.
func NoticeOf(e Entry) (Notice, bool) {
	var k NoticeKind
	switch {
	case e.Kind == KindNotice:
		k = e.Notice
	case e.Kind == KindExpire && e.Hold != 0:
		k = NoticeHoldLapsed
	case e.Kind == KindGrant && e.Source == SourceFreeTier:
		k = NoticeFreeTierClaimed
	case (e.Kind == KindGrant || e.Kind == KindRollover) && e.Subscription != "":
		k = NoticeRenewed
	default:
		return Notice{}, false
	}
	return Notice{Kind: k, Entry: e}, true
}

// notices appends to entries the notices a write at now leaves due on s
// (whose entries are applied), applying them: a low balance under the
// threshold while armed, and lots expiring within the window that have
// not been warned of.
func (l *Ledger) notices(s *AccountState, account string, now time.Time, entries []Entry) []Entry {
	if l.lowBalance != nil {
		if t := l.lowBalance(account); t > 0 && s.lowAt == 0 && s.balance()-s.held() < t {
			entries = l.notice(s, account, now, entries, Entry{Kind: KindNotice, Notice: NoticeLowBalance, Value: t})
		}
	}
	if l.expiringNotice > 0 {
		for i := 0; i < len(s.lots); i++ {
			lt := s.lots[i]
			if lt.Warned || lt.Remaining == 0 || lt.ExpiresAt.IsZero() || expired(lt.ExpiresAt, now) || lt.ExpiresAt.Sub(now) > l.expiringNotice {
				continue
			}
			entries = l.notice(s, account, now, entries, Entry{Kind: KindNotice, Notice: NoticeExpiring, Lot: lt.ID, ExpiresAt: lt.ExpiresAt, Value: lt.Remaining})
		}
	}
	return entries
}

func (l *Ledger) notice(s *AccountState, account string, now time.Time, entries []Entry, e Entry) []Entry {
	stamp(s, &e, account, s.writeTime(now))
	s.apply(&e)
	e.BalanceAfter = s.balance()
	return append(entries, e)
}
