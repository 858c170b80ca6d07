package sqliteledger

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/avstudio/credits"
	"modernc.org/sqlite"
)

// stateCache keeps the decoded states of the accounts a Backend wrote
// last, each with the exact bytes it stored, so that an Update decodes an
// account's state (JSON) only when the bytes it reads from the file differ
// from those it last wrote: another process wrote the account since, or
// it fell out of the cache; and so that Load decodes it only then too (it
// gets a copy). A cached state is never shared: take removes it, put is
// given a copy nobody else holds, and clone copies it under the lock.
//
// It also spares an Update the check of the account's last entry
// (AccountState.CheckLast) when nothing but this Backend's write
// connection can have written the file since it stored the state: the
// connection's PRAGMA data_version is the one it read then (SQLite
// changes it when any other connection, of any process, commits), and the
// connection is the same one (gen: connections, counted by a connection
// hook, has not moved, so the write connection was not replaced, whose new
// data_version could repeat the old one). The last entry is then the one
// this Backend wrote or read and checked, and the state's bytes are still
// compared. Anything else (another writer, a new connection, other bytes)
// reads and checks the last entry.
type stateCache struct {
	mu     sync.Mutex
	states map[string]cachedState
}

type cachedState struct {
	blob    []byte
	state   *credits.AccountState
	dataVer int64  // the write connection's data_version when it stored blob
	gen     uint64 // connections then
}

// connections counts the connections the sqlite driver has opened in this
// process, any Backend's or anyone else's (see stateCache).
var connections atomic.Uint64

func init() {
	sqlite.RegisterConnectionHook(func(sqlite.ExecQuerierContext, string) error {
		connections.Add(1)
		return nil
	})
}

// maxCachedStates bounds the cache; past it, an arbitrary account leaves.
const maxCachedStates = 1024

// take removes and returns the account's cached state, if any.
func (c *stateCache) take(account string) (cachedState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hit, ok := c.states[account]
	if ok {
		delete(c.states, account)
	}
	return hit, ok
}

// clone returns a copy of the account's cached state if it is the one
// blob encodes, byte for byte.
func (c *stateCache) clone(account string, blob []byte) (*credits.AccountState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hit, ok := c.states[account]
	if !ok || !bytes.Equal(hit.blob, blob) {
		return nil, false
	}
	return hit.state.Clone(), true
}

// put caches s: what s.blob, just committed, encodes.
func (c *stateCache) put(account string, s cachedState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states == nil {
		c.states = make(map[string]cachedState)
	}
	if len(c.states) >= maxCachedStates {
		for k := range c.states {
			delete(c.states, k)
			break
		}
	}
	c.states[account] = s
}
