package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// hierFleetPolicy: staff read themselves and their subordinates; hr manage
// people. The cache lasts an hour, so a proxy that sees a change sooner
// learnt it from an announcement, not from its cache ending.
const hierFleetPolicy = `
version: "1"
roles: {staff: {}, hr: {}}
policies:
  people:
    staff:
      actions: [read]
      when: "resource.user_id == user.id || resource.user_id in user.$subordinates"
    hr:
      actions: [create, read, update]
hierarchy:
  collection: people
  id_field: user_id
  manager_field: manager_id
  cache_ttl: 1h
`

// hierFleet starts two in-process proxies A and B on one database; extra
// is the configuration's redis section, if any.
func hierFleet(t *testing.T, extra string) (a, b string, boss, hr string) {
	t.Helper()
	fs := newFleetSetup(t, extra,
		testKey{"boss", "boss", "t1", []string{"staff"}},
		testKey{"hr", "hr", "t1", []string{"hr"}})
	require.NoError(t, os.WriteFile(filepath.Join(fs.dir, "policy.yml"), []byte(hierFleetPolicy), 0o600))
	a, appA := fs.startInProcess(t)
	b, appB := fs.startInProcess(t)
	if extra != "" {
		for _, x := range []*app.App{appA, appB} {
			select {
			case <-x.Subscribed():
			case <-time.After(2 * time.Minute):
				t.Fatal("a proxy never subscribed to redis")
			}
		}
	}
	boss, hr = fs.keys["boss"], fs.keys["hr"]
	for _, p := range []string{
		`{"_id": "boss", "user_id": "boss"}`,
		`{"_id": "e1", "user_id": "e1", "manager_id": "boss"}`,
		`{"_id": "e2", "user_id": "e2", "manager_id": "someone-else"}`,
	} {
		st, _, body := call(t, "POST", a+"/collections/people", hr, p)
		require.Equal(t, 201, st, "%v", body)
	}
	return a, b, boss, hr
}

// visiblePeople is the user_ids the key reads through the proxy at url.
func visiblePeople(t *testing.T, url, key string) []string {
	t.Helper()
	st, _, body := call(t, "GET", url+"/collections/people?limit=100", key, "")
	require.Equal(t, 200, st, "%v", body)
	var ids []string
	for _, d := range body["data"].([]any) {
		ids = append(ids, d.(map[string]any)["user_id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// TestHierarchyChangeReachesEveryProxyThroughRedis: a manager change made
// through proxy A drops the cached $subordinates of proxy B, through Redis,
// long before the hierarchy's cache_ttl.
func TestHierarchyChangeReachesEveryProxyThroughRedis(t *testing.T) {
	a, b, boss, hr := hierFleet(t, `redis: {addr: "`+testenv.Redis(t)+`"}`)
	// B resolves and caches boss's subordinates.
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, b, boss))

	changed := time.Now()
	st, _, body := call(t, "PATCH", a+"/collections/people/e2", hr, `{"$set": {"manager_id": "boss"}}`)
	require.Equal(t, 200, st, "%v", body)
	waitUntil(t, func() bool { return slices.Contains(visiblePeople(t, b, boss), "e2") }, "B seeing e2 among boss's subordinates")
	took := time.Since(changed)
	// One read costs this much (the caller's walk is cached again now): the
	// figure above is this plus the announcement.
	readStart := time.Now()
	visiblePeople(t, b, boss)
	t.Logf("hierarchy change on A reached B after %v (cache_ttl 1h; one read takes %v)", took, time.Since(readStart))

	// And back: a change through B reaches A, whose cache is warm too.
	require.Equal(t, []string{"boss", "e1", "e2"}, visiblePeople(t, a, boss))
	changed = time.Now()
	st, _, body = call(t, "PATCH", b+"/collections/people/e1", hr, `{"$set": {"manager_id": "someone-else"}}`)
	require.Equal(t, 200, st, "%v", body)
	waitUntil(t, func() bool { return !slices.Contains(visiblePeople(t, a, boss), "e1") }, "A no longer seeing e1")
	t.Logf("hierarchy change on B reached A after %v", time.Since(changed))
}

// TestHierarchyChangeWithoutRedisStaysLocal: without Redis the proxy that
// made the change drops its cache at once and the other keeps its values
// (until cache_ttl): the cache is real, so the Redis test above measures
// the announcement and not a cache that is never used.
func TestHierarchyChangeWithoutRedisStaysLocal(t *testing.T) {
	a, b, boss, hr := hierFleet(t, "")
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, a, boss))
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, b, boss))
	st, _, body := call(t, "PATCH", a+"/collections/people/e2", hr, `{"$set": {"manager_id": "boss"}}`)
	require.Equal(t, 200, st, "%v", body)
	require.Equal(t, []string{"boss", "e1", "e2"}, visiblePeople(t, a, boss), "the writing proxy sees the change at once")
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, b, boss), "the other proxy answers from its cache")
}
