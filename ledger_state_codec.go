package credits

import (
	"encoding/json"
	"fmt"
	"time"
)

// stateJSON is the stored form of an AccountState.
type stateJSON struct {
	Format    int               `json:"format"`
	LastID    int64             `json:"last_id"`
	LastTime  time.Time         `json:"last_time,omitzero"`
	Debt      Credits           `json:"debt,omitempty"`
	Lots      []lot             `json:"lots,omitempty"`
	Holds     []hold            `json:"holds,omitempty"`
	Refunded  map[int64]Credits `json:"refunded,omitempty"`
	Subs      []subMark         `json:"subscriptions,omitempty"`
	ClaimedBy string            `json:"claimed_by,omitempty"`
	LowAt     Credits           `json:"low_at,omitempty"`
	TopUps    topUps            `json:"auto_topups,omitzero"`
	Budgets   []budget          `json:"budgets,omitempty"`
	Spends    []spend           `json:"spends,omitempty"`
	LastHash  Hash              `json:"last_hash,omitzero"`
	PrevHash  Hash              `json:"prev_hash,omitzero"`
}

// stateFormat is the format MarshalBinary writes. Format 1 (before
// v0.1.0) lacks subscriptions and claimed_by, format 2 the holds'
// spenders and multi-capture, budgets and their running sums: such a
// state decodes as stale, and the Ledger rebuilds it from the history.
const stateFormat = 3

// MarshalBinary encodes the state for a backend to store. The encoding is
// JSON (readable in a database console) and round-trips exactly.
func (s *AccountState) MarshalBinary() ([]byte, error) {
	format := stateFormat
	if s.stale {
		// Still the older format's content: say so, so that whoever
		// decodes it rebuilds it.
		format = 1
	}
	return json.Marshal(stateJSON{Format: format, LastID: s.lastID, LastTime: s.lastTime, Debt: s.debt, Lots: s.lots, Holds: s.holds,
		Refunded: s.refunded, Subs: s.subs, ClaimedBy: s.claimedBy, LowAt: s.lowAt, TopUps: s.topUps,
		Budgets: s.budgets, Spends: s.spends, LastHash: s.lastHash, PrevHash: s.prevHash})
}

// UnmarshalBinary restores a state encoded by [AccountState.MarshalBinary].
func (s *AccountState) UnmarshalBinary(b []byte) error {
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("credits: decode account state: %w", err)
	}
	if j.Format < 1 || j.Format > stateFormat {
		return fmt.Errorf("credits: decode account state: unknown format %d (a newer release of this package wrote it?)", j.Format)
	}
	*s = AccountState{lastID: j.LastID, lastTime: j.LastTime, debt: j.Debt, lots: j.Lots, holds: j.Holds, refunded: j.Refunded,
		subs: j.Subs, claimedBy: j.ClaimedBy, lowAt: j.LowAt, topUps: j.TopUps, budgets: j.Budgets, spends: j.Spends,
		lastHash: j.LastHash, prevHash: j.PrevHash, stale: j.Format < stateFormat}
	s.derive() // the totals are not stored: they add up from the lots and holds
	return nil
}
