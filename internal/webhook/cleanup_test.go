package webhook_test

import (
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// outboxIDs is the ids of coll's entries in state (all when "").
func outboxIDs(t *testing.T, coll *store.Collection) map[string]string {
	t.Helper()
	list, err := webhook.List(t.Context(), coll, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range list {
		out[e.DocumentID.(string)] = e.State
	}
	return out
}

func claimIDs(t *testing.T, coll *store.Collection) map[string]bool {
	t.Helper()
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := webhook.ClaimsOf(coll).FindAll(t.Context(), bson.D{}, store.Find{}, &docs); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range docs {
		out[d.ID] = true
	}
	return out
}

// TestSweepRemovesOldDeliveredEntriesAndClaimsOnly: retention without TTL
// indexes. Old delivered entries and old claims go; recent ones, pending
// ones and dead letters of any age stay.
func TestSweepRemovesOldDeliveredEntriesAndClaimsOnly(t *testing.T) {
	coll, _ := setup(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	old, recent := now.Add(-48*time.Hour), now.Add(-time.Minute)
	ins := func(doc, state string, deliveredAt *time.Time) {
		e := webhook.Entry{ID: bson.NewObjectID(), Event: "create", Collection: "orders", DocumentID: doc, TS: old,
			URL: "http://127.0.0.1:1/", SecretEnv: "HOOK", State: state, Attempts: 1, NextAt: old, LeaseUntil: time.Unix(0, 0), DeliveredAt: deliveredAt}
		if err := coll.InsertOne(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	ins("delivered-old", webhook.StateDelivered, &old)
	ins("delivered-recent", webhook.StateDelivered, &recent)
	ins("dead-old", webhook.StateDead, nil)
	ins("pending-old", webhook.StatePending, nil)
	for id, at := range map[string]time.Time{"claim-old": old, "claim-recent": recent} {
		if err := webhook.ClaimsOf(coll).InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "owner", Value: "p"}, {Key: "at", Value: at}}); err != nil {
			t.Fatal(err)
		}
	}

	r := webhook.Retention{Delivered: 24 * time.Hour, Claims: 10 * time.Minute}
	n, c, err := webhook.Sweep(ctx, coll, r, now)
	if err != nil || n != 1 || c != 1 {
		t.Fatalf("sweep deleted %d entries, %d claims, err %v", n, c, err)
	}
	got := outboxIDs(t, coll)
	want := map[string]string{"delivered-recent": "delivered", "dead-old": "dead", "pending-old": "pending"}
	if len(got) != len(want) {
		t.Fatalf("outbox after sweep %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("outbox after sweep %v", got)
		}
	}
	if cl := claimIDs(t, coll); len(cl) != 1 || !cl["claim-recent"] {
		t.Fatalf("claims after sweep %v", cl)
	}
	// Retention 0 keeps everything.
	if n, c, err := webhook.Sweep(ctx, coll, webhook.Retention{}, now.Add(1000*time.Hour)); err != nil || n+c != 0 {
		t.Fatalf("retention 0 deleted %d+%d (%v)", n, c, err)
	}
}

// TestRetentionTTLIndexes: where the engine has TTL indexes, retention is
// two TTL indexes (changed in place when the retention changes, dropped at
// 0); where it has none, EnsureRetention says so and creates nothing.
func TestRetentionTTLIndexes(t *testing.T) {
	coll, _ := setup(t)
	ctx := t.Context()
	ttlOf := func(c *store.Collection, name string) (int32, bool) {
		specs, err := c.Indexes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range specs {
			if s.Name == name && s.ExpireAfterSeconds != nil {
				return *s.ExpireAfterSeconds, true
			}
		}
		return 0, false
	}
	ttl, err := webhook.EnsureRetention(ctx, coll, webhook.Retention{Delivered: time.Hour, Claims: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !testenv.Has(t, testenv.CapTTLIndex) {
		if ttl {
			t.Fatal("EnsureRetention reports TTL indexes on an engine without capability ttl_index")
		}
		if _, ok := ttlOf(coll, webhook.IndexDeliveredTTL); ok {
			t.Fatal("a TTL index exists on an engine without ttl_index")
		}
		return
	}
	if !ttl {
		t.Fatal("EnsureRetention fell back to sweeps on an engine with ttl_index")
	}
	if s, ok := ttlOf(coll, webhook.IndexDeliveredTTL); !ok || s != 3600 {
		t.Fatalf("delivered TTL %d %v", s, ok)
	}
	if s, ok := ttlOf(webhook.ClaimsOf(coll), webhook.IndexClaimsTTL); !ok || s != 600 {
		t.Fatalf("claims TTL %d %v", s, ok)
	}
	// Again with another retention: changed, not refused.
	if ttl, err := webhook.EnsureRetention(ctx, coll, webhook.Retention{Delivered: 2 * time.Hour, Claims: 10 * time.Minute}); err != nil || !ttl {
		t.Fatalf("second EnsureRetention: %v %v", ttl, err)
	}
	if s, _ := ttlOf(coll, webhook.IndexDeliveredTTL); s != 7200 {
		t.Fatalf("delivered TTL after change %d", s)
	}
	if _, err := webhook.EnsureRetention(ctx, coll, webhook.Retention{Claims: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, ok := ttlOf(coll, webhook.IndexDeliveredTTL); ok {
		t.Fatal("retention 0 left the delivered TTL index")
	}
}

// TestRedeliverDeadEntry: an admin's redelivery makes a dead entry pending
// with fresh attempts, and the next step delivers it although its claim
// keys start again from attempt 0 in the same lease window.
func TestRedeliverDeadEntry(t *testing.T) {
	coll, ob := setup(t)
	ctx := t.Context()
	up := false
	rc := newReceiver(t, func(int) string {
		if up {
			return "ok"
		}
		return "fail"
	})
	enqueue(t, ob, "create", "o1", rc.srv.URL, "HOOK")
	d := deliverer(coll, "p1", 1)
	if worked, err := d.Step(ctx); !worked || err != nil {
		t.Fatalf("step: %v %v", worked, err)
	}
	e := entry(t, coll)
	if e.State != webhook.StateDead {
		t.Fatalf("not dead: %+v", e)
	}
	if _, err := ob.Redeliver(ctx, bson.NewObjectID(), time.Now()); !errors.Is(err, webhook.ErrNoEntry) {
		t.Fatalf("unknown id: %v", err)
	}
	rc.mu.Lock()
	up = true
	rc.mu.Unlock()
	got, err := ob.Redeliver(ctx, e.ID, time.Now())
	if err != nil || got.State != webhook.StatePending || got.Attempts != 0 || got.Redeliveries != 1 {
		t.Fatalf("redeliver: %+v %v", got, err)
	}
	if _, err := ob.Redeliver(ctx, e.ID, time.Now()); !errors.Is(err, webhook.ErrPending) {
		t.Fatalf("second redeliver while pending: %v", err)
	}
	if worked, err := d.Step(ctx); !worked || err != nil {
		t.Fatalf("step after redeliver: %v %v", worked, err)
	}
	e = entry(t, coll)
	if e.State != webhook.StateDelivered || e.Attempts != 1 || e.Redeliveries != 1 || e.DeliveredAt == nil {
		t.Fatalf("after redelivery: %+v", e)
	}
	// A delivered entry may be sent again too (the receiver lost it).
	if got, err := ob.Redeliver(ctx, e.ID, time.Now()); err != nil || got.Redeliveries != 2 {
		t.Fatalf("redeliver delivered: %+v %v", got, err)
	}
	if e := entry(t, coll); e.DeliveredAt != nil || e.State != webhook.StatePending {
		t.Fatalf("redelivered entry keeps delivered_at (retention would remove it): %+v", e)
	}
}
