package webhook_test

import (
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// TestAttemptsWrittenToAuditChain: attempts the receiver never sees (a
// closed port, a missing secret) are audited too, through a real audit
// writer, in the change's tenant's chain, with the failure's code.
func TestAttemptsWrittenToAuditChain(t *testing.T) {
	coll, ob := setup(t)
	ctx := t.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	_ = ln.Close() // nothing listens there now

	auditColl := coll.Sibling("pm_audit")
	w, err := audit.NewWriter(audit.Options{Collection: auditColl, Mode: audit.ModeFailClosed})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ doc, url, secret string }{{"unreachable", closed, "HOOK"}, {"unsigned", closed, "UNSET"}} {
		if err := ob.EnqueueChange(ctx, webhook.Change{Event: "create", Collection: "orders", DocumentID: c.doc, Actor: "u1", TenantID: "t9", At: time.Now()},
			[]webhook.Target{{URL: c.url, SecretEnv: c.secret}}); err != nil {
			t.Fatal(err)
		}
	}
	d := deliverer(coll, "p1", 1)
	d.Audit = w
	for range 2 {
		if worked, err := d.Step(ctx); !worked || err != nil {
			t.Fatalf("step: %v %v", worked, err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []audit.Entry
	if err := auditColl.FindAll(ctx, bson.D{{Key: "action", Value: webhook.ActionDead}}, store.Find{}, &got); err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, e := range got {
		if e.Actor.ID != webhook.DeliveryActorID || e.Actor.TenantID != "t9" || e.Outcome != audit.OutcomeError || e.Status != 0 || len(e.DocIDs) != 2 {
			t.Fatalf("entry %+v", e)
		}
		codes[e.DocIDs[1]] = e.ErrorCode
	}
	if codes["unreachable"] != webhook.CodeReceiverUnreachable || codes["unsigned"] != webhook.CodeSecretMissing || len(codes) != 2 {
		t.Fatalf("error codes %v", codes)
	}
	if res, err := audit.Verify(ctx, auditColl, time.Time{}, time.Now().Add(time.Hour)); err != nil || !res.OK {
		t.Fatalf("chain: %+v %v", res, err)
	}
}
