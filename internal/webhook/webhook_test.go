package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const secret = "s3cret"

// receiver is a real local HTTP server whose behaviour per request the test
// chooses: "fail" (500), "hang" (never answers until the client gives up),
// "ok" (204).
type receiver struct {
	mu     sync.Mutex
	plan   func(n int) string // n counts requests from 1
	n      int
	bodies map[string][][]byte // event id -> bodies received with a good signature
	bad    int                 // requests with a wrong signature or id
	srv    *httptest.Server
}

func newReceiver(t *testing.T, plan func(n int) string) *receiver {
	t.Helper()
	r := &receiver{plan: plan, bodies: map[string][][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.n++
		what := r.plan(r.n)
		var payload struct{ ID string }
		_ = json.Unmarshal(body, &payload)
		if req.Header.Get("X-PM-Signature") != webhook.Sign([]byte(secret), body) || payload.ID != req.Header.Get("X-PM-Event-Id") {
			r.bad++
		} else if what == "ok" {
			r.bodies[payload.ID] = append(r.bodies[payload.ID], body)
		}
		r.mu.Unlock()
		switch what {
		case "hang":
			<-req.Context().Done()
		case "fail":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func setup(t *testing.T) (*store.Collection, *webhook.Outbox) {
	t.Helper()
	coll := testenv.Store(t).Collection(webhook.Collection)
	if err := webhook.EnsureIndexes(t.Context(), coll); err != nil {
		t.Fatal(err)
	}
	return coll, webhook.NewOutbox(coll)
}

// enqueue puts one event on orders by u1 into the outbox for a single
// receiver, as a committed write does; tests vary only what they check.
func enqueue(t *testing.T, ob *webhook.Outbox, event string, id any, url, secretEnv string) {
	t.Helper()
	if err := ob.Enqueue(t.Context(), event, "orders", id, "u1", time.Now(), []webhook.Target{{URL: url, SecretEnv: secretEnv}}); err != nil {
		t.Fatal(err)
	}
}

// oneEvent is an outbox holding one create event of o1 for a receiver that
// answers by plan, with the secret named secretEnv.
func oneEvent(t *testing.T, plan func(n int) string, secretEnv string) (*store.Collection, *receiver) {
	t.Helper()
	coll, ob := setup(t)
	rc := newReceiver(t, plan)
	enqueue(t, ob, "create", "o1", rc.srv.URL, secretEnv)
	return coll, rc
}

func deliverer(coll *store.Collection, owner string, attempts int) *webhook.Deliverer {
	return &webhook.Deliverer{
		Coll: coll, Owner: owner, MaxAttempts: attempts,
		Client:  &http.Client{Timeout: 300 * time.Millisecond},
		Backoff: func(int) time.Duration { return 0 },
		Poll:    10 * time.Millisecond,
		Secret:  func(name string) string { return map[string]string{"HOOK": secret}[name] },
	}
}

func entry(t *testing.T, coll *store.Collection) webhook.Entry {
	t.Helper()
	list, err := webhook.List(t.Context(), coll, "", 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("outbox: %v %v", list, err)
	}
	return list[0]
}

func TestFailsTimesOutThenDelivers(t *testing.T) {
	coll, ob := setup(t)
	rc := newReceiver(t, func(n int) string {
		return map[int]string{1: "fail", 2: "hang", 3: "fail"}[n] + map[bool]string{true: "ok"}[n > 3]
	})
	ctx := t.Context()
	oid := bson.NewObjectID()
	enqueue(t, ob, "update", oid, rc.srv.URL, "HOOK")
	d := deliverer(coll, "p1", 10)
	for i := 0; i < 4; i++ {
		worked, err := d.Step(ctx)
		if err != nil || !worked {
			t.Fatalf("step %d: worked=%v err=%v", i, worked, err)
		}
		e := entry(t, coll)
		if i < 3 && (e.State != webhook.StatePending || e.Attempts != i+1 || e.LastError == "") {
			t.Fatalf("after failure %d: %+v", i+1, e)
		}
	}
	e := entry(t, coll)
	if e.State != webhook.StateDelivered || e.Attempts != 4 || e.DeliveredAt == nil {
		t.Fatalf("not delivered: %+v", e)
	}
	if worked, _ := d.Step(ctx); worked {
		t.Fatal("a delivered entry was claimed again")
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != 0 || rc.n != 4 {
		t.Fatalf("requests %d, bad signatures %d", rc.n, rc.bad)
	}
	var got map[string]any
	bodies := rc.bodies[e.ID.Hex()]
	if len(bodies) != 1 || json.Unmarshal(bodies[0], &got) != nil {
		t.Fatalf("bodies %q", bodies)
	}
	if got["event"] != "update" || got["collection"] != "orders" || got["document_id"] != oid.Hex() || got["actor"] != "u1" || got["ts"] == "" {
		t.Fatalf("body %v", got)
	}
}

func TestNeverAnsweringReceiverEndsDead(t *testing.T) {
	coll, _ := oneEvent(t, func(int) string { return "hang" }, "HOOK")
	ctx := t.Context()
	d := deliverer(coll, "p1", 3)
	for i := 0; i < 3; i++ {
		if _, err := d.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e := entry(t, coll)
	if e.State != webhook.StateDead || e.Attempts != 3 || e.LastError == "" {
		t.Fatalf("not dead: %+v", e)
	}
	if worked, _ := d.Step(ctx); worked {
		t.Fatal("a dead entry was retried")
	}
	dead, err := webhook.List(ctx, coll, webhook.StateDead, 10)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead list %v %v", dead, err)
	}
}

func TestMissingSecretIsAFailedAttempt(t *testing.T) {
	coll, rc := oneEvent(t, func(int) string { return "ok" }, "UNSET")
	ctx := t.Context()
	d := deliverer(coll, "p1", 1)
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if e := entry(t, coll); e.State != webhook.StateDead || rc.n != 0 {
		t.Fatalf("an unsigned event was sent or kept pending: %+v, %d requests", e, rc.n)
	}
}

// Several processes share the outbox: the lease makes each event go out once.
func TestTwoDeliverersDeliverEachEventOnce(t *testing.T) {
	coll, ob := setup(t)
	rc := newReceiver(t, func(int) string { return "ok" })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const n = 30
	for i := 0; i < n; i++ {
		enqueue(t, ob, "create", i, rc.srv.URL, "HOOK")
	}
	var wg sync.WaitGroup
	for _, owner := range []string{"p1", "p2"} {
		d := deliverer(coll, owner, 5)
		wg.Add(1)
		go func() { defer wg.Done(); d.Run(ctx) }()
	}
	var delivered atomic.Int64
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		list, err := webhook.List(t.Context(), coll, webhook.StateDelivered, n+1)
		if err != nil {
			t.Fatal(err)
		}
		delivered.Store(int64(len(list)))
		if len(list) == n {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling for a condition, with a deadline
	}
	cancel()
	wg.Wait()
	if delivered.Load() != n {
		t.Fatalf("%d of %d delivered", delivered.Load(), n)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != n || rc.n != n || rc.bad != 0 {
		t.Fatalf("receiver got %d requests for %d events (%d bad)", rc.n, len(rc.bodies), rc.bad)
	}
}
