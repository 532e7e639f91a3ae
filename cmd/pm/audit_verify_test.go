package main

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
)

// pm audit verify reports an intact chain with exit 0, and a chain whose
// entry was altered in the database with exit 1 naming the entry.
func TestAuditVerifyCommand(t *testing.T) {
	pol := `
version: "1"
roles: {auditor: {}, member: {}}
system:
  audit.read: [auditor]
policies:
  notes:
    member: {actions: [create, read]}
`
	ts := startTestServer(t, pol, testKey{"aud", "aud", "t1", []string{"auditor"}}, testKey{"m", "m1", "t1", []string{"member"}})
	for range 3 {
		if st := getWithKey(t, ts.url+"/collections/notes", ts.keys["m"]); st != 200 {
			t.Fatalf("list: %d", st)
		}
	}
	coll := apptest.DriverDB(t, ts.app).Collection(ts.app.Config().Audit.Collection)
	waitUntil(t, func() bool {
		n, err := coll.CountDocuments(t.Context(), bson.D{})
		return err == nil && n >= 3
	}, "three audit entries stored")
	code, out, errOut := pmRun(t, "", "audit", "verify", "--url", ts.url, "--api-key", ts.keys["aud"])
	if code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("intact chain: %d %q %s", code, out, errOut)
	}

	var first bson.M
	if err := coll.FindOne(t.Context(), bson.D{{Key: "actor.id", Value: "m1"}}).Decode(&first); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(t.Context(), bson.D{{Key: "_id", Value: first["_id"]}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: 500}}}}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = pmRun(t, "", "audit", "verify", "--url", ts.url, "--api-key", ts.keys["aud"])
	if code != exitFail || !strings.HasPrefix(out, "BROKEN") {
		t.Fatalf("altered entry: %d %q %s", code, out, errOut)
	}

	code, _, errOut = pmRun(t, "", "audit", "verify", "--url", ts.url, "--api-key", ts.keys["m"])
	if code != exitFail || !strings.Contains(errOut, "403 FORBIDDEN") {
		t.Fatalf("member: %d %s", code, errOut)
	}
	if code, _, _ := pmRun(t, "", "audit", "verify", "--from", "yesterday", "--api-key", "x"); code != exitUsage {
		t.Fatalf("bad --from: %d", code)
	}
}
