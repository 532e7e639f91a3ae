package api_test

import (
	"net/url"
	"strings"
	"testing"
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
				if !strings.Contains(string(r.Body), `"details":{"field":`) {
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
