package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRevocationWithoutRedis: two proxies on one database and no Redis. The
// proxy that revokes refuses the key at once; the other keeps its cached
// lookup until the key cache TTL, then refuses it too.
func TestRevocationWithoutRedis(t *testing.T) {
	fs := newFleetSetup(t, fleetPolicy, "", testKey{"admin", "boss", "t1", []string{"admin", "clerk"}})
	const ttl = 3 * time.Second
	rewrite(t, fs.config, "key_cache_ttl: 10s", "key_cache_ttl: 3s")
	a, _ := fs.startInProcess(t)
	b, _ := fs.startInProcess(t)
	admin := fs.keys["admin"]

	st, _, body := call(t, "POST", a+"/admin/api-keys", admin,
		`{"name": "temp", "principal": {"id": "temp-user", "tenant_id": "t1", "roles": ["clerk"]}}`)
	require.Equal(t, 201, st, "%v", body)
	id, key := body["data"].(map[string]any)["id"].(string), body["data"].(map[string]any)["key"].(string)

	cachedAt := time.Now()
	st, _, _ = call(t, "GET", b+"/collections/tickets", key, "")
	require.Equal(t, 200, st)
	revokedAt := time.Now()
	st, _, _ = call(t, "DELETE", a+"/admin/api-keys/"+id, admin, "")
	require.Equal(t, 200, st)
	st, _, _ = call(t, "GET", a+"/collections/tickets", key, "")
	require.Equal(t, 401, st, "the revoking proxy refuses at once")

	st, _, _ = call(t, "GET", b+"/collections/tickets", key, "")
	if time.Since(cachedAt) < ttl-500*time.Millisecond {
		require.Equal(t, 200, st, "within the TTL the other proxy still answers from its cache")
	} else {
		t.Logf("machine too slow to observe the cached answer (%v since caching)", time.Since(cachedAt))
	}
	waitUntil(t, func() bool {
		st, _, _ := call(t, "GET", b+"/collections/tickets", key, "")
		return st == 401
	}, "B refusing the key once its cache entry expired")
	t.Logf("without redis, B refused the revoked key %v after the revocation (key_cache_ttl %v)", time.Since(revokedAt), ttl)
	require.GreaterOrEqual(t, time.Since(cachedAt), ttl, "refused before the TTL: there is no cache")
}
