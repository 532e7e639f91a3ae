package fleet

import (
	"context"
	"sync"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/auth"
)

// KeyCache is an auth.KeyStore that reuses lookups of another one for TTL.
// A revocation made anywhere is applied by Invalidate (this proxy) or by a
// bus message (the others); without Redis a revoked key stays usable on
// the other proxies until its entry ages out, at most TTL.
//
// Only found keys are cached: an unknown id goes to the store each time (the
// auth_failure limits bound how often), so a key created on one proxy works
// on every other at once. Expiry needs no message: the authenticator checks
// expires_at against the clock on every request.
type KeyCache struct {
	inner auth.KeyStore
	ttl   time.Duration
	size  int
	now   func() time.Time

	mu  sync.Mutex
	m   map[string]keyEntry
	gen uint64 // bumped by every invalidation; stale lookups are not stored
}

type keyEntry struct {
	rec     *auth.KeyRecord
	expires time.Time
}

// NewKeyCache caches inner's answers for ttl, at most size keys. ttl 0
// disables the cache.
func NewKeyCache(inner auth.KeyStore, ttl time.Duration, size int) *KeyCache {
	if size <= 0 {
		size = 10000
	}
	return &KeyCache{inner: inner, ttl: ttl, size: size, now: time.Now, m: map[string]keyEntry{}}
}

// Get implements auth.KeyStore.
func (c *KeyCache) Get(ctx context.Context, id string) (*auth.KeyRecord, error) {
	if c.ttl <= 0 {
		return c.inner.Get(ctx, id)
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.rec, nil
	}
	rec, err := c.inner.Get(ctx, id)
	if err != nil || rec == nil {
		return rec, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// An invalidation that arrived while the store was being read may be
	// about this very key: the answer read may predate it, so it is not kept.
	if c.gen == gen {
		if len(c.m) >= c.size {
			c.evict(now)
		}
		c.m[id] = keyEntry{rec: rec, expires: now.Add(c.ttl)}
	}
	return rec, nil
}

// evict drops expired entries, then arbitrary ones until there is room.
func (c *KeyCache) evict(now time.Time) {
	for id, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, id)
		}
	}
	for id := range c.m {
		if len(c.m) < c.size {
			return
		}
		delete(c.m, id)
	}
}

// Invalidate forgets key id.
func (c *KeyCache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, id)
}

// Clear forgets every key (after missed messages).
func (c *KeyCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = map[string]keyEntry{}
}

// Len is the number of cached keys.
func (c *KeyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Follow applies key messages from the other proxies to the cache.
func (c *KeyCache) Follow(b *Bus) {
	b.On(KindKey, func(m Message) { c.Invalidate(m.Data) })
	b.OnResubscribe(c.Clear)
}
