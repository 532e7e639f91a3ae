package api_test

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// Client mistakes are a 400 with a message on every engine, never a 500 or
// a 503: an invalid regular expression, an update path through a scalar,
// positional operators that match nothing, operators on the wrong type.
// Nothing is written, and the proxy keeps answering afterwards.
func TestClientMistakesAre400(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	hr := e.user("h1", "t1", "hr")
	before := map[string]bson.M{}
	for _, id := range []string{"e1", "e2", "e3"} {
		before[id] = e.raw("employees", id)
	}
	find := func(filter string) [3]string {
		return [3]string{"POST", "/collections/employees/find", `{"filter": ` + filter + `}`}
	}
	patch := func(update string) [3]string {
		return [3]string{"PATCH", "/collections/employees/e1", update}
	}
	cases := []struct {
		name string
		req  [3]string
	}{
		{"regex in query string", [3]string{"GET", "/collections/employees?filter=" + url.QueryEscape(`{"name": {"$regex": "("}}`), ""}},
		{"regex in count", [3]string{"POST", "/collections/employees/count", `{"filter": {"name": {"$regex": "("}}}`}},
		{"regex in batch delete filter", [3]string{"POST", "/collections/employees/batch/delete", `{"filter": {"name": {"$regex": "("}}}`}},
		{"regex in aggregate $match", [3]string{"POST", "/collections/employees/aggregate", `{"pipeline": [{"$match": {"name": {"$regex": "("}}}]}`}},
		{"regex unbalanced", find(`{"name": {"$regex": "("}}`)},
		{"regex unterminated class", find(`{"name": {"$regex": "[a"}}`)},
		{"regex nothing to repeat in $or", find(`{"$or": [{"name": "x"}, {"name": {"$regex": "*a"}}]}`)},
		{"regex in $in", find(`{"name": {"$in": [{"$regularExpression": {"pattern": "(", "options": ""}}]}}`)},
		{"fractional $mod divisor", find(`{"salary": {"$mod": [0.5, 0]}}`)},
		{"huge $mod divisor", find(`{"salary": {"$mod": [1e300, 0]}}`)},
		{"set through a string", patch(`{"$set": {"name.x": 1}}`)},
		{"set index through a string", patch(`{"$set": {"name.0": 1}}`)},
		{"set through a number in a document", patch(`{"$set": {"profile.level.x": 1}}`)},
		{"positional on a string", patch(`{"$set": {"name.$": 1}}`)},
		{"all positional on a string", patch(`{"$set": {"name.$[]": 1}}`)},
		{"filtered positional without filter", patch(`{"$set": {"profile.$[x]": 1}}`)},
		{"positional on a missing field", patch(`{"$set": {"nope.$": 1}}`)},
		{"all positional on a missing field", patch(`{"$set": {"nope.$[]": 1}}`)},
		{"currentDate through a string", patch(`{"$currentDate": {"name.0": true}}`)},
		{"rename into an array element", patch(`{"$rename": {"name": "title.0"}}`)},
		{"rename from an array element", patch(`{"$rename": {"profile.0": "x"}}`)},
		{"array index over the limit", patch(`{"$set": {"tags.99999999": 1}}`)},
		{"array index over the limit in a merge patch", patch(`{"profile.1500001": 1}`)},
		{"rename into a string", patch(`{"$rename": {"title": "name.x"}}`)},
		{"rename from below a string", patch(`{"$rename": {"name.x": "y"}}`)},
		{"rename into a number in a document", patch(`{"$rename": {"name": "profile.level.x"}}`)},
		{"inc on a string", patch(`{"$inc": {"name": 1}}`)},
		{"push on a string", patch(`{"$push": {"name": 1}}`)},
		{"addToSet on a string", patch(`{"$addToSet": {"name": 1}}`)},
		{"pop on a string", patch(`{"$pop": {"name": 1}}`)},
		{"pull on a string", patch(`{"$pull": {"name": 1}}`)},
		{"pullAll on a string", patch(`{"$pullAll": {"name": [1]}}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.req[2] != "" {
				body = c.req[2]
			}
			r := e.do(c.req[0], c.req[1], hr, body)
			expect(t, r, 400, "BAD_REQUEST")
			if msg, _ := r.json(t)["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatalf("no message: %s", r.Body)
			}
			// The proxy still answers: no connection was lost.
			expect(t, e.do("GET", "/collections/employees/e2", hr, nil), 200, "")
		})
	}

	// The same update mistakes through a batch: every document fails on
	// its own with 400, none with 500.
	for _, upd := range []string{`{"$set": {"name.x": 1}}`, `{"$set": {"name.$": 1}}`, `{"$inc": {"name": 1}}`} {
		r := e.do("PATCH", "/collections/employees/batch", hr, `{"filter": {"tenant_id": "t1"}, "update": `+upd+`}`)
		expect(t, r, 200, "")
		failed, _ := r.data(t)["failed"].([]any)
		if len(failed) != 3 {
			t.Fatalf("%s: want 3 failed items: %s", upd, r.Body)
		}
		for _, f := range failed {
			if code := f.(map[string]any)["error"].(map[string]any)["code"]; code != "BAD_REQUEST" {
				t.Fatalf("%s: item failed with %v: %s", upd, code, r.Body)
			}
		}
	}
	expect(t, e.do("PATCH", "/collections/employees/batch", hr, `{"filter": {"tenant_id": "t1"}, "update": {"$rename": {"name": "title.0"}}}`), 400, "BAD_REQUEST")

	for id, want := range before {
		if got := e.raw("employees", id); !reflect.DeepEqual(got, want) {
			t.Errorf("document %s changed:\nbefore %v\nafter  %v", id, want, got)
		}
	}
}

// Decimal128 values: the embedded FerretDB v1 drops the connection on any
// request carrying one (a 503 to the client), so there the proxy refuses
// them with 400 before sending, in filters, $mod operands, $pull
// conditions, pipelines and stored values. Engines that handle the type get
// the request through and answer it.
func TestDecimal128WhereTheBackendCannotHandleIt(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	hr := e.user("h1", "t1", "hr")
	before := e.raw("employees", "e1")
	// No capability probe exists for this type (probing would drop a
	// connection); pm serve and newEnv refuse it on FerretDB v1.
	refused := testenv.Backend() == testenv.BackendFerretDB

	type req struct {
		name, method, path, body string
		ok                       int // status where the type is supported
	}
	find := func(name, filter string) req {
		return req{name, "POST", "/collections/employees/find", `{"filter": ` + filter + `}`, 200}
	}
	cases := []req{
		find("equality", `{"salary": {"$numberDecimal": "100"}}`),
		find("$gt", `{"salary": {"$gt": {"$numberDecimal": "1"}}}`),
		find("$in", `{"salary": {"$in": [1, {"$numberDecimal": "100"}]}}`),
		find("$mod divisor", `{"salary": {"$mod": [{"$numberDecimal": "3"}, 1]}}`),
		find("$mod remainder", `{"salary": {"$mod": [3, {"$numberDecimal": "1"}]}}`),
		{"count", "POST", "/collections/employees/count", `{"filter": {"salary": {"$numberDecimal": "100"}}}`, 200},
		{"aggregate $match", "POST", "/collections/employees/aggregate", `{"pipeline": [{"$match": {"salary": {"$numberDecimal": "100"}}}]}`, 200},
		{"aggregate $literal", "POST", "/collections/employees/aggregate", `{"pipeline": [{"$project": {"x": {"$literal": {"$numberDecimal": "1"}}}}]}`, 200},
		{"batch delete filter", "POST", "/collections/employees/batch/delete", `{"filter": {"salary": {"$numberDecimal": "-1"}}}`, 200},
		{"$pull condition", "PATCH", "/collections/employees/e3", `{"$pull": {"tags": {"$numberDecimal": "1"}}}`, 200},
		{"$set", "PATCH", "/collections/employees/e3", `{"$set": {"bonus": {"$numberDecimal": "1.50"}}}`, 200},
		{"batch $inc", "PATCH", "/collections/employees/batch", `{"ids": ["e3"], "update": {"$inc": {"points": {"$numberDecimal": "1"}}}}`, 200},
		{"create", "POST", "/collections/employees", `{"name": "D", "bonus": {"$numberDecimal": "2.5"}}`, 201},
		{"replace", "PUT", "/collections/employees/e2", `{"name": "Bob", "tenant_id": "t1", "bonus": [{"$numberDecimal": "3"}]}`, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, hr, c.body)
			if refused {
				expect(t, r, 400, "BAD_REQUEST")
				if !strings.Contains(string(r.Body), "decimal") {
					t.Fatalf("message does not name the type: %s", r.Body)
				}
			} else {
				expect(t, r, c.ok, "")
			}
			expect(t, e.do("GET", "/collections/employees/e2", hr, nil), 200, "")
		})
	}
	if !reflect.DeepEqual(e.raw("employees", "e1"), before) {
		t.Fatal("e1 changed")
	}
	if refused {
		if _, ok := e.raw("employees", "e3")["bonus"]; ok {
			t.Fatal("a refused $set was written")
		}
		return
	}
	// Where supported, the filter compares by value and finds e1.
	r := e.do("POST", "/collections/employees/find", hr, `{"filter": {"salary": {"$numberDecimal": "100"}}}`)
	if got := ids(t, r.list(t)); !reflect.DeepEqual(got, []string{"e1"}) {
		t.Fatalf("decimal equality found %v", got)
	}
	if _, ok := e.raw("employees", "e3")["bonus"].(bson.Decimal128); !ok {
		t.Fatalf("bonus not stored as Decimal128: %v", e.raw("employees", "e3"))
	}
}
