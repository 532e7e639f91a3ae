package api_test

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// crossPolicy gives staff their own tenant's orders and customers, with a
// hidden and a masked field on each, and nothing of secrets.
const crossPolicy = `
version: "1"
roles:
  staff: {}
policies:
  orders:
    staff:
      actions: [read, create, update, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny: [internal_note]
    presets:
      tenant_id: user.tenant_id
  customers:
    staff:
      actions: [read, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny: [ssn]
        mask: {email: email}
  teams:
    staff:
      actions: [read, aggregate]
      when: "resource.tenant_id == user.tenant_id"
  secrets:
    nobody:
      actions: [read]
defaults:
  deny_unlisted_collections: true
`

// Values that must never appear in an answer to a t1 caller: t2's data, and
// t1's hidden and unmasked values.
var crossLeaks = []string{"SSN-T1", "SSN-T2", "carol@t1.example", "dave@t2.example", "NOTE-T1", "NOTE-T2", "TOPSECRET", "t2-only"}

func newCrossEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnvWithPolicy(t, crossPolicy)
	e.insert("customers",
		D("_id", "c1", "tenant_id", "t1", "key", "k1", "name", "Carol", "email", "carol@t1.example", "ssn", "SSN-T1", "manager", nil),
		D("_id", "c3", "tenant_id", "t1", "key", "k3", "name", "Cid", "email", "cid@t1.example", "ssn", "SSN-T1b", "manager", "c1"),
		// t2's customer shares the join key with t1's: a join must not reach it.
		D("_id", "c2", "tenant_id", "t2", "key", "k1", "name", "t2-only", "email", "dave@t2.example", "ssn", "SSN-T2", "manager", "c1"),
	)
	e.insert("orders",
		D("_id", "o1", "tenant_id", "t1", "cust", "k1", "amount", 10, "internal_note", "NOTE-T1"),
		D("_id", "o2", "tenant_id", "t1", "cust", "k3", "amount", 30, "internal_note", "NOTE-T1", "team", "tm2"),
		D("_id", "o3", "tenant_id", "t2", "cust", "k1", "amount", 1000, "internal_note", "NOTE-T2"),
	)
	// t1's team tree points at a t2 team: a graph walk must stop there.
	e.insert("teams",
		D("_id", "tm1", "tenant_id", "t1", "parent", "tmX"),
		D("_id", "tm2", "tenant_id", "t1", "parent", "tm1"),
		D("_id", "tmX", "tenant_id", "t2", "parent", nil, "name", "t2-only"),
	)
	e.insert("secrets", D("_id", "s1", "tenant_id", "t1", "key", "k1", "v", "TOPSECRET"))
	return e, e.user("u1", "t1", "staff")
}

// noLeak fails when the answer carries any value the caller may not see.
func noLeak(t *testing.T, r resp) {
	t.Helper()
	for _, s := range crossLeaks {
		if r.has(s) {
			t.Fatalf("answer leaks %q: %s", s, r.Body)
		}
	}
}

// joined returns the documents under field as of every result document.
func joined(t *testing.T, r resp, as string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, d := range r.list(t) {
		arr, _ := d.(map[string]any)[as].([]any)
		for _, j := range arr {
			out = append(out, j.(map[string]any))
		}
	}
	return out
}

// checkCustomer: a joined customer document is shaped like a direct read of
// it: the hidden field gone, the masked one masked.
func checkCustomer(t *testing.T, c map[string]any) {
	t.Helper()
	if c["tenant_id"] != "t1" {
		t.Fatalf("joined another tenant's customer: %v", c)
	}
	if _, ok := c["ssn"]; ok {
		t.Fatalf("hidden field ssn joined: %v", c)
	}
	email, _ := c["email"].(string)
	if email == "" || strings.Contains(email, "@t1.example") && !strings.Contains(email, "*") {
		t.Fatalf("email not masked in joined document: %v", c)
	}
}

// Cross-collection stages read the other collection under its own policy for
// the same caller: the other tenant's documents are not joined, hidden fields
// are gone and masked ones masked, exactly as a direct read would show them.
func TestCrossCollectionStagesApplyTheTargetsPolicy(t *testing.T) {
	testenv.RequireCapability(t, testenv.CapLookup)
	e, staff := newCrossEnv(t)
	agg := func(body string) resp {
		t.Helper()
		r := e.do("POST", "/collections/orders/aggregate", staff, body)
		noLeak(t, r)
		return r
	}

	t.Run("direct read for comparison", func(t *testing.T) {
		r := e.do("GET", "/collections/customers/c1", staff, nil)
		expect(t, r, 200, "")
		noLeak(t, r)
		checkCustomer(t, r.data(t))
	})
	// $lookup in each form joins t1's two customers, shown as a direct read
	// shows them: one per t1 order, or both for the one order that asks for
	// every customer.
	for _, c := range []struct {
		name, body string
		orders     int
	}{
		{"$lookup localField/foreignField", `{"pipeline": [{"$sort": {"_id": 1}}, {"$lookup": {"from": "customers", "localField": "cust", "foreignField": "key", "as": "c"}}]}`, 2},
		{"$lookup pipeline form", `{"pipeline": [{"$lookup": {"from": "customers", "let": {"k": "$cust"}, "pipeline": [{"$match": {"$expr": {"$eq": ["$key", "$$k"]}}}], "as": "c"}}]}`, 2},
		{"$lookup pipeline that asks for every customer", `{"pipeline": [{"$limit": 1}, {"$lookup": {"from": "customers", "pipeline": [{"$match": {}}], "as": "c"}}]}`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := agg(c.body)
			expect(t, r, 200, "")
			if n := len(r.list(t)); n != c.orders {
				t.Fatalf("%d orders, want %d of t1: %s", n, c.orders, r.Body)
			}
			cs := joined(t, r, "c")
			if len(cs) != 2 {
				t.Fatalf("joined %d customers, want t1's 2 (none of t2): %s", len(cs), r.Body)
			}
			for _, cust := range cs {
				checkCustomer(t, cust)
			}
		})
	}
	t.Run("$unionWith", func(t *testing.T) {
		r := agg(`{"pipeline": [{"$project": {"_id": 1}}, {"$unionWith": "customers"}]}`)
		if !supported(t, r, testenv.CapUnionWith) {
			return
		}
		expect(t, r, 200, "")
		var custs int
		for _, d := range r.list(t) {
			m := d.(map[string]any)
			if _, ok := m["key"]; ok {
				custs++
				checkCustomer(t, m)
			}
		}
		if custs != 2 {
			t.Fatalf("unioned %d customers, want t1's 2: %s", custs, r.Body)
		}
	})
	t.Run("$graphLookup", func(t *testing.T) {
		r := agg(`{"pipeline": [{"$match": {"_id": "o2"}}, {"$graphLookup": {"from": "teams", "startWith": "$team", "connectFromField": "parent", "connectToField": "_id", "as": "chain"}}]}`)
		if !supported(t, r, testenv.CapGraphLookup) {
			return
		}
		expect(t, r, 200, "")
		got := map[string]bool{}
		for _, tm := range joined(t, r, "chain") {
			got[tm["_id"].(string)] = true
		}
		if len(got) != 2 || !got["tm1"] || !got["tm2"] {
			t.Fatalf("graph walk reached %v, want tm2 and tm1 and not t2's tmX: %s", got, r.Body)
		}
	})
	t.Run("$facet around a $lookup", func(t *testing.T) {
		r := agg(`{"pipeline": [{"$facet": {"j": [{"$lookup": {"from": "customers", "localField": "cust", "foreignField": "key", "as": "c"}}], "n": [{"$count": "n"}]}}]}`)
		if !supported(t, r, testenv.CapFacet) {
			return
		}
		expect(t, r, 200, "")
		list := r.list(t)
		if len(list) != 1 {
			t.Fatalf("facet: %s", r.Body)
		}
		f := list[0].(map[string]any)
		js, _ := f["j"].([]any)
		if len(js) != 2 {
			t.Fatalf("facet saw %d orders, want t1's 2: %s", len(js), r.Body)
		}
		for _, o := range js {
			for _, c := range o.(map[string]any)["c"].([]any) {
				checkCustomer(t, c.(map[string]any))
			}
		}
	})
	t.Run("$replaceRoot onto a joined document", func(t *testing.T) {
		r := agg(`{"pipeline": [{"$lookup": {"from": "customers", "localField": "cust", "foreignField": "key", "as": "c"}}, {"$unwind": "$c"}, {"$replaceRoot": {"newRoot": "$c"}}]}`)
		if !supported(t, r, testenv.CapReplaceRoot) {
			return
		}
		expect(t, r, 200, "")
		list := r.list(t)
		if len(list) != 2 {
			t.Fatalf("%d documents, want 2: %s", len(list), r.Body)
		}
		for _, c := range list {
			checkCustomer(t, c.(map[string]any))
		}
	})
}

// Hostile cross-collection stages: the caller's own stages cannot reach what
// the target's policy hides, nor a collection the caller may not read. These
// are refused by the proxy before the server sees them, so they run on every
// engine, with or without the stages.
func TestCrossCollectionHostileStagesRefused(t *testing.T) {
	e, staff := newCrossEnv(t)
	for name, body := range map[string]string{
		"lookup a collection not granted":    `{"pipeline": [{"$lookup": {"from": "secrets", "localField": "cust", "foreignField": "key", "as": "s"}}]}`,
		"unionWith a collection not granted": `{"pipeline": [{"$unionWith": {"coll": "secrets", "pipeline": []}}]}`,
		"lookup matching on a hidden field":  `{"pipeline": [{"$lookup": {"from": "customers", "pipeline": [{"$match": {"ssn": "SSN-T1"}}], "as": "c"}}]}`,
		"lookup joining on a hidden field":   `{"pipeline": [{"$lookup": {"from": "customers", "localField": "cust", "foreignField": "ssn", "as": "c"}}]}`,
		"lookup sorting by a masked field":   `{"pipeline": [{"$lookup": {"from": "customers", "pipeline": [{"$sort": {"email": 1}}], "as": "c"}}]}`,
		"unionWith grouping a hidden field":  `{"pipeline": [{"$unionWith": {"coll": "customers", "pipeline": [{"$group": {"_id": "$ssn"}}]}}]}`,
		"graphLookup over hidden fields":     `{"pipeline": [{"$graphLookup": {"from": "customers", "startWith": "$cust", "connectFromField": "manager", "connectToField": "_id", "as": "c"}}]}`,
		"facet nesting a forbidden lookup":   `{"pipeline": [{"$facet": {"x": [{"$lookup": {"from": "secrets", "localField": "cust", "foreignField": "key", "as": "s"}}]}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/collections/orders/aggregate", staff, body)
			noLeak(t, r)
			expect(t, r, 403, "FORBIDDEN")
		})
	}
}

// $avg in $group runs over the caller's documents only.
func TestGroupAverageSeesOnlyTheCallersDocuments(t *testing.T) {
	testenv.RequireCapability(t, testenv.CapGroupAvg)
	e, staff := newCrossEnv(t)
	r := e.do("POST", "/collections/orders/aggregate", staff, `{"pipeline": [{"$group": {"_id": null, "avg": {"$avg": "$amount"}, "n": {"$sum": 1}}}]}`)
	expect(t, r, 200, "")
	list := r.list(t)
	if len(list) != 1 {
		t.Fatalf("group: %s", r.Body)
	}
	g := list[0].(map[string]any)
	if g["avg"] != float64(20) || g["n"] != float64(2) {
		t.Fatalf("avg over t1's orders is 20 over 2, got %s", r.Body)
	}
}

// A write that breaks a unique index is a 409 CONFLICT, on create and on
// update, and nothing is written.
func TestUniqueIndexConflictIs409(t *testing.T) {
	e, staff := newCrossEnv(t)
	_, err := e.db.Collection("orders").Indexes().CreateOne(t.Context(), mongo.IndexModel{
		Keys: bson.D{{Key: "ref", Value: 1}}, Options: options.Index().SetUnique(true).SetSparse(true)})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e.do("POST", "/collections/orders", staff, `{"_id": "n1", "ref": "R-1", "amount": 1}`), 201, "")
	expect(t, e.do("POST", "/collections/orders", staff, `{"_id": "n2", "ref": "R-1", "amount": 2}`), 409, "CONFLICT")
	if n, _ := e.db.Collection("orders").CountDocuments(t.Context(), D("_id", "n2")); n != 0 {
		t.Fatal("the conflicting document was written")
	}
	t.Run("update", func(t *testing.T) {
		r := e.do("PATCH", "/collections/orders/o1", staff, `{"$set": {"ref": "R-1"}}`)
		expect(t, r, 409, "CONFLICT")
		if got := e.raw("orders", "o1")["ref"]; got != nil {
			t.Fatalf("o1.ref = %v after a refused update", got)
		}
	})
}

// The caller's stages see the document only after the strip, whatever they
// read it through. FerretDB v2 on DocumentDB evaluated an $addFields placed
// right after the strip's $unset against the unstripped document, so
// $$ROOT showed hidden fields (found by internal/httpfuzz); the strip now
// ends with a barrier stage.
func TestStageAfterTheStripSeesNoHiddenField(t *testing.T) {
	e, staff := newCrossEnv(t)
	for name, body := range map[string]string{
		"$$ROOT":            `{"pipeline": [{"$addFields": {"x": "$$ROOT"}}]}`,
		"$$CURRENT":         `{"pipeline": [{"$set": {"x": "$$CURRENT"}}]}`,
		"$objectToArray":    `{"pipeline": [{"$addFields": {"x": {"$objectToArray": "$$ROOT"}}}]}`,
		"in a sub-pipeline": `{"pipeline": [{"$limit": 1}, {"$lookup": {"from": "orders", "pipeline": [{"$addFields": {"x": "$$ROOT"}}], "as": "j"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if name == "in a sub-pipeline" && !testenv.Has(t, testenv.CapLookup) {
				testenv.RequireCapability(t, testenv.CapLookup)
			}
			// orders has a hidden field and no mask, so its strip ends
			// with $unset: the shape the engine got wrong.
			r := e.do("POST", "/collections/orders/aggregate", staff, body)
			if name == "in a sub-pipeline" {
				r = e.do("POST", "/collections/customers/aggregate", staff, body)
			}
			noLeak(t, r)
			if r.Status != 200 && r.Status != 501 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		})
	}
}

// A pipeline that passes the proxy's checks but fails while the server
// evaluates it on the values it meets is the client's mistake: 400 with a
// message, on every engine, never a 500.
func TestPipelineEvaluationErrorsAre400(t *testing.T) {
	e, staff := newCrossEnv(t)
	for name, body := range map[string]string{
		"$concat of a number":       `{"pipeline": [{"$set": {"x": {"$concat": ["$cust", "$amount"]}}}]}`,
		"undefined variable":        `{"pipeline": [{"$addFields": {"x": "$$nosuch"}}]}`,
		"$size of a string":         `{"pipeline": [{"$project": {"x": {"$size": "$cust"}}}]}`,
		"$toString of a document":   `{"pipeline": [{"$addFields": {"x": {"$toString": "$$ROOT"}}}]}`,
		"$replaceRoot onto a value": `{"pipeline": [{"$replaceRoot": {"newRoot": "$cust"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/collections/orders/aggregate", staff, body)
			if r.Status == 501 {
				// The engine lacks the stage or operator: the proxy says so,
				// naming it, which is the right answer there.
				expect(t, r, 501, "NOT_SUPPORTED")
				return
			}
			if testenv.Backend() == testenv.BackendFerretDB && r.Status < 500 {
				// FerretDB v1 takes some of these literally ("$$nosuch" is
				// stored as a string): a documented difference, and no 5xx.
				return
			}
			expect(t, r, 400, "BAD_REQUEST")
		})
	}
}

// A stage after one whose output has no _id: answered where the engine can
// run it, refused with 501 naming the capability where it cannot (FerretDB
// v1 panics on it and later loses the whole process), never a 5xx else.
func TestStageAfterIDlessStage(t *testing.T) {
	e, staff := newCrossEnv(t)
	r := e.do("POST", "/collections/orders/aggregate", staff, `{"pipeline": [{"$count": "c"}, {"$project": {"tenant_id": 0}}]}`)
	if testenv.Backend() == testenv.BackendFerretDB {
		expect(t, r, 501, "NOT_SUPPORTED")
		return
	}
	expect(t, r, 200, "")
	if got := r.list(t); len(got) != 1 || got[0].(map[string]any)["c"] != float64(2) {
		t.Fatalf("count of t1's orders: %s", r.Body)
	}
}
