package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// TestHostileRequests is the one table of attacks on the security rules of
// ARCHITECTURE.md that go through the document endpoints. Each case must
// fail with the given status and code; add new attacks here.
func TestHostileRequests(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	alice := e.user("alice", "t1", "employee")
	hr := e.user("h1", "t1", "hr")

	find := func(filter string) (string, string, any) {
		return "POST", "/collections/employees/find", `{"filter": ` + filter + `}`
	}
	list := func(q string) (string, string, any) {
		return "GET", "/collections/employees?" + q, nil
	}
	type req struct {
		method, path string
		body         any
	}
	mk := func(m, p string, b any) req { return req{m, p, b} }

	cases := []struct {
		name   string
		key    string
		req    req
		status int
		code   string
	}{
		// Malformed input.
		{"malformed JSON", hr, mk("POST", "/collections/employees", `{"a": `), 400, "BAD_REQUEST"},
		{"trailing data", hr, mk("POST", "/collections/employees", `{"a": 1} {"b": 2}`), 400, "BAD_REQUEST"},
		{"duplicate keys", hr, mk(find(`{"tenant_id": "t2", "tenant_id": "t1"}`)), 400, "BAD_REQUEST"},
		{"bad extended JSON", hr, mk("POST", "/collections/employees", `{"d": {"$date": "yesterday"}}`), 400, "BAD_REQUEST"},
		{"array body", hr, mk("POST", "/collections/employees", `[1,2]`), 400, "BAD_REQUEST"},
		{"dollar key in document", hr, mk("POST", "/collections/employees", `{"$where": "1"}`), 400, "BAD_REQUEST"},
		{"dotted key in document", hr, mk("POST", "/collections/employees", `{"a.b": 1}`), 400, "BAD_REQUEST"},
		{"pipeline update", hr, mk("PATCH", "/collections/employees/e1", `[{"$set": {"a": 1}}]`), 400, "BAD_REQUEST"},
		{"update _id", hr, mk("PATCH", "/collections/employees/e1", `{"$set": {"_id": "z"}}`), 400, "BAD_REQUEST"},
		{"wrong content type", hr, mk("POST", "/collections/employees", "form"), 400, "BAD_REQUEST"},
		{"unknown find member", hr, mk("POST", "/collections/employees/find", `{"fitler": {}}`), 400, "BAD_REQUEST"},
		{"unknown query parameter", hr, mk(list("filtre=%7B%7D")), 400, "BAD_REQUEST"},
		{"repeated query parameter", hr, mk(list("limit=1&limit=2")), 400, "BAD_REQUEST"},
		{"bad collection name", hr, mk("GET", "/collections/system.users", nil), 400, "BAD_REQUEST"},
		{"dollar collection name", hr, mk("GET", "/collections/$cmd", nil), 400, "BAD_REQUEST"},

		// Server-side JavaScript and unknown operators.
		{"$where", hr, mk(find(`{"$where": "this.salary > 0"}`)), 400, "BAD_REQUEST"},
		{"$expr $function", hr, mk(find(`{"$expr": {"$function": {"body": "function(){return true}", "args": [], "lang": "js"}}}`)), 400, "BAD_REQUEST"},
		{"unknown operator", hr, mk(find(`{"salary": {"$bogus": 1}}`)), 400, "BAD_REQUEST"},
		{"$code value", hr, mk(find(`{"name": {"$code": "x"}}`)), 400, "BAD_REQUEST"},
		{"$where in query string", hr, mk(list("filter=" + url.QueryEscape(`{"$where":"1"}`))), 400, "BAD_REQUEST"},

		// Oracles on hidden fields.
		{"filter hidden", alice, mk(find(`{"ssn": "111-11-1111"}`)), 403, "FORBIDDEN"},
		{"filter hidden in $or", alice, mk(find(`{"$or": [{"name": "x"}, {"ssn": {"$regex": "^1"}}]}`)), 403, "FORBIDDEN"},
		{"filter hidden in $nor", alice, mk(find(`{"$nor": [{"ssn": {"$exists": true}}]}`)), 403, "FORBIDDEN"},
		{"filter hidden in $elemMatch", alice, mk(find(`{"ssn": {"$elemMatch": {"$gt": "1"}}}`)), 403, "FORBIDDEN"},
		{"filter hidden dotted", alice, mk(find(`{"ssn.0": "1"}`)), 403, "FORBIDDEN"},
		{"filter masked", alice, mk(find(`{"email": {"$regex": "^alice"}}`)), 403, "FORBIDDEN"},
		{"filter hidden via GET", alice, mk(list("filter=" + url.QueryEscape(`{"ssn":{"$gt":""}}`))), 403, "FORBIDDEN"},
		{"count on hidden", alice, mk("POST", "/collections/employees/count", `{"filter": {"ssn": {"$exists": true}}}`), 403, "FORBIDDEN"},
		{"sort masked", alice, mk(list("sort=email")), 403, "FORBIDDEN"},
		{"sort hidden desc", alice, mk("POST", "/collections/employees/find", `{"sort": ["-ssn"]}`), 403, "FORBIDDEN"},
		{"rename hidden to visible", alice, mk("PATCH", "/collections/employees/e1", `{"$rename": {"ssn": "nick"}}`), 403, "FORBIDDEN"},
		{"rename masked to visible", alice, mk("PATCH", "/collections/employees/e1", `{"$rename": {"email": "contact"}}`), 403, "FORBIDDEN"},
		{"$expr on hidden", alice, mk(find(`{"$expr": {"$eq": ["$ssn", "111-11-1111"]}}`)), 400, "BAD_REQUEST"}, // $expr is refused in filters altogether
		{"$not on hidden", alice, mk(find(`{"ssn": {"$not": {"$eq": "x"}}}`)), 403, "FORBIDDEN"},
		{"parent of hidden", alice, mk(find(`{"profile": {"secret": "s", "level": 1}}`)), 403, "FORBIDDEN"},
		{"hidden sub-field", alice, mk(find(`{"profile.secret": {"$exists": true}}`)), 403, "FORBIDDEN"},
		{"sort on parent of hidden", alice, mk(list("sort=profile")), 403, "FORBIDDEN"},
		{"pull condition on hidden", alice, mk("PATCH", "/collections/employees/e1", `{"$pull": {"ssn": {"$gt": "1"}}}`), 403, "FORBIDDEN"},
		{"write below hidden by index", alice, mk("PATCH", "/collections/employees/e1", `{"$set": {"ssn.0": "x"}}`), 403, "FORBIDDEN"},
		{"write below hidden positional", alice, mk("PATCH", "/collections/employees/e1", `{"$set": {"ssn.$[]": "x"}}`), 403, "FORBIDDEN"},
		{"rename into hidden element", alice, mk("PATCH", "/collections/employees/e1", `{"$rename": {"name": "ssn.0"}}`), 403, "FORBIDDEN"},
		{"currentDate below hidden", alice, mk("PATCH", "/collections/employees/e1", `{"$currentDate": {"profile.secret.0": true}}`), 403, "FORBIDDEN"},
		{"batch write below hidden", alice, mk("PATCH", "/collections/employees/batch", `{"filter": {}, "update": {"$set": {"ssn.$": "x"}}}`), 403, "FORBIDDEN"},

		// Limits.
		{"limit over max", hr, mk(list("limit=101")), 400, "BAD_REQUEST"},
		{"limit zero", hr, mk(list("limit=0")), 400, "BAD_REQUEST"},
		{"limit over max in body", hr, mk("POST", "/collections/employees/find", `{"limit": 1000000}`), 400, "BAD_REQUEST"},
		{"oversized body", hr, mk("POST", "/collections/employees", `{"a": "`+strings.Repeat("x", testMaxBody)+`"}`), 413, "PAYLOAD_TOO_LARGE"},
		{"oversized find", hr, mk("POST", "/collections/employees/find", `{"filter": {"a": "`+strings.Repeat("x", testMaxBody)+`"}}`), 413, "PAYLOAD_TOO_LARGE"},
		{"long regex", hr, mk(find(`{"name": {"$regex": "` + strings.Repeat("a", 500) + `"}}`)), 413, "PAYLOAD_TOO_LARGE"},
		{"deep filter", hr, mk(find(strings.Repeat(`{"$and": [`, 20) + `{"a": 1}` + strings.Repeat(`]}`, 20))), 400, "BAD_REQUEST"},

		// Cursors.
		{"garbage cursor", hr, mk(list("cursor=abc")), 400, "INVALID_CURSOR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.req.method, c.req.path, c.key, c.req.body)
			if c.name == "wrong content type" {
				// do() sets JSON; send the form by hand.
				r = e.doCT(c.req.method, c.req.path, c.key, "a=1", "application/x-www-form-urlencoded")
			}
			expect(t, r, c.status, c.code)
			if c.status == 403 && c.code == "FORBIDDEN" && strings.Contains(c.name, "hidden") {
				if !r.has(`"details":{"field":`) {
					t.Fatalf("403 does not name the field: %s", r.Body)
				}
			}
		})
	}
	// Nothing above changed the data.
	if d := e.raw("employees", "e1"); d["name"] != "Alice" || d["salary"] != int32(100) {
		t.Fatalf("hostile requests changed e1: %v", d)
	}
}

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
				if !r.has("decimal") {
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

// Attacks found by review of the enforcement path; each must fail.

// Value-dependent update operators on a masked or hidden field are refused:
// their result ($addToSet adds only what is absent) or their failure ($inc
// on a string) would reveal the value.
func TestAttackUpdateOperatorsAsOracles(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", "t1", "employee")
	e.insert("employees", D("_id", "x1", "tenant_id", "t1", "owner", "alice", "email", bson.A{"alice.private@corp.com"},
		"ssn", "123", "profile", D("secret", "s", "title", "dev")))
	for name, body := range map[string]any{
		"addToSet on masked":     map[string]any{"$addToSet": map[string]any{"email": "alice.private@corp.com"}},
		"pullAll on masked":      map[string]any{"$pullAll": map[string]any{"email": []string{"x"}}},
		"push on masked":         map[string]any{"$push": map[string]any{"email": "x"}},
		"inc on hidden":          map[string]any{"$inc": map[string]any{"ssn": 0}},
		"max on hidden":          map[string]any{"$max": map[string]any{"ssn": "0"}},
		"set below hidden":       map[string]any{"$set": map[string]any{"profile.secret.x": 1}},
		"merge below hidden":     map[string]any{"ssn.x": 1},
		"set below masked array": map[string]any{"$set": map[string]any{"email.x": 1}},
	} {
		r := e.do("PATCH", "/collections/employees/x1", alice, body)
		if r.Status != 403 {
			t.Errorf("%s: want 403, got %d %s", name, r.Status, r.Body)
		}
	}
	stored := e.raw("employees", "x1")
	require.Equal(t, "123", stored["ssn"])
	// Blind writes of readable fields still work.
	expect(t, e.do("PATCH", "/collections/employees/x1", alice, map[string]any{"$set": map[string]any{"profile.title": "lead"}}), 200, "")
}

// A GET-then-PUT round trip must not delete hidden fields nor store the
// mask's text over the real value.
func TestAttackPutRoundTripKeepsWhatTheCallerCannotRead(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", "t1", "employee")
	e.insert("employees", D("_id", "e1", "tenant_id", "t1", "owner", "alice", "name", "Alice",
		"email", "alice@example.com", "ssn", "123-45", "profile", D("secret", "s", "title", "dev")))
	got := e.do("GET", "/collections/employees/e1", alice, nil)
	expect(t, got, 200, "")
	body := got.data(t)
	require.NotContains(t, body, "ssn")
	require.NotEqual(t, "alice@example.com", body["email"])
	body["name"] = "Alice A."
	expect(t, e.do("PUT", "/collections/employees/e1", alice, body), 200, "")
	stored := e.raw("employees", "e1")
	require.Equal(t, "Alice A.", stored["name"], "the visible change is written")
	require.Equal(t, "123-45", stored["ssn"], "hidden field kept")
	require.Equal(t, "alice@example.com", stored["email"], "masked field kept, not overwritten with the mask")
	profile, _ := bson.Marshal(stored["profile"])
	require.Equal(t, "s", bson.Raw(profile).Lookup("secret").StringValue(), "hidden sub-field kept")
}

// Writes that reach below a hidden, masked or deny_write field through an
// array index or a positional operator are refused with 403 before anything
// is sent to the database, on the single and the batch endpoint, and the
// answer is the same whether the field holds a scalar, an array or nothing
// (issue: these used to be 500 for a scalar and 200 for an absent field,
// and the 200 wrote into the hidden field).
func TestAttackWritesBelowProtectedFieldsThroughIndexes(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", "t1", "employee")
	// Twins that differ only in what alice cannot see or write: ssn (hidden),
	// email (masked), salary (deny_write), profile.secret (hidden),
	// profile.level (deny_write).
	twins := []bson.D{
		D("_id", "scalar", "tenant_id", "t1", "owner", "alice", "name", "A", "tags", bson.A{"x", "y"},
			"ssn", "123-45", "email", "alice@example.com", "salary", 100,
			"profile", D("title", "dev", "secret", "s", "level", 1)),
		D("_id", "absent", "tenant_id", "t1", "owner", "alice", "name", "A", "tags", bson.A{"x", "y"},
			"profile", D("title", "dev")),
		D("_id", "array", "tenant_id", "t1", "owner", "alice", "name", "A", "tags", bson.A{"x", "y"},
			"ssn", bson.A{"1", "2"}, "email", bson.A{"a@example.com"}, "salary", bson.A{1, 2},
			"profile", D("title", "dev", "secret", bson.A{"s"}, "level", bson.A{1})),
	}
	e.insert("employees", twins...)
	before := map[string]bson.M{}
	for _, d := range twins {
		id := d[0].Value.(string)
		before[id] = e.raw("employees", id)
	}

	attacks := []string{
		// hidden
		`{"$set": {"ssn.0": "x"}}`,
		`{"$set": {"ssn.$": "x"}}`,
		`{"$set": {"ssn.$[]": "x"}}`,
		`{"$set": {"ssn.$[x]": "x"}}`,
		`{"$set": {"ssn.0.a": "x"}}`,
		`{"$set": {"ssn.1.0": "x"}}`,
		`{"ssn.0": "x"}`,
		`{"$unset": {"ssn.0": ""}}`,
		`{"$unset": {"ssn.$[]": ""}}`,
		`{"$rename": {"name": "ssn.0"}}`,
		`{"$rename": {"name": "ssn.a"}}`,
		`{"$currentDate": {"ssn.0": true}}`,
		`{"$currentDate": {"ssn.$[]": {"$type": "timestamp"}}}`,
		`{"$inc": {"ssn.0": 1}}`,
		`{"$push": {"ssn.0": 1}}`,
		`{"$pop": {"ssn.$[]": 1}}`,
		`{"$set": {"profile.secret.0": "x"}}`,
		`{"$set": {"profile.secret.$[]": "x"}}`,
		`{"$min": {"profile.secret.0": 1}}`,
		// masked
		`{"$set": {"email.0": "x"}}`,
		`{"$set": {"email.$[]": "x"}}`,
		`{"$set": {"email.$[e]": "x"}}`,
		`{"$rename": {"name": "email.1"}}`,
		`{"$currentDate": {"email.0": true}}`,
		`{"$unset": {"email.0": ""}}`,
		// deny_write
		`{"$set": {"salary.0": 1}}`,
		`{"$set": {"salary.$[]": 1}}`,
		`{"$set": {"salary.$": 1}}`,
		`{"$rename": {"name": "salary.0"}}`,
		`{"$currentDate": {"salary.0": true}}`,
		`{"$unset": {"salary.0": ""}}`,
		`{"$set": {"profile.level.0": 1}}`,
		`{"$set": {"profile.level.$[]": 1}}`,
		`{"$unset": {"owner.0": ""}}`,
	}
	for _, body := range attacks {
		t.Run(body, func(t *testing.T) {
			var first string
			for _, d := range twins {
				id := d[0].Value.(string)
				r := e.do("PATCH", "/collections/employees/"+id, alice, body)
				expect(t, r, 403, "FORBIDDEN")
				errJSON, _ := json.Marshal(r.json(t)["error"]) // without the request id
				if first == "" {
					first = string(errJSON)
				} else if string(errJSON) != first {
					t.Fatalf("the answer depends on the stored document:\n%s\n%s", first, errJSON)
				}
			}
			for _, sel := range []string{`"filter": {"owner": "alice"}`, `"ids": ["scalar", "absent", "array"]`} {
				r := e.do("PATCH", "/collections/employees/batch", alice, `{`+sel+`, "update": `+body+`}`)
				expect(t, r, 403, "FORBIDDEN")
			}
		})
	}
	for id, want := range before {
		if got := e.raw("employees", id); !reflect.DeepEqual(got, want) {
			t.Errorf("document %s changed:\nbefore %v\nafter  %v", id, want, got)
		}
	}

	// Indexes and positional operators on fields alice may write still work.
	expect(t, e.do("PATCH", "/collections/employees/scalar", alice, `{"$set": {"tags.0": "z"}}`), 200, "")
	expect(t, e.do("PATCH", "/collections/employees/array", alice, `{"$set": {"tags.0": "q"}}`), 200, "")
	r := e.do("PATCH", "/collections/employees/batch", alice, `{"filter": {"name": "A"}, "update": {"$set": {"tags.1": "w"}}}`)
	expect(t, r, 200, "")
	if got := fmt.Sprint(r.data(t)["modified"]); got != "3" {
		t.Fatalf("batch modified %s documents, want 3: %s", got, r.Body)
	}
	tags := func(id string) string {
		b, _ := json.Marshal(e.raw("employees", id)["tags"])
		return string(b)
	}
	if tags("scalar") != `["z","w"]` || tags("array") != `["q","w"]` || tags("absent") != `["x","w"]` {
		t.Fatalf("allowed positional writes: %s %s %s", tags("scalar"), tags("array"), tags("absent"))
	}
	// And none of them touched a protected field.
	for id, want := range before {
		got := e.raw("employees", id)
		for _, f := range []string{"ssn", "email", "salary", "profile", "owner"} {
			if !reflect.DeepEqual(got[f], want[f]) {
				t.Errorf("%s.%s changed: %v -> %v", id, f, want[f], got[f])
			}
		}
	}
}
