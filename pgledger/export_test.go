package pgledger

// HistorySQL returns the SQL of the history query with the given filters
// (kinds, since, until, spender), and KeyedEntrySQL the idempotency
// lookup's, for the tests that EXPLAIN them.
func HistorySQL(b *Backend, kinds, since, until, spender bool) string {
	f := 0
	if kinds {
		f |= filterKinds
	}
	if since {
		f |= filterSince
	}
	if until {
		f |= filterUntil
	}
	if spender {
		f |= filterSpender
	}
	return b.q.entries[f]
}

// KeyedEntrySQL returns the SQL of the idempotency lookup.
func KeyedEntrySQL(b *Backend) string { return b.q.keyedEntry }

// SlowPathOnly turns b's fast path off (fastpath.go), for the tests and
// benchmarks of the slow path.
func SlowPathOnly(b *Backend) {
	b.memory.mu.Lock()
	defer b.memory.mu.Unlock()
	b.memory.off = true
	b.memory.accounts = nil
}
