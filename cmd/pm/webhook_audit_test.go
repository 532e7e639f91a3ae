package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
	"github.com/permission-mongo/permission-mongo/internal/webhook/webhooktest"
)

const hookAuditPolicy = `
version: "1"
roles: {member: {}, ops: {}}
system:
  webhooks.read: [ops]
  webhooks.manage: [ops]
  audit.read: [ops]
policies:
  orders:
    member: {actions: [create, read]}
hooks:
  orders:
    - on: [create]
      webhook: {url: "RECEIVER", secret_env: PM_TEST_AUDITED_HOOK_SECRET}
`

// delivery is the outbox entry of the document docID, as admins see it.
func delivery(t *testing.T, url, ops, docID string) map[string]any {
	t.Helper()
	st, _, body := call(t, "GET", url+"/webhooks/deliveries?limit=100", ops, "")
	require.Equal(t, 200, st, "%v", body)
	for _, d := range body["data"].([]any) {
		if m := d.(map[string]any); m["document_id"] == docID {
			return m
		}
	}
	return nil
}

// auditOf is the audit entries naming id in doc_ids, oldest first.
func auditOf(t *testing.T, url, ops, id string) []map[string]any {
	t.Helper()
	st, _, body := call(t, "GET", url+"/audit?limit=100&doc_id="+id, ops, "")
	require.Equal(t, 200, st, "%v", body)
	var out []map[string]any
	list := body["data"].([]any)
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i].(map[string]any))
	}
	return out
}

// summary is "action status error_code" per entry.
func summary(entries []map[string]any) string {
	var s []string
	for _, e := range entries {
		code, _ := e["error_code"].(string)
		s = append(s, strings.TrimSpace(fmt.Sprintf("%s %v %s", e["action"], e["status"], code)))
	}
	return strings.Join(s, ", ")
}

// startHookAuditProxy starts an in-process proxy whose orders webhook
// (hookAuditPolicy, configured by webhooksConfig) posts to a flaky receiver;
// it returns the receiver, the proxy's URL and the keys of a member (writes
// orders) and of ops (reads deliveries and the audit, redelivers).
func startHookAuditProxy(t *testing.T, webhooksConfig string) (rc *webhooktest.Receiver, url, member, ops string) {
	t.Helper()
	t.Setenv("PM_TEST_AUDITED_HOOK_SECRET", "audited-secret")
	rc = webhooktest.New(t, "audited-secret")
	fs := newFleetSetup(t, strings.ReplaceAll(hookAuditPolicy, "RECEIVER", rc.URL), webhooksConfig,
		testKey{"member", "alice", "t1", []string{"member"}},
		testKey{"ops", "op", "t1", []string{"ops"}})
	url, _ = fs.startInProcess(t)
	return rc, url, fs.keys["member"], fs.keys["ops"]
}

// TestWebhookAttemptsAreAudited: every delivery attempt writes an entry to
// the proxy's audit chain, queryable through GET /audit: failures with the
// receiver's status, timeouts, the dead letter, the admin's redelivery and
// the delivery that follows. Against a real receiver that fails, hangs and
// recovers, through the whole proxy.
func TestWebhookAttemptsAreAudited(t *testing.T) {
	rc, url, member, ops := startHookAuditProxy(t, "webhooks: {timeout: 300ms, max_attempts: 3, retry_base: 10ms}")

	// Fails twice with 503, then is delivered.
	rc.Set(2, false)
	st, _, body := call(t, "POST", url+"/collections/orders", member, `{"_id": "o1"}`)
	require.Equal(t, 201, st, "%v", body)
	var d1 map[string]any
	waitUntil(t, func() bool { d1 = delivery(t, url, ops, "o1"); return d1 != nil && d1["state"] == "delivered" }, "o1 delivered")
	id1 := d1["id"].(string)
	var got []map[string]any
	waitUntil(t, func() bool { got = auditOf(t, url, ops, id1); return len(got) >= 3 }, "three audit entries for o1's event")
	require.Equal(t, "webhook.failed 503 RECEIVER_STATUS, webhook.failed 503 RECEIVER_STATUS, webhook.delivered 200", summary(got))
	for i, e := range got {
		require.Equal(t, "pm:webhooks", e["actor"].(map[string]any)["id"])
		require.Equal(t, "orders", e["collection"])
		require.Equal(t, []any{id1, "o1"}, e["doc_ids"])
		require.Equal(t, fmt.Sprintf("%s#%d", id1, i+1), e["request_id"])
	}
	require.Equal(t, "error", got[0]["outcome"])
	require.Equal(t, "allowed", got[2]["outcome"])

	// Never answers: two timeouts, then dead.
	rc.Set(0, true)
	st, _, body = call(t, "POST", url+"/collections/orders", member, `{"_id": "o2"}`)
	require.Equal(t, 201, st, "%v", body)
	var d2 map[string]any
	waitUntil(t, func() bool { d2 = delivery(t, url, ops, "o2"); return d2 != nil && d2["state"] == "dead" }, "o2 dead")
	id2 := d2["id"].(string)
	waitUntil(t, func() bool { got = auditOf(t, url, ops, id2); return len(got) >= 3 }, "three audit entries for o2's event")
	require.Equal(t, "webhook.failed 0 RECEIVER_TIMEOUT, webhook.failed 0 RECEIVER_TIMEOUT, webhook.dead 0 RECEIVER_TIMEOUT", summary(got))

	// The receiver recovers; an admin redelivers the dead letter.
	rc.Set(0, false)
	st, _, body = call(t, "POST", url+"/webhooks/deliveries/"+id2+"/redeliver", member, "")
	require.Equal(t, 403, st, "%v", body)
	st, _, body = call(t, "POST", url+"/webhooks/deliveries/"+strings.Repeat("0", 24)+"/redeliver", ops, "")
	require.Equal(t, 404, st, "%v", body)
	st, _, body = call(t, "POST", url+"/webhooks/deliveries/nope/redeliver", ops, "")
	require.Equal(t, 400, st, "%v", body)
	st, _, body = call(t, "POST", url+"/webhooks/deliveries/"+id2+"/redeliver", ops, "")
	require.Equal(t, 200, st, "%v", body)
	require.Equal(t, "pending", body["data"].(map[string]any)["state"])
	waitUntil(t, func() bool { d2 = delivery(t, url, ops, "o2"); return d2["state"] == "delivered" }, "o2 delivered after the redelivery")
	require.EqualValues(t, 1, d2["redeliveries"])
	waitUntil(t, func() bool { got = auditOf(t, url, ops, id2); return len(got) >= 6 }, "the redelivery's audit entries")
	// The member's refused attempt is audited too (403), then the admin's
	// request, then the attempt it caused.
	require.Equal(t, "webhooks.redeliver 403 FORBIDDEN, webhooks.redeliver 200, webhook.delivered 200", summary(got[3:]))
	require.Equal(t, "op", got[4]["actor"].(map[string]any)["id"])
	require.Equal(t, id2+"#1", got[5]["request_id"])

	// The delivery entries are links of the same verified chain.
	st, _, body = call(t, "GET", url+"/audit/verify", ops, "")
	require.Equal(t, 200, st, "%v", body)
	require.Equal(t, true, body["data"].(map[string]any)["ok"], "%v", body)
}

// TestWebhookOutboxRetention: delivered events leave the outbox once the
// retention has passed (a TTL index where the engine has one, the sweep
// elsewhere); dead letters stay however old until an admin handles them.
func TestWebhookOutboxRetention(t *testing.T) {
	rc, url, member, ops := startHookAuditProxy(t, "webhooks: {timeout: 300ms, max_attempts: 1, retention: 1s, sweep_every: 1s}")

	rc.Set(0, true)
	st, _, body := call(t, "POST", url+"/collections/orders", member, `{"_id": "dead-one"}`)
	require.Equal(t, 201, st, "%v", body)
	waitUntil(t, func() bool { d := delivery(t, url, ops, "dead-one"); return d != nil && d["state"] == "dead" }, "a dead letter")
	rc.Set(0, false)
	st, _, body = call(t, "POST", url+"/collections/orders", member, `{"_id": "delivered-one"}`)
	require.Equal(t, 201, st, "%v", body)
	waitUntil(t, func() bool {
		d := delivery(t, url, ops, "delivered-one")
		return d != nil && d["state"] == "delivered"
	}, "a delivered event")
	delivered := time.Now()
	waitUntil(t, func() bool { return delivery(t, url, ops, "delivered-one") == nil }, "the delivered event leaving the outbox")
	t.Logf("delivered event removed %v after delivery (retention 1s)", time.Since(delivered))
	d := delivery(t, url, ops, "dead-one")
	require.NotNil(t, d, "the dead letter was removed")
	require.Equal(t, "dead", d["state"])
}

// TestWebhookReceiverThatNeverAnswersHoldsNothing: with the longest attempt
// timeout allowed, a receiver that accepts the connection and never
// answers delays neither writes nor the proxy's shutdown; the abandoned
// attempt is recorded as a failed attempt (in the outbox and the audit
// log) and the event stays pending for the next proxy.
func TestWebhookReceiverThatNeverAnswersHoldsNothing(t *testing.T) {
	t.Setenv("PM_TEST_AUDITED_HOOK_SECRET", "audited-secret")
	arrived := make(chan struct{}, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is read so that the server notices the proxy hanging
		// up (it watches the connection only after the body).
		_, _ = io.ReadAll(r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(rc.Close)
	const timeout = 50 * time.Second
	fs := newFleetSetup(t, strings.ReplaceAll(hookAuditPolicy, "RECEIVER", rc.URL), "webhooks: {timeout: 50s}",
		testKey{"member", "alice", "t1", []string{"member"}},
		testKey{"ops", "op", "t1", []string{"ops"}})
	c, err := config.Load(fs.config)
	require.NoError(t, err)
	a, err := app.New(t.Context(), c, app.Options{})
	require.NoError(t, err)
	a.Start(t.Context())
	srv := httptest.NewServer(a.Handler())
	closed := false
	t.Cleanup(func() {
		srv.Close()
		if !closed {
			a.Close()
		}
	})

	st, _, body := call(t, "POST", srv.URL+"/collections/orders", fs.keys["member"], `{"_id": "o1"}`)
	require.Equal(t, 201, st, "%v", body)
	select {
	case <-arrived:
	case <-time.After(2 * time.Minute):
		t.Fatal("the delivery never reached the receiver")
	}
	// The attempt hangs; the proxy still answers.
	st, _, body = call(t, "POST", srv.URL+"/collections/orders", fs.keys["member"], `{"_id": "o2"}`)
	require.Equal(t, 201, st, "%v", body)

	srv.Close()
	start := time.Now()
	a.Close()
	closed = true
	took := time.Since(start)
	t.Logf("shutdown with an attempt in flight took %v (attempt timeout %v)", took, timeout)
	require.Less(t, took, timeout, "shutdown waited for the receiver")

	ctx := t.Context()
	var e webhook.Entry
	require.NoError(t, fs.db.Collection(webhook.Collection).FindOne(ctx, bson.D{{Key: "document_id", Value: "o1"}}).Decode(&e))
	require.Equal(t, webhook.StatePending, e.State, "%+v", e)
	require.Equal(t, 1, e.Attempts, "%+v", e)
	n, err := fs.db.Collection(c.Audit.Collection).CountDocuments(ctx, bson.D{{Key: "action", Value: webhook.ActionFailed}, {Key: "doc_ids", Value: e.ID.Hex()}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the abandoned attempt is not in the audit log")
}
