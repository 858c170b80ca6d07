package credits

// rollover applies a rollover entry: from the unexpired lots of the
// entry's Source, it removes -e.Amount credits in spending order (what the
// policy let expire); if e.Lot is the entry's own ID, the unreserved
// credits left in those lots are carried into one new lot with the entry's
// expiry and priority.
func (s *AccountState) rollover(e *Entry) {
	drop := -e.Amount
	var carry Credits
	for i := range s.lots {
		l := &s.lots[i]
		if l.Source != e.Source || expired(l.ExpiresAt, e.Time) {
			continue
		}
		take := min(l.Remaining, drop)
		l.Remaining -= take
		drop -= take
		if e.Lot == e.ID {
			carry += l.Remaining
			l.Remaining = 0
		}
	}
	s.prune()
	if carry > 0 {
		s.addCredits(lot{ID: e.ID, Source: SourceRollover, Priority: e.Priority, ExpiresAt: e.ExpiresAt, Remaining: carry})
	}
}
