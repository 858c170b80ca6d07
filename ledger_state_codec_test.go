package credits

import "testing"

// A state decoded from an older format stays marked so when encoded
// again: a backend that stores it back (a batch whose operations wrote
// nothing) must not make it pass for a state of the current format, which
// would drop what the rebuild was to add.
func TestStaleStateStaysStale(t *testing.T) {
	var s AccountState
	if err := s.UnmarshalBinary([]byte(`{"format":1,"last_id":3,"lots":[{"id":1,"source":"topup","remaining":5000000}]}`)); err != nil {
		t.Fatal(err)
	}
	if !s.stale {
		t.Fatal("a format-1 state did not decode as stale")
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var again AccountState
	if err := again.UnmarshalBinary(b); err != nil || !again.stale || again.Version() != 3 {
		t.Fatalf("re-encoded as %s: stale %v, version %d, %v", b, again.stale, again.Version(), err)
	}
	fresh, _ := new(AccountState).MarshalBinary()
	var f AccountState
	if err := f.UnmarshalBinary(fresh); err != nil || f.stale {
		t.Fatalf("a current state decodes as stale: %v", err)
	}
}
