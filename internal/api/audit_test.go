package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// TestAuditEveryEndpointLeavesOneEntry: each request leaves exactly one
// entry, with the action, outcome, status, code, caller and documents
// expected; denials, 401s, 404s and errors included; the probes none.
func TestAuditEveryEndpointLeavesOneEntry(t *testing.T) {
	e := newAuditEnv(t)
	member := e.user("ann", "t1", "member")
	auditor := e.user("aud", "t1", "auditor")

	type want struct {
		action, coll, outcome, code string
		status                      int
		actor                       string
		docIDs                      []string
		changed                     []string
	}
	cases := []struct {
		name         string
		method, path string
		key          string
		body         any
		want         want
	}{
		{"create", "POST", "/collections/docs", member, map[string]any{"_id": "d1", "title": "one", "email": "ann@x.io"},
			want{"create", "docs", "allowed", "", 201, "ann", []string{"d1"}, []string{"email", "title"}}},
		{"read", "GET", "/collections/docs/d1", member, nil, want{"read", "docs", "allowed", "", 200, "ann", []string{"d1"}, nil}},
		{"list", "GET", "/collections/docs", member, nil, want{"find", "docs", "allowed", "", 200, "ann", []string{"d1"}, nil}},
		{"find", "POST", "/collections/docs/find", member, map[string]any{"filter": map[string]any{"title": "one"}},
			want{"find", "docs", "allowed", "", 200, "ann", []string{"d1"}, nil}},
		{"count", "POST", "/collections/docs/count", member, map[string]any{}, want{"count", "docs", "allowed", "", 200, "ann", nil, nil}},
		{"aggregate denied", "POST", "/collections/docs/aggregate", member, map[string]any{"pipeline": []any{}},
			want{"aggregate", "docs", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		{"patch", "PATCH", "/collections/docs/d1", member, map[string]any{"title": "uno"},
			want{"update", "docs", "allowed", "", 200, "ann", []string{"d1"}, []string{"title"}}},
		{"patch deny_write", "PATCH", "/collections/docs/d1", member, map[string]any{"locked": "x"},
			want{"update", "docs", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		{"put", "PUT", "/collections/docs/d1", member, map[string]any{"title": "eins", "tenant_id": "t1"},
			want{"replace", "docs", "allowed", "", 200, "ann", []string{"d1"}, []string{"title"}}}, // email is masked for member: a PUT keeps it as stored
		{"versions", "GET", "/collections/docs/d1/versions", member, nil, want{"versions.list", "docs", "allowed", "", 200, "ann", []string{"d1"}, nil}},
		{"version", "GET", "/collections/docs/d1/versions/1", member, nil, want{"versions.read", "docs", "allowed", "", 200, "ann", []string{"d1"}, nil}},
		{"restore", "POST", "/collections/docs/d1/versions/1/restore", member, nil,
			want{"restore", "docs", "allowed", "", 200, "ann", []string{"d1"}, []string{"title"}}},
		{"missing", "GET", "/collections/docs/nope", member, nil, want{"read", "docs", "error", "NOT_FOUND", 404, "ann", nil, nil}},
		{"bad json", "POST", "/collections/docs", member, "{", want{"create", "docs", "error", "BAD_REQUEST", 400, "ann", nil, nil}},
		{"unlisted", "GET", "/collections/other", member, nil, want{"find", "other", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		{"no key", "GET", "/collections/docs", "", nil, want{"find", "docs", "denied", "UNAUTHENTICATED", 401, "", nil, nil}},
		{"bad key", "GET", "/collections/docs", "pm_0123456789abcdef_nottherightsecretatall000000", nil,
			want{"find", "docs", "denied", "UNAUTHENTICATED", 401, "", nil, nil}},
		{"no route", "GET", "/nowhere", member, nil, want{"unmatched", "", "error", "NOT_FOUND", 404, "", nil, nil}},
		{"batch create", "POST", "/collections/docs/batch", member, map[string]any{"documents": []any{map[string]any{"_id": "b1"}, map[string]any{"_id": "b2", "locked": 1}}},
			want{"batch.create", "docs", "allowed", "", 200, "ann", []string{"b1"}, nil}},
		{"batch update", "PATCH", "/collections/docs/batch", member, map[string]any{"ids": []string{"b1"}, "update": map[string]any{"$set": map[string]any{"n": 1}}},
			want{"batch.update", "docs", "allowed", "", 200, "ann", []string{"b1"}, []string{"n"}}},
		{"batch delete", "POST", "/collections/docs/batch/delete", member, map[string]any{"ids": []string{"b1"}},
			want{"batch.delete", "docs", "allowed", "", 200, "ann", []string{"b1"}, nil}},
		{"delete", "DELETE", "/collections/docs/d1", member, nil, want{"delete", "docs", "allowed", "", 200, "ann", []string{"d1"}, nil}},
		{"explain", "POST", "/explain", member, map[string]any{"collection": "docs", "action": "read"},
			want{"explain", "", "allowed", "", 200, "ann", nil, nil}},
		// The key store pm serve wires; member lacks api_keys.manage.
		{"admin", "GET", "/admin/api-keys", member, nil, want{"api_key.list", "", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		{"audit denied", "GET", "/audit", member, nil, want{"audit.read", "", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		{"audit", "GET", "/audit", auditor, nil, want{"audit.read", "", "allowed", "", 200, "aud", nil, nil}},
		{"verify", "GET", "/audit/verify", auditor, nil, want{"audit.verify", "", "allowed", "", 200, "aud", nil, nil}},
		{"explain another principal denied", "POST", "/explain", member, map[string]any{"collection": "docs", "action": "read", "principal": map[string]any{"id": "bob"}},
			want{"explain.as", "docs", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		{"policy tests denied", "GET", "/admin/policies/tests", member, nil, want{"policy.test", "", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		{"policy reload", "POST", "/admin/policies/reload", member, nil, want{"policy.reload", "", "denied", "FORBIDDEN", 403, "ann", nil, nil}},
		// Paths under an authenticated group that match no route are
		// authenticated first (routes.go, authGroups); a known path asked
		// with a method it does not serve is named by what was asked.
		{"unmatched in a group, no key", "GET", "/collections/docs/d1/nothing/here", "", nil, want{"unmatched", "", "denied", "UNAUTHENTICATED", 401, "", nil, nil}},
		{"unmatched in a group", "GET", "/admin/nothing", member, nil, want{"unmatched", "", "error", "NOT_FOUND", 404, "ann", nil, nil}},
		{"method not served", "DELETE", "/audit", member, nil, want{"delete /audit", "", "error", "METHOD_NOT_ALLOWED", 405, "", nil, nil}},
	}
	for i, c := range cases {
		r := e.req(c.method, c.path, c.key, fmt.Sprintf("case-%02d", i), c.body)
		require.Equal(t, c.want.status, r.Status, "%s: %s", c.name, r.Body)
	}
	// Probes are not audited.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		r := e.req("GET", p, "", "probe", nil)
		require.Equal(t, 200, r.Status, "%s: %s", p, r.Body)
	}

	all := entriesN(t, e.coll, len(cases))
	require.Len(t, all, len(cases), "one entry per request, none for the probes")
	got := byRequestID(all)
	for i, c := range cases {
		es := got[fmt.Sprintf("case-%02d", i)]
		require.Len(t, es, 1, c.name)
		en := es[0]
		w := c.want
		assert.Equal(t, w.action, en.Action, c.name)
		assert.Equal(t, w.coll, en.Collection, c.name)
		assert.Equal(t, audit.Outcome(w.outcome), en.Outcome, c.name)
		assert.Equal(t, w.status, en.Status, c.name)
		assert.Equal(t, w.code, en.ErrorCode, c.name)
		assert.Equal(t, w.actor, en.Actor.ID, c.name)
		if w.actor != "" {
			assert.Equal(t, "t1", en.Actor.TenantID, c.name)
			assert.Equal(t, "api_key", en.Actor.Auth, c.name)
			assert.NotEmpty(t, en.Actor.KeyID, c.name)
		}
		if w.docIDs != nil {
			assert.Equal(t, w.docIDs, en.DocIDs, c.name)
		} else if w.status >= 400 {
			assert.Empty(t, en.DocIDs, c.name)
		}
		if w.changed != nil {
			assert.Equal(t, w.changed, en.ChangedFields, c.name)
		}
		assert.NotEmpty(t, en.IP, c.name)
		assert.Equal(t, "Go-http-client/1.1", en.UserAgent, c.name)
	}
	assert.Equal(t, int64(1), got["case-18"][0].Failed, "batch create: one refused")
	assert.Equal(t, int64(1), got["case-18"][0].Count, "batch create: one created")
	res, err := audit.Verify(t.Context(), store.NewCollection(e.coll), time.Time{}, time.Time{})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res)
}

// TestAuditNeverStoresSecrets: the API key, the JWT and the values of
// masked and denied fields appear in no stored entry.
func TestAuditNeverStoresSecrets(t *testing.T) {
	e := newAuditEnv(t)
	key := e.user("ann", "t1", "member")
	token := "Bearer " + signJWT(t, map[string]any{"sub": "jay", "tenant_id": "t1", "roles": []string{"member"},
		"exp": time.Now().Add(time.Hour).Unix(), "claim_secret": "CLAIM-VALUE-77"})
	const secret, email, locked = "TOPSECRET-VALUE-123", "hidden.person@example.org", "LOCKED-VALUE-9"
	e.insert("docs", D("_id", "s1", "tenant_id", "t1", "secret", secret, "email", email, "locked", locked))

	n := 0
	send := func(method, path, k string, body any) resp {
		n++
		return e.req(method, path, k, fmt.Sprintf("s-%d", n), body)
	}
	for _, k := range []string{key, token} {
		expect(t, send("GET", "/collections/docs/s1", k, nil), 200, "")
		expect(t, send("GET", "/collections/docs?filter="+url.QueryEscape(`{"secret":"`+secret+`"}`), k, nil), 403, "FORBIDDEN")
		expect(t, send("POST", "/collections/docs/find", k, map[string]any{"filter": map[string]any{"email": email}}), 403, "FORBIDDEN")
		expect(t, send("PATCH", "/collections/docs/s1", k, map[string]any{"locked": "NEW-" + locked}), 403, "FORBIDDEN")
		expect(t, send("PATCH", "/collections/docs/s1", k, map[string]any{"secret": "NEW-" + secret}), 200, "")
		expect(t, send("PUT", "/collections/docs/s1", k, map[string]any{"tenant_id": "t1", "email": "new-" + email}), 200, "")
		expect(t, send("GET", "/collections/docs/s1/versions/1", k, nil), 200, "")
	}
	// Wrong credentials are not stored either.
	expect(t, send("GET", "/collections/docs", key+"x", nil), 401, "UNAUTHENTICATED")
	expect(t, send("GET", "/collections/docs", token+"x", nil), 401, "UNAUTHENTICATED")

	entriesN(t, e.coll, n)
	cur, err := e.coll.Find(t.Context(), bson.D{})
	require.NoError(t, err)
	var dump strings.Builder
	for cur.Next(t.Context()) {
		j, err := bson.MarshalExtJSON(cur.Current, false, false)
		require.NoError(t, err)
		dump.Write(j)
		dump.WriteByte('\n')
	}
	require.NoError(t, cur.Err())
	text := dump.String()
	_, keySecret, _ := strings.Cut(strings.TrimPrefix(key, "pm_"), "_")
	jwtParts := strings.Split(strings.TrimPrefix(token, "Bearer "), ".")
	for _, s := range []string{key, keySecret, strings.TrimPrefix(token, "Bearer "), jwtParts[1], jwtParts[2],
		secret, email, locked, "CLAIM-VALUE-77", "hidden.person", "TOPSECRET"} {
		assert.NotContains(t, text, s)
	}
	assert.Contains(t, text, `"jay"`, "the JWT subject is recorded")
	assert.Contains(t, text, `"secret"`, "the name of a changed field is recorded")
}

// TestAuditBurstOfConcurrentWrites: 200 concurrent creates leave 200
// entries, and the chain verifies.
func TestAuditBurstOfConcurrentWrites(t *testing.T) {
	e := newAuditEnv(t)
	key := e.user("ann", "t1", "member")
	const n = 200
	var wg sync.WaitGroup
	var created atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.req("POST", "/collections/docs", key, fmt.Sprintf("burst-%03d", i), map[string]any{"_id": fmt.Sprintf("c%03d", i)})
			if r.Status == 201 {
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(n), created.Load())
	all := entriesN(t, e.coll, n)
	require.Len(t, all, n)
	got := byRequestID(all)
	for i := range n {
		es := got[fmt.Sprintf("burst-%03d", i)]
		require.Len(t, es, 1)
		require.Equal(t, []string{fmt.Sprintf("c%03d", i)}, es[0].DocIDs)
	}
	auditor := e.user("aud", "t1", "auditor")
	r := e.req("GET", "/audit/verify", auditor, "", nil)
	expect(t, r, 200, "")
	d := r.data(t)
	require.Equal(t, true, d["ok"], "%s", r.Body)
	require.EqualValues(t, n, d["checked"])
}

// TestAuditFailClosedRefusesWritesWhileAuditIsDown: with the audit
// database stopped, requests are refused with 503 and nothing runs (the
// document is not written); once it is back, the entries kept in memory are
// written and requests are accepted again.
func TestAuditFailClosedRefusesWritesWhileAuditIsDown(t *testing.T) {
	o := testenv.NewOutage(t)
	coll := o.Client.Database("app").Collection("pm_audit")
	require.NoError(t, audit.EnsureIndexes(t.Context(), store.NewCollection(coll), 0))
	e := newAuditEnvOpts(t, coll, audit.Options{Mode: audit.ModeFailClosed, WriteTimeout: time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	key := e.user("ann", "t1", "member")

	expect(t, e.req("POST", "/collections/docs", key, "before", map[string]any{"_id": "before"}), 201, "")
	entriesN(t, coll, 1)

	o.Stop()
	// The writer learns of the outage from its first failed write: the
	// request that produces it was accepted (its entry waits in memory).
	expect(t, e.req("GET", "/collections/docs/before", key, "noticed", nil), 200, "")
	testenv.WaitUntil(t, func() bool { return e.w.Available() != nil }, "the writer to notice the outage")
	r := e.req("POST", "/collections/docs", key, "refused", map[string]any{"_id": "refused"})
	expect(t, r, 503, "UNAVAILABLE")
	n, err := e.db.Collection("docs").CountDocuments(t.Context(), bson.D{{Key: "_id", Value: "refused"}})
	require.NoError(t, err)
	require.Zero(t, n, "a refused request must not run")
	expect(t, e.req("GET", "/collections/docs/before", key, "refused-read", nil), 503, "UNAVAILABLE")
	ready := e.req("GET", "/readyz", "", "", nil)
	expect(t, ready, 503, "UNAVAILABLE")
	require.Contains(t, string(ready.Body), "audit log unavailable", "readiness names what is down")

	o.Start()
	testenv.WaitUntil(t, func() bool { return e.w.Available() == nil }, "the writer to recover")
	expect(t, e.req("POST", "/collections/docs", key, "after", map[string]any{"_id": "after"}), 201, "")
	expect(t, e.req("GET", "/readyz", "", "", nil), 200, "")
	all := entriesN(t, coll, 3)
	got := byRequestID(all)
	require.Len(t, all, 3, "before, noticed, after: refused requests leave nothing")
	for _, id := range []string{"before", "noticed", "after"} {
		require.Len(t, got[id], 1, id)
	}
	res, err := audit.Verify(t.Context(), store.NewCollection(coll), time.Time{}, time.Time{})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res)
}

// TestAuditShutdownDuringLoadLosesNothing: the SIGTERM sequence of pm serve
// (HTTP server Shutdown, then writer Close) under load: every request that
// got an answer has its entry.
func TestAuditShutdownDuringLoadLosesNothing(t *testing.T) {
	e := newAuditEnvOpts(t, nil, audit.Options{FlushInterval: 50 * time.Millisecond})
	key := e.user("ann", "t1", "member")
	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{}}
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"_id":"g%d-%d"}`, g, i)
				req, _ := http.NewRequest("POST", e.srv.URL+"/collections/docs", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-API-Key", key)
				res, err := client.Do(req)
				if err != nil {
					continue // refused at the socket after Shutdown: never ran
				}
				res.Body.Close()
				if res.StatusCode == 503 {
					t.Errorf("503 before Close")
				}
				answered.Add(1)
			}
		}()
	}
	// Shut down in the middle of the load: once a good number of requests
	// have been answered (the count, not a time, so a slow machine only
	// takes longer).
	require.Eventually(t, func() bool { return answered.Load() > 50 }, 2*time.Minute, 10*time.Millisecond,
		"fewer than 50 requests answered")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, e.srv.Config.Shutdown(ctx)) // SIGTERM: stop taking requests, drain
	close(stop)
	wg.Wait()
	require.NoError(t, e.w.Close(ctx)) // then flush
	st := e.w.Stats()
	require.Zero(t, st.Lost)
	n, err := e.coll.CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	require.Greater(t, answered.Load(), int64(50))
	require.Equal(t, answered.Load(), n, "one entry per answered request")
	docs, err := e.db.Collection("docs").CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	require.Equal(t, n, docs, "every document written has its entry")
}

// TestAuditReadPermissionScopeAndCursor: GET /audit needs audit.read, shows
// the caller's tenant only, pages with a signed cursor that cannot be
// tampered with or reused with other filters.
func TestAuditReadPermissionScopeAndCursor(t *testing.T) {
	e := newAuditEnv(t)
	t1 := e.user("ann", "t1", "member")
	t2 := e.user("bob", "t2", "member")
	aud1 := e.user("aud1", "t1", "auditor")
	noTenant := e.keys.Add(principal.Principal{ID: "root", Roles: []string{"auditor"}}, nil)
	for i := range 5 {
		expect(t, e.req("POST", "/collections/docs", t1, "", map[string]any{"_id": fmt.Sprintf("a%d", i)}), 201, "")
		expect(t, e.req("POST", "/collections/docs", t2, "", map[string]any{"_id": fmt.Sprintf("b%d", i)}), 201, "")
	}
	entriesN(t, e.coll, 10)

	expect(t, e.req("GET", "/audit", t1, "", nil), 403, "FORBIDDEN")
	expect(t, e.req("GET", "/audit/verify", t1, "", nil), 403, "FORBIDDEN")
	expect(t, e.req("GET", "/audit", noTenant, "", nil), 403, "FORBIDDEN")
	expect(t, e.req("GET", "/audit", "", "", nil), 401, "UNAUTHENTICATED")
	expect(t, e.req("GET", "/audit?bogus=1", aud1, "", nil), 400, "BAD_REQUEST")

	var seen []string
	cur := ""
	for page := 0; ; page++ {
		require.Less(t, page, 10)
		p := "/audit?action=create&limit=2"
		if cur != "" {
			p += "&cursor=" + url.QueryEscape(cur)
		}
		r := e.req("GET", p, aud1, "", nil)
		expect(t, r, 200, "")
		for _, x := range r.list(t) {
			m := x.(map[string]any)
			actor := m["actor"].(map[string]any)
			require.Equal(t, "t1", actor["tenant_id"], "another tenant's entry")
			require.Equal(t, "create", m["action"])
			require.NotEmpty(t, m["hash"])
			require.NotEmpty(t, m["prev_hash"])
			seen = append(seen, m["doc_ids"].([]any)[0].(string))
		}
		pg := r.json(t)["pagination"].(map[string]any)
		if pg["has_more"] != true {
			require.Nil(t, pg["cursor"])
			break
		}
		cur = pg["cursor"].(string)
	}
	require.ElementsMatch(t, []string{"a0", "a1", "a2", "a3", "a4"}, seen, "every entry once, newest first")

	r := e.req("GET", "/audit?action=create&limit=2", aud1, "", nil)
	c := r.json(t)["pagination"].(map[string]any)["cursor"].(string)
	tampered := []byte(c)
	tampered[3] ^= 1
	expect(t, e.req("GET", "/audit?action=create&limit=2&cursor="+url.QueryEscape(string(tampered)), aud1, "", nil), 400, "INVALID_CURSOR")
	expect(t, e.req("GET", "/audit?action=read&limit=2&cursor="+url.QueryEscape(c), aud1, "", nil), 400, "INVALID_CURSOR")
	// Filters.
	r = e.req("GET", "/audit?doc_id=a3", aud1, "", nil)
	expect(t, r, 200, "")
	require.Len(t, r.list(t), 1)
	// The writer is asynchronous: ann's entries reach the store within a
	// flush interval.
	require.Eventually(t, func() bool {
		r = e.req("GET", "/audit?outcome=denied&actor=ann", aud1, "", nil)
		return r.Status == 200 && len(r.list(t)) == 2
	}, 5*time.Second, 50*time.Millisecond, "ann's two 403s on /audit and /audit/verify: %s", r.Body)
	expect(t, e.req("GET", "/audit?from=yesterday", aud1, "", nil), 400, "BAD_REQUEST")
}

// TestAuditVerifyCatchesEditedAndDeletedEntries: an entry edited, then one
// deleted, directly in MongoDB, is named by GET /audit/verify.
func TestAuditVerifyCatchesEditedAndDeletedEntries(t *testing.T) {
	e := newAuditEnv(t)
	key := e.user("ann", "t1", "member")
	aud := e.user("aud", "t1", "auditor")
	for i := range 6 {
		expect(t, e.req("POST", "/collections/docs", key, fmt.Sprintf("v-%d", i), map[string]any{"_id": fmt.Sprintf("v%d", i)}), 201, "")
	}
	all := entriesN(t, e.coll, 6)
	r := e.req("GET", "/audit/verify", aud, "", nil)
	expect(t, r, 200, "")
	require.Equal(t, true, r.data(t)["ok"])

	ctx := t.Context()
	edited := all[2].ID
	_, err := e.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: edited}}, bson.D{{Key: "$set", Value: bson.D{{Key: "actor.id", Value: "mallory"}}}})
	require.NoError(t, err)
	r = e.req("GET", "/audit/verify", aud, "", nil)
	expect(t, r, 200, "")
	d := r.data(t)
	require.Equal(t, false, d["ok"], "%s", r.Body)
	require.Equal(t, edited, d["first_bad_id"])

	// Put it back, then delete another one.
	_, err = e.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: edited}}, bson.D{{Key: "$set", Value: bson.D{{Key: "actor.id", Value: "ann"}}}})
	require.NoError(t, err)
	_, err = e.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: all[4].ID}})
	require.NoError(t, err)
	r = e.req("GET", "/audit/verify", aud, "", nil)
	d = r.data(t)
	require.Equal(t, false, d["ok"], "%s", r.Body)
	require.Equal(t, all[5].ID, d["first_bad_id"], "the entry after the gap")
}

// TestAuditCoversGrantsAndImport: the routes other files add are audited by
// the same middleware, whatever they answer.
func TestAuditCoversGrantsAndImport(t *testing.T) {
	e := newAuditEnv(t)
	key := e.user("ann", "t1", "member")
	e.req("GET", "/grants", key, "g-list", nil)
	e.req("DELETE", "/grants/abc", key, "g-revoke", nil)
	imp := e.request("POST", "/collections/docs/import", key, `{"_id":"i1"}`+"\n"+`{"_id":"i2"}`+"\n"+`{"_id":"i1"}`+"\n",
		map[string]string{"Content-Type": "application/x-ndjson", "X-Request-ID": "import"})
	require.Equal(t, "import", imp.json(t)["data"].(map[string]any)["audit_id"], "audit_id names the import's entry")
	got := byRequestID(entriesN(t, e.coll, 3))
	require.Len(t, got["g-list"], 1)
	require.Equal(t, "grant.list", got["g-list"][0].Action)
	require.Len(t, got["g-revoke"], 1)
	require.Equal(t, "grant.revoke", got["g-revoke"][0].Action)
	require.Equal(t, []string{"abc"}, got["g-revoke"][0].DocIDs)
	require.Len(t, got["import"], 1)
	require.Equal(t, "import", got["import"][0].Action)
	require.Equal(t, "docs", got["import"][0].Collection)
	require.Equal(t, "ann", got["import"][0].Actor.ID)
	require.EqualValues(t, 2, got["import"][0].Count, "one entry with the import's counts")
	require.EqualValues(t, 1, got["import"][0].Failed, "the duplicate _id is counted as failed")
}

// TestAuditVerifyAndSequencesScopedToTenant: what a tenant's auditor gets
// from /audit/verify and from the entries' seq, id and prev_hash does not
// move with another tenant's activity: the count is of the tenant's entries,
// the sequence has no gaps where other tenants' entries were, and a broken
// entry of another tenant is that tenant's finding only.
func TestAuditVerifyAndSequencesScopedToTenant(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	bob := e.user("bob", "t2", "member")
	aud1 := e.user("aud1", "t1", "auditor")
	aud2 := e.user("aud2", "t2", "auditor")
	for i := range 7 {
		if i < 3 {
			expect(t, e.req("POST", "/collections/docs", ann, "", map[string]any{"_id": fmt.Sprintf("a%d", i)}), 201, "")
		}
		expect(t, e.req("POST", "/collections/docs", bob, "", map[string]any{"_id": fmt.Sprintf("b%d", i)}), 201, "")
	}
	entriesN(t, e.coll, 10)

	verify := func(key string) map[string]any {
		t.Helper()
		r := e.req("GET", "/audit/verify", key, "", nil)
		expect(t, r, 200, "")
		return r.data(t)
	}
	d := verify(aud1)
	require.Equal(t, true, d["ok"], "%v", d)
	require.EqualValues(t, 3, d["checked"], "only t1's entries are counted")

	// bob's activity does not show in t1's answer: one more entry (the
	// verification above), whatever bob did meanwhile.
	for i := range 20 {
		expect(t, e.req("GET", fmt.Sprintf("/collections/docs/b%d", i%7), bob, "", nil), 200, "")
	}
	entriesN(t, e.coll, 31)
	d = verify(aud1)
	require.Equal(t, true, d["ok"], "%v", d)
	require.EqualValues(t, 4, d["checked"])

	// t1's entries as its auditor reads them: per chain, seq 1, 2, 3, ...
	// and each prev_hash the hash of the entry before, the first one the
	// chain's genesis: nothing in between that the auditor cannot see.
	entriesN(t, e.coll, 32)
	r := e.req("GET", "/audit?limit=100", aud1, "", nil)
	expect(t, r, 200, "")
	type shown struct {
		ID, Writer, Hash, Prev string
		Seq                    int64
	}
	chains := map[string][]shown{}
	for _, x := range r.list(t) {
		m := x.(map[string]any)
		require.Equal(t, "t1", m["actor"].(map[string]any)["tenant_id"])
		s := shown{ID: m["id"].(string), Writer: m["writer"].(string), Hash: m["hash"].(string),
			Prev: m["prev_hash"].(string), Seq: int64(m["seq"].(float64))}
		chains[s.Writer] = append(chains[s.Writer], s)
	}
	require.Len(t, chains, 1, "one proxy, one chain for t1")
	for writer, es := range chains {
		sort.Slice(es, func(i, j int) bool { return es[i].Seq < es[j].Seq })
		require.Len(t, es, 5) // 3 creates, 2 verifications
		prev := audit.Genesis(writer)
		for i, s := range es {
			require.EqualValues(t, i+1, s.Seq, "a gap in t1's sequence would count other tenants' entries")
			require.Equal(t, prev, s.Prev, "t1's entry links to an entry t1 cannot see")
			prev = s.Hash
		}
	}

	// Remove one of bob's entries: t2's auditor is told, t1's is not.
	var victim audit.Entry
	require.NoError(t, e.coll.FindOne(t.Context(), bson.D{{Key: "actor.tenant_id", Value: "t2"}, {Key: "seq", Value: 5}}).Decode(&victim))
	_, err := e.coll.DeleteOne(t.Context(), bson.D{{Key: "_id", Value: victim.ID}})
	require.NoError(t, err)
	d = verify(aud2)
	require.Equal(t, false, d["ok"], "%v", d)
	require.Equal(t, fmt.Sprintf("%s-%012d", victim.Writer, 6), d["first_bad_id"])
	entriesN(t, e.coll, 33) // 33 stored, one deleted, aud2's verification
	d = verify(aud1)
	require.Equal(t, true, d["ok"], "%v", d)
	require.EqualValues(t, 6, d["checked"]) // 3 creates, 2 verifications, 1 list
	require.NotContains(t, d, "first_bad_id")
}
