package ratelimit_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var alice = ratelimit.Subject{Principal: "alice", Tenant: "t1", APIKey: "k1", IP: "10.0.0.1"}

func TestLocalGCRA(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	l := ratelimit.New(ratelimit.Params{Now: clk.now, Rules: []ratelimit.Rule{
		{Name: "r", By: "principal", AppliesTo: []string{"read"}, Limit: 10, Per: 10 * time.Second, Burst: 4},
	}})
	ctx := context.Background()
	// An idle counter takes 1 + burst at once.
	for i := range 5 {
		d := l.Check(ctx, "read", alice)
		require.True(t, d.Allowed, "request %d", i)
		require.Equal(t, 4-i, d.Remaining)
		require.Equal(t, 10, d.Limit)
		require.Equal(t, time.Duration(i+1)*time.Second, d.Reset)
	}
	d := l.Check(ctx, "read", alice)
	require.False(t, d.Allowed)
	require.False(t, d.Unavailable)
	require.Equal(t, time.Second, d.RetryAfter)
	// Another caller has a counter of its own; another class is not counted.
	require.True(t, l.Check(ctx, "read", ratelimit.Subject{Principal: "bob"}).Allowed)
	require.False(t, l.Check(ctx, "write", alice).Applied)

	// One interval later exactly one more is allowed.
	clk.add(time.Second)
	require.True(t, l.Check(ctx, "read", alice).Allowed)
	require.False(t, l.Check(ctx, "read", alice).Allowed)
	// Over any window of per: at most limit + burst.
	allowed := 0
	for range 100 {
		clk.add(100 * time.Millisecond)
		if l.Check(ctx, "read", ratelimit.Subject{Principal: "carol"}).Allowed {
			allowed++
		}
	}
	require.Equal(t, 10+4, allowed)
}

func TestBurstZeroAllowsTheRate(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	l := ratelimit.New(ratelimit.Params{Now: clk.now, Rules: []ratelimit.Rule{
		{Name: "r", By: "ip", AppliesTo: []string{"all"}, Limit: 1, Per: time.Minute},
	}})
	ctx := context.Background()
	require.True(t, l.Check(ctx, "write", alice).Allowed)
	require.False(t, l.Check(ctx, "aggregate", alice).Allowed, "all covers every class")
	require.False(t, l.Check(ctx, "auth_failure", alice).Applied, "all does not count failed authentications")
}

func TestTightestLimitIsReported(t *testing.T) {
	l := ratelimit.New(ratelimit.Params{Rules: []ratelimit.Rule{
		{Name: "wide", By: "tenant", AppliesTo: []string{"all"}, Limit: 1000, Per: time.Minute, Burst: 100},
		{Name: "narrow", By: "api_key", AppliesTo: []string{"write"}, Limit: 5, Per: time.Minute, Burst: 2},
	}})
	ctx := context.Background()
	d := l.Check(ctx, "write", alice)
	require.Equal(t, "narrow", d.Rule)
	require.Equal(t, 2, d.Remaining)
	d = l.Check(ctx, "read", alice)
	require.Equal(t, "wide", d.Rule)
	// A JWT caller has no key id: the api_key limit does not apply.
	d = l.Check(ctx, "write", ratelimit.Subject{Tenant: "t1"})
	require.Equal(t, "wide", d.Rule)
}

func newRedis(t *testing.T, addr string) *fleet.Redis {
	t.Helper()
	r := fleet.Dial(fleet.RedisOptions{Addr: addr, Prefix: "pmtest:", ProbeEvery: 50 * time.Millisecond}, quiet, nil)
	t.Cleanup(func() { _ = r.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx)
	waitFor(t, r.Up, "redis up")
	return r
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	testenv.WaitUntil(t, cond, what)
}

func redisLimiter(r *fleet.Redis, reg prometheus.Registerer, rules ...ratelimit.Rule) *ratelimit.Limiter {
	return ratelimit.New(ratelimit.Params{Rules: rules, Redis: r.Client, Health: r, Prefix: r.Prefix, Registry: reg, Logger: quiet})
}

// Several limiters on one Redis are one limit: that is what lets N proxies
// together allow what one would.
func TestRedisLimitIsSharedAndMatchesLocal(t *testing.T) {
	r := newRedis(t, testenv.Redis(t))
	rule := ratelimit.Rule{Name: "shared", By: "principal", AppliesTo: []string{"read"}, Limit: 3, Per: time.Hour, Burst: 2}
	a, b := redisLimiter(r, nil, rule), redisLimiter(r, nil, rule)
	loc := ratelimit.New(ratelimit.Params{Rules: []ratelimit.Rule{rule}})
	ctx := context.Background()
	for i := range 3 {
		lim := a
		if i%2 == 1 {
			lim = b
		}
		d, ld := lim.Check(ctx, "read", alice), loc.Check(ctx, "read", alice)
		require.True(t, d.Allowed, "request %d", i)
		require.Equal(t, ld.Remaining, d.Remaining, "redis and memory count alike")
		require.Equal(t, 2-i, d.Remaining)
	}
	for _, lim := range []*ratelimit.Limiter{a, b, loc} {
		d := lim.Check(ctx, "read", alice)
		require.False(t, d.Allowed)
		require.InDelta(t, 20*time.Minute, d.RetryAfter, float64(time.Minute))
	}
	keys, err := r.Client.Keys(ctx, "*pmtest:rl:shared:principal:alice").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1, "the counter lives in redis under the configured prefix")
}

// Failed authentications are looked at without being counted, and refuse
// once the limit is spent, by address and by key id separately.
func TestAuthFailures(t *testing.T) {
	rules := []ratelimit.Rule{
		{Name: "fail-ip", By: "ip", AppliesTo: []string{"auth_failure"}, Limit: 2, Per: time.Hour, Burst: 1},
		{Name: "fail-key", By: "api_key", AppliesTo: []string{"auth_failure"}, Limit: 5, Per: time.Hour, Burst: 0},
	}
	for name, l := range map[string]*ratelimit.Limiter{
		"local": ratelimit.New(ratelimit.Params{Rules: rules}),
		"redis": redisLimiter(newRedis(t, testenv.Redis(t)), nil, rules...),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for range 10 {
				require.True(t, l.AuthBlocked(ctx, "10.0.0.9", "").Allowed, "looking counts nothing")
			}
			require.False(t, l.Check(ctx, "read", alice).Applied, "auth_failure limits do not count requests")
			l.AuthFailed(ctx, "10.0.0.9", "")
			require.True(t, l.AuthBlocked(ctx, "10.0.0.9", "").Allowed)
			l.AuthFailed(ctx, "10.0.0.9", "")
			d := l.AuthBlocked(ctx, "10.0.0.9", "")
			require.False(t, d.Allowed, "two failures spend 1+burst")
			require.Equal(t, "fail-ip", d.Rule)
			require.Greater(t, d.RetryAfter, 20*time.Minute)
			require.True(t, l.AuthBlocked(ctx, "10.0.0.10", "").Allowed, "another address is not affected")

			l.AuthFailed(ctx, "10.0.1.1", "abc")
			d = l.AuthBlocked(ctx, "10.0.1.2", "abc")
			require.False(t, d.Allowed, "a key id is counted whatever address tries it")
			require.Equal(t, "fail-key", d.Rule)
		})
	}
}

func TestRedisDownFallsBackAsConfigured(t *testing.T) {
	srv := testenv.NewRedisServer(t)
	r := newRedis(t, srv.Addr)
	reg := prometheus.NewRegistry()
	l := redisLimiter(r, reg,
		ratelimit.Rule{Name: "loc", By: "principal", AppliesTo: []string{"read"}, Limit: 1, Per: time.Hour, OnRedisError: "local"},
		ratelimit.Rule{Name: "open", By: "principal", AppliesTo: []string{"write"}, Limit: 1, Per: time.Hour, OnRedisError: "allow"},
		ratelimit.Rule{Name: "shut", By: "principal", AppliesTo: []string{"admin"}, Limit: 1000, Per: time.Hour, OnRedisError: "deny"},
	)
	ctx := context.Background()
	require.True(t, l.Check(ctx, "read", alice).Allowed)
	require.False(t, l.Check(ctx, "read", alice).Allowed, "spent in redis")

	srv.Stop()
	// The first call after the crash finds out; from then on the state is down.
	l.Check(ctx, "admin", alice)
	waitFor(t, func() bool { return !r.Up() }, "redis down")

	d := l.Check(ctx, "read", alice)
	require.True(t, d.Allowed, "local fallback: a fresh in-process counter")
	require.Equal(t, "loc", d.Rule)
	require.False(t, l.Check(ctx, "read", alice).Allowed, "and it counts")
	for range 5 {
		d = l.Check(ctx, "write", alice)
		require.True(t, d.Allowed)
		require.False(t, d.Applied, "allow: no counter, no headers")
	}
	d = l.Check(ctx, "admin", alice)
	require.False(t, d.Allowed)
	require.True(t, d.Unavailable, "deny answers 503, not 429")
	require.Positive(t, testutil.ToFloat64(l.Metrics().WithLabelValues("shut", "unavailable", "none")))

	srv.Start()
	waitFor(t, r.Up, "redis back")
	require.True(t, l.Check(ctx, "admin", alice).Allowed)
	require.True(t, l.Check(ctx, "read", alice).Allowed, "redis restarted empty: counting there again")
	require.False(t, l.Check(ctx, "read", alice).Allowed)
	require.Positive(t, testutil.ToFloat64(l.Metrics().WithLabelValues("loc", "limited", "redis")))
}

func TestLocalCountersAreBounded(t *testing.T) {
	l := ratelimit.New(ratelimit.Params{MaxLocalKeys: 100, Rules: []ratelimit.Rule{
		{Name: "r", By: "ip", AppliesTo: []string{"all"}, Limit: 1, Per: time.Hour},
	}})
	ctx := context.Background()
	for i := range 10000 {
		l.Check(ctx, "read", ratelimit.Subject{IP: string(rune('a'+i%26)) + time.Duration(i).String()})
	}
	require.LessOrEqual(t, l.LocalCounters(), 100+100/4+1)
}
