package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/config"
)

func TestRateLimitsLoad(t *testing.T) {
	path := writeConfig(t, `
policies: ./policies
redis: {addr: "127.0.0.1:6379", prefix: "shop:", timeout: 100ms}
auth: {key_cache_ttl: 5s, key_cache_size: 50}
rate_limits:
  - {name: reads-per-user, by: principal, applies_to: [read], limit: 600, per: 1m, burst: 50}
  - {name: bad-logins, by: ip, applies_to: [auth_failure], limit: 10, per: 1m, burst: 5, on_redis_error: deny}
`)
	cfg, err := config.Load(path)
	require.NoError(t, err)
	require.Equal(t, "shop:", cfg.Redis.Prefix)
	require.Equal(t, 100*time.Millisecond, cfg.Redis.Timeout)
	require.Equal(t, 5*time.Second, cfg.Auth.KeyCacheTTL)
	require.Len(t, cfg.RateLimits, 2)
	require.Equal(t, config.RateLimit{Name: "reads-per-user", By: "principal", AppliesTo: []string{"read"},
		Limit: 600, Per: time.Minute, Burst: 50}, cfg.RateLimits[0])
	require.Equal(t, "deny", cfg.RateLimits[1].OnRedisError)

	def := config.Default()
	require.Equal(t, 10*time.Second, def.Auth.KeyCacheTTL, "a revoked key must age out of caches well within 30s")
	require.Equal(t, "pm:", def.Redis.Prefix)
}

func TestRateLimitProblems(t *testing.T) {
	path := writeConfig(t, `
policies: ./policies
redis: {timeout: 0s, db: -1}
auth: {key_cache_ttl: 1m, key_cache_size: -1}
rate_limits:
  - {name: "", by: user, applies_to: [reads], limit: 0, per: 0s, burst: -1, on_redis_error: retry}
  - {name: a, by: tenant, applies_to: [auth_failure, read], limit: 1, per: 1s}
  - {name: a, by: ip, applies_to: [], limit: 1, per: 1s}
`)
	p := loadProblems(t, path)
	want := []string{
		"redis.timeout: must be positive",
		"redis.db: must not be negative",
		"auth.key_cache_ttl: must be between 0 (no cache) and 30s",
		"auth.key_cache_size: must not be negative",
		"rate_limits[0].name: is required",
		`rate_limits[0].by: "user" is not one of`,
		`rate_limits[0].applies_to: "reads" is not one of`,
		"rate_limits[0].limit: must be positive",
		"rate_limits[0].per: must be positive",
		"rate_limits[0].burst: must not be negative",
		`rate_limits[0].on_redis_error: "retry" is not one of local, allow, deny`,
		`rate_limits[1].by: auth_failure limits count by ip or api_key, not "tenant"`,
		"rate_limits[1].applies_to: auth_failure counts failures",
		`rate_limits[2].name: "a" is used by another limit`,
		"rate_limits[2].applies_to: is required",
	}
	for _, w := range want {
		found := false
		for _, got := range p {
			found = found || strings.Contains(got, w)
		}
		require.True(t, found, "missing problem %q in:\n%v", w, p)
	}
	require.Len(t, p, len(want), "%v", p)
}
