package auth

import (
	"sync"
	"time"
)

// DefaultCacheSize is how many verified tokens a Verifier remembers by default.
const DefaultCacheSize = 4096

// tokenCache remembers verified tokens, so that a client sending the same access token with every
// request (as SMART clients do for the token's lifetime) pays the signature check once: verifying costs
// 107–165 µs of CPU (docs/SECURITY.md), a hit well under a microsecond. An entry is only valid with the
// key set that verified it (any key refresh invalidates every entry, so a withdrawn key stops being
// honoured at once) and within the token's nbf/exp (with the leeway); failures are never cached. The
// cache is bounded: when full, an arbitrary entry (Go map order) is evicted.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	entries map[string]cacheEntry // by the whole compact token
}

type cacheEntry struct {
	p        *Principal
	set      *keySet
	nbf, exp time.Time // bounds of validity, leeway included
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[string]cacheEntry, min(max, 1024))}
}

// get returns the principal of a token verified with set that is still valid at now.
func (c *tokenCache) get(token string, set *keySet, now time.Time) *Principal {
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	if !ok || e.set != set || set == nil || now.Before(e.nbf) || now.After(e.exp) {
		return nil
	}
	return e.p
}

func (c *tokenCache) put(token string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[token]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[token] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
