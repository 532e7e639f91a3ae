package api_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
	"github.com/permission-mongo/permission-mongo/internal/webhook/webhooktest"
)

const hooksPolicy = `
version: "1"
roles: {member: {}, ops: {}}
system:
  webhooks.read: [ops]
policies:
  orders:
    member: {actions: [create, read, update, delete], when: "resource.owner == user.id"}
    presets: {owner: user.id}
  notes:
    member: {actions: [create, read, update]}
hooks:
  orders:
    - on: [create, update, delete]
      webhook: {url: "RECEIVER", secret_env: PM_TEST_HOOK_SECRET}
  notes:
    - on: [delete]
      webhook: {url: "RECEIVER", secret_env: PM_TEST_HOOK_SECRET}
schemas:
  orders:
    fields:
      qty: {type: int, min: 1}
`

func newHooksEnv(t *testing.T, rc *webhooktest.Receiver) (*env, *webhook.Deliverer) {
	t.Helper()
	cfg := testConfig(t, writePolicy(t, strings.ReplaceAll(hooksPolicy, "RECEIVER", rc.URL)))
	cfg.Limits.DefaultLimit = 50
	e := startEnv(t, cfg, app.Options{NoAudit: true})
	coll := store.NewCollection(e.db.Collection(webhook.Collection))
	d := &webhook.Deliverer{
		Coll: coll, Owner: "test", MaxAttempts: 3,
		Client:  &http.Client{Timeout: 300 * time.Millisecond},
		Backoff: func(int) time.Duration { return 0 },
		Secret:  func(n string) string { return map[string]string{"PM_TEST_HOOK_SECRET": "hook-secret"}[n] },
	}
	return e, d
}

// drain delivers until nothing is due.
func drain(t *testing.T, d *webhook.Deliverer) {
	t.Helper()
	for i := 0; i < 100; i++ {
		worked, err := d.Step(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !worked {
			return
		}
	}
	t.Fatal("outbox never drained")
}

func TestWebhooksForChanges(t *testing.T) {
	rc := webhooktest.New(t, "hook-secret")
	e, d := newHooksEnv(t, rc)
	alice, ops := e.user("alice", "t1", "member"), e.user("op", "t1", "ops")

	r := e.do("POST", "/collections/orders", alice, `{"_id": "o1", "qty": 2}`)
	expect(t, r, 201, "")
	expect(t, e.do("PATCH", "/collections/orders/o1", alice, `{"$inc": {"qty": 1}}`), 200, "")
	expect(t, e.do("PUT", "/collections/orders/o1", alice, `{"qty": 5, "owner": "alice"}`), 200, "")
	// Refused writes send nothing: a schema failure, another caller's document.
	expect(t, e.do("PATCH", "/collections/orders/o1", alice, `{"$set": {"qty": 0}}`), 422, "VALIDATION_FAILED")
	bob := e.user("bob", "t1", "member")
	expect(t, e.do("DELETE", "/collections/orders/o1", bob, nil), 404, "NOT_FOUND")
	// notes only hook deletes, which members cannot do: nothing.
	expect(t, e.do("POST", "/collections/notes", alice, `{"_id": "n1"}`), 201, "")
	expect(t, e.do("DELETE", "/collections/orders/o1", alice, nil), 200, "")
	// A receiver that fails twice, then recovers.
	rc.Set(2, false)
	drain(t, d)

	evs, bad := rc.Got()
	if bad != 0 {
		t.Fatalf("%d events with a bad signature", bad)
	}
	// Delivery order is not change order (a retried event goes out later);
	// event ids are ObjectIds, so they sort in the order of the changes.
	sort.Slice(evs, func(i, j int) bool { return evs[i]["id"].(string) < evs[j]["id"].(string) })
	var kinds []string
	ids := map[any]bool{}
	for _, ev := range evs {
		kinds = append(kinds, ev["event"].(string))
		ids[ev["id"]] = true
		if ev["collection"] != "orders" || ev["document_id"] != "o1" || ev["actor"] != "alice" || ev["ts"] == "" {
			t.Fatalf("event %v", ev)
		}
	}
	if strings.Join(kinds, ",") != "create,update,update,delete" || len(ids) != 4 {
		t.Fatalf("events %v", evs)
	}

	// Admins see the delivery status; members do not.
	expect(t, e.do("GET", "/webhooks/deliveries", alice, nil), 403, "FORBIDDEN")
	r = e.do("GET", "/webhooks/deliveries?state=delivered", ops, nil)
	expect(t, r, 200, "")
	list := r.list(t)
	if len(list) != 4 {
		t.Fatalf("deliveries %s", r.Body)
	}
	retried := 0
	for _, x := range list {
		m := x.(map[string]any)
		if m["state"] != "delivered" || m["secret_env"] != nil {
			t.Fatalf("delivery %v", m)
		}
		if m["attempts"].(float64) > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Fatalf("no delivery shows its retries: %s", r.Body)
	}
	expect(t, e.do("GET", "/webhooks/deliveries?state=lost", ops, nil), 400, "BAD_REQUEST")
}

func TestWebhookReceiverThatNeverAnswers(t *testing.T) {
	rc := webhooktest.New(t, "hook-secret")
	rc.Set(0, true)
	e, d := newHooksEnv(t, rc)
	alice, ops := e.user("alice", "t1", "member"), e.user("op", "t1", "ops")
	// The write does not wait for the receiver.
	expect(t, e.do("POST", "/collections/orders", alice, `{"_id": "o2", "qty": 1}`), 201, "")
	drain(t, d)
	r := e.do("GET", "/webhooks/deliveries?state=dead", ops, nil)
	expect(t, r, 200, "")
	list := r.list(t)
	if len(list) != 1 {
		t.Fatalf("dead letters %s", r.Body)
	}
	m := list[0].(map[string]any)
	if m["attempts"].(float64) != 3 || !strings.Contains(m["last_error"].(string), "Timeout") {
		t.Fatalf("dead letter %v", m)
	}
	if evs, _ := rc.Got(); len(evs) != 0 {
		t.Fatalf("events %v", evs)
	}
}

func TestWebhooksForBatchDeletes(t *testing.T) {
	rc := webhooktest.New(t, "hook-secret")
	e, d := newHooksEnv(t, rc)
	alice, bob := e.user("alice", "t1", "member"), e.user("bob", "t1", "member")
	expect(t, e.do("POST", "/collections/orders/batch", alice, `{"documents": [{"_id": "a1", "qty": 1}, {"_id": "a2", "qty": 1}]}`), 200, "")
	expect(t, e.do("POST", "/collections/orders", bob, `{"_id": "b1", "qty": 1}`), 201, "")
	drain(t, d)
	before, _ := rc.Got()
	// alice's filter {} deletes only her own documents; each sends an event.
	r := e.do("DELETE", "/collections/orders/batch", alice, `{"filter": {}}`)
	expect(t, r, 200, "")
	drain(t, d)
	evs, bad := rc.Got()
	if bad != 0 || len(before) != 3 {
		t.Fatalf("before %v, bad %d", before, bad)
	}
	var deleted []string
	for _, ev := range evs[len(before):] {
		if ev["event"] != "delete" {
			t.Fatalf("event %v", ev)
		}
		deleted = append(deleted, ev["document_id"].(string))
	}
	sort.Strings(deleted)
	if strings.Join(deleted, ",") != "a1,a2" {
		t.Fatalf("delete events for %v (%s)", deleted, r.Body)
	}
}
