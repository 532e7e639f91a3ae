package fleet_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// countingStore is a real in-memory key store that counts lookups.
type countingStore struct {
	mu    sync.Mutex
	keys  map[string]*auth.KeyRecord
	calls atomic.Int64
	// during, when set, runs inside Get after the record was read.
	during func()
}

func (s *countingStore) Get(_ context.Context, id string) (*auth.KeyRecord, error) {
	s.calls.Add(1)
	s.mu.Lock()
	rec, ok := s.keys[id]
	s.mu.Unlock()
	if s.during != nil {
		s.during()
	}
	if !ok {
		return nil, auth.ErrKeyNotFound
	}
	return rec, nil
}

func (s *countingStore) revoke(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	c := *s.keys[id]
	c.RevokedAt = &now
	s.keys[id] = &c
}

func newStore(ids ...string) *countingStore {
	s := &countingStore{keys: map[string]*auth.KeyRecord{}}
	for _, id := range ids {
		s.keys[id] = &auth.KeyRecord{ID: id}
	}
	return s
}

func TestKeyCacheReusesUntilTTLOrInvalidate(t *testing.T) {
	st := newStore("a", "b")
	c := fleet.NewKeyCache(st, time.Hour, 10)
	ctx := context.Background()
	for range 3 {
		rec, err := c.Get(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, "a", rec.ID)
	}
	require.EqualValues(t, 1, st.calls.Load(), "cached")

	st.revoke("a")
	rec, _ := c.Get(ctx, "a")
	require.Nil(t, rec.RevokedAt, "the cache answers until told")
	c.Invalidate("a")
	rec, _ = c.Get(ctx, "a")
	require.NotNil(t, rec.RevokedAt, "after Invalidate the store is asked again")

	_, err := c.Get(ctx, "missing")
	require.ErrorIs(t, err, auth.ErrKeyNotFound)
	_, _ = c.Get(ctx, "missing")
	require.EqualValues(t, 4, st.calls.Load(), "unknown ids are not cached: a key created elsewhere works at once")
}

func TestKeyCacheExpires(t *testing.T) {
	st := newStore("a")
	c := fleet.NewKeyCache(st, 50*time.Millisecond, 10)
	ctx := context.Background()
	_, _ = c.Get(ctx, "a")
	st.revoke("a")
	waitFor(t, func() bool {
		rec, err := c.Get(ctx, "a")
		require.NoError(t, err)
		return rec.RevokedAt != nil
	}, "the entry to expire")
}

func TestKeyCacheOff(t *testing.T) {
	st := newStore("a")
	c := fleet.NewKeyCache(st, 0, 10)
	for range 3 {
		_, _ = c.Get(context.Background(), "a")
	}
	require.EqualValues(t, 3, st.calls.Load())
	require.Zero(t, c.Len())
}

// A revocation that arrives while the store is being read must not be
// undone by storing the (possibly older) answer.
func TestKeyCacheInvalidationDuringLookup(t *testing.T) {
	st := newStore("a")
	c := fleet.NewKeyCache(st, time.Hour, 10)
	st.during = func() { c.Invalidate("a") }
	_, _ = c.Get(context.Background(), "a")
	st.during = nil
	require.Zero(t, c.Len(), "the lookup raced an invalidation and was not kept")
	_, _ = c.Get(context.Background(), "a")
	require.Equal(t, 1, c.Len())
}

func TestKeyCacheBounded(t *testing.T) {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	st := newStore(ids...)
	c := fleet.NewKeyCache(st, time.Hour, 10)
	for _, id := range ids {
		_, _ = c.Get(context.Background(), id)
	}
	require.LessOrEqual(t, c.Len(), 10)
}

func dial(t *testing.T, addr string) *fleet.Redis {
	t.Helper()
	r := fleet.Dial(fleet.RedisOptions{Addr: addr, Prefix: "bus:", ProbeEvery: 50 * time.Millisecond}, quiet, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = r.Close() })
	go r.Run(ctx)
	return r
}

func runBus(t *testing.T, b *fleet.Bus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go b.Run(ctx)
	select {
	case <-b.Subscribed():
	case <-time.After(30 * time.Second):
		t.Fatal("bus never subscribed")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	testenv.WaitUntil(t, cond, what)
}

// Two proxies' buses on one Redis: a revocation published by one empties
// the other's cache; a proxy does not act on its own messages; after Redis
// comes back the subscription is restored and caches that may have missed
// messages are emptied.
func TestBusPropagatesAndRecovers(t *testing.T) {
	srv := testenv.NewRedisServer(t)
	ra, rb := dial(t, srv.Addr), dial(t, srv.Addr)
	ba, bb := fleet.NewBus(ra, quiet), fleet.NewBus(rb, quiet)
	st := newStore("k1", "k2")
	cacheB := fleet.NewKeyCache(st, time.Hour, 10)
	cacheB.Follow(bb)
	var own atomic.Int64
	ba.On(fleet.KindKey, func(fleet.Message) { own.Add(1) })
	runBus(t, ba)
	runBus(t, bb)
	ctx := context.Background()

	_, _ = cacheB.Get(ctx, "k1")
	_, _ = cacheB.Get(ctx, "k2")
	require.Equal(t, 2, cacheB.Len())
	waitFor(t, ra.Up, "redis up")
	require.NoError(t, ba.Publish(ctx, fleet.KindKey, "k1"))
	waitFor(t, func() bool { return cacheB.Len() == 1 }, "k1 dropped on B")
	require.Zero(t, own.Load(), "A ignores its own message")

	srv.Stop()
	waitFor(t, func() bool { return ba.Publish(ctx, fleet.KindKey, "k2") != nil }, "publish failing")
	waitFor(t, func() bool { return !ra.Up() }, "A sees redis down")
	srv.Start()
	// k2's message was lost with Redis; B drops everything when it
	// subscribes again instead.
	waitFor(t, func() bool { return cacheB.Len() == 0 }, "B's cache emptied after resubscribing")
	_, _ = cacheB.Get(ctx, "k1")
	waitFor(t, ra.Up, "A sees redis back")
	waitFor(t, func() bool {
		_ = ba.Publish(ctx, fleet.KindKey, "k1")
		return cacheB.Len() == 0
	}, "messages flowing again")
}

func TestBusWithoutRedis(t *testing.T) {
	b := fleet.NewBus(nil, quiet)
	require.NoError(t, b.Publish(context.Background(), fleet.KindPolicy, "x"), "without Redis there is nobody to tell")
	b.Run(context.Background()) // returns at once
}
