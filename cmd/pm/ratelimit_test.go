package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

const limitsYAML = `rate_limits:
  - {name: reads, by: principal, applies_to: [read], limit: 2, per: 1h, burst: 1}
  - {name: key-guessing, by: api_key, applies_to: [auth_failure], limit: 2, per: 1h, burst: 1}
  - {name: address-guessing, by: ip, applies_to: [auth_failure], limit: 1000, per: 1h, burst: 100}
`

// TestRateLimitsOverHTTP checks the contract's headers and answers, with
// the counters in memory and in Redis.
func TestRateLimitsOverHTTP(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run("redis="+strconv.FormatBool(withRedis), func(t *testing.T) {
			extra := limitsYAML
			if withRedis {
				extra += "redis: {addr: \"" + testenv.Redis(t) + "\"}\n"
			}
			fs := newFleetSetup(t, fleetPolicy, extra, testKey{"clerk", "u1", "t1", []string{"clerk"}}, testKey{"other", "u2", "t1", []string{"clerk"}})
			url, _ := fs.startInProcess(t)
			key := fs.keys["clerk"]

			for want := 1; want >= 0; want-- {
				st, h, body := call(t, "GET", url+"/collections/tickets", key, "")
				require.Equal(t, 200, st, "%v", body)
				require.Equal(t, "2", h.Get("X-RateLimit-Limit"))
				require.Equal(t, strconv.Itoa(want), h.Get("X-RateLimit-Remaining"))
				reset, err := strconv.Atoi(h.Get("X-RateLimit-Reset"))
				require.NoError(t, err)
				require.Greater(t, reset, 0)
			}
			st, h, body := call(t, "POST", url+"/collections/tickets/find", key, `{"filter": {}}`)
			require.Equal(t, 429, st, "%v", body)
			require.Equal(t, "RATE_LIMITED", errCode(body))
			retry, err := strconv.Atoi(h.Get("Retry-After"))
			require.NoError(t, err, "Retry-After in seconds")
			require.Greater(t, retry, 60, "one request per 30 minutes comes back in about 30 minutes")
			require.Equal(t, "0", h.Get("X-RateLimit-Remaining"))

			// Writes are another class; another principal another counter.
			st, h, body = call(t, "POST", url+"/collections/tickets", key, `{"title": "x"}`)
			require.Equal(t, 201, st, "%v", body)
			require.Empty(t, h.Get("X-RateLimit-Limit"), "no limit applies to writes")
			st, _, _ = call(t, "GET", url+"/collections/tickets", fs.keys["other"], "")
			require.Equal(t, 200, st)

			// Two wrong secrets for one key id: from then on that key id is
			// refused before its secret is looked at, right secret or not.
			other := fs.keys["other"]
			wrong := other[:len(other)-4] + "abcd"
			if wrong == other {
				wrong = other[:len(other)-4] + "dcba"
			}
			for range 2 {
				st, _, body = call(t, "GET", url+"/collections/tickets", wrong, "")
				require.Equal(t, 401, st, "%v", body)
			}
			st, h, body = call(t, "GET", url+"/collections/tickets", other, "")
			require.Equal(t, 429, st, "%v", body)
			require.Contains(t, body["error"].(map[string]any)["message"], "key-guessing")
			require.NotEmpty(t, h.Get("Retry-After"))

			st, _, body = call(t, "GET", url+"/readyz", "", "")
			require.Equal(t, 200, st)
			want := "not configured"
			if withRedis {
				want = "up"
			}
			require.Equal(t, want, body["data"].(map[string]any)["redis"])

			_, _, metrics := call(t, "GET", url+"/metrics", "", "")
			require.Contains(t, metrics["raw"], `pm_ratelimit_decisions_total{limit="reads",result="limited"`)
			if withRedis {
				require.True(t, strings.Contains(metrics["raw"].(string), "pm_redis_up 1"))
			}
		})
	}
}

// TestRedisDownOverHTTP: a deny limit answers 503 (never 500) while Redis is
// down and /readyz says why; a local limit keeps counting in the process.
func TestRedisDownOverHTTP(t *testing.T) {
	srv := testenv.NewRedisServer(t)
	fs := newFleetSetup(t, fleetPolicy, `redis: {addr: "`+srv.Addr+`"}
rate_limits:
  - {name: strict-writes, by: principal, applies_to: [write], limit: 1000, per: 1m, burst: 100, on_redis_error: deny}
  - {name: reads, by: principal, applies_to: [read], limit: 1, per: 1h, burst: 2}
`, testKey{"clerk", "u1", "t1", []string{"clerk"}})
	url, a := fs.startInProcess(t)
	key := fs.keys["clerk"]
	st, _, _ := call(t, "POST", url+"/collections/tickets", key, `{"title": "a"}`)
	require.Equal(t, 201, st)

	srv.Stop()
	// The next call to Redis fails and turns the state down.
	call(t, "POST", url+"/collections/tickets", key, `{"title": "b"}`)
	waitUntil(t, func() bool { return !a.RedisUp() }, "redis seen down")
	st, _, body := call(t, "POST", url+"/collections/tickets", key, `{"title": "c"}`)
	require.Equal(t, 503, st, "%v", body)
	require.Equal(t, "UNAVAILABLE", errCode(body))
	st, _, body = call(t, "GET", url+"/readyz", "", "")
	require.Equal(t, 503, st)
	require.Contains(t, body["error"].(map[string]any)["message"], "redis")
	for i := range 3 {
		st, h, body := call(t, "GET", url+"/collections/tickets", key, "")
		require.Equal(t, 200, st, "local fallback, request %d: %v", i, body)
		require.Equal(t, strconv.Itoa(2-i), h.Get("X-RateLimit-Remaining"))
	}
	st, _, _ = call(t, "GET", url+"/collections/tickets", key, "")
	require.Equal(t, 429, st, "the fallback counts")

	srv.Start()
	waitUntil(t, a.RedisUp, "redis back")
	st, _, body = call(t, "POST", url+"/collections/tickets", key, `{"title": "d"}`)
	require.Equal(t, 201, st, "%v", body)
	st, _, body = call(t, "GET", url+"/readyz", "", "")
	require.Equal(t, 200, st)
	require.Equal(t, "up", body["data"].(map[string]any)["redis"])
}
