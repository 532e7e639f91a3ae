package api_test

import (
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func seedEmployees(e *env) {
	e.insert("employees",
		D("_id", "e1", "tenant_id", "t1", "owner", "alice", "name", "Alice", "email", "alice@example.com",
			"ssn", "111-11-1111", "salary", 100, "profile", D("level", 1, "title", "dev", "secret", "s"), "public", false),
		D("_id", "e2", "tenant_id", "t1", "owner", "bob", "name", "Bob", "email", "bob@example.com",
			"ssn", "222-22-2222", "salary", 200, "public", true),
		D("_id", "e3", "tenant_id", "t1", "owner", "carol", "name", "Carol", "salary", 300, "public", false),
		D("_id", "e4", "tenant_id", "t2", "owner", "alice", "name", "Other Alice", "salary", 400, "public", true),
	)
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	hr1, hr2 := e.user("h1", "t1", "hr"), e.user("h2", "t2", "hr")

	got := ids(t, e.do("GET", "/collections/employees", hr1, nil).list(t))
	if !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("t1 hr sees %v", got)
	}
	got = ids(t, e.do("GET", "/collections/employees", hr2, nil).list(t))
	if !slices.Equal(got, []string{"e4"}) {
		t.Fatalf("t2 hr sees %v", got)
	}
	// A client filter naming the other tenant cannot widen the policy.
	r := e.do("POST", "/collections/employees/find", hr1, map[string]any{"filter": map[string]any{"tenant_id": "t2"}})
	expect(t, r, 200, "")
	if n := len(r.list(t)); n != 0 {
		t.Fatalf("filter on other tenant returned %d docs", n)
	}
	r = e.do("POST", "/collections/employees/find", hr1, map[string]any{"filter": map[string]any{"$or": []any{map[string]any{"tenant_id": "t2"}, map[string]any{"tenant_id": "t1"}}}})
	if got := ids(t, r.list(t)); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("$or around the policy gave %v", got)
	}
	// 404, never 403, for another tenant's document, on every verb.
	expect(t, e.do("GET", "/collections/employees/e4", hr1, nil), 404, "NOT_FOUND")
	expect(t, e.do("PATCH", "/collections/employees/e4", hr1, map[string]any{"name": "x"}), 404, "NOT_FOUND")
	expect(t, e.do("PUT", "/collections/employees/e4", hr1, map[string]any{"name": "x"}), 404, "NOT_FOUND")
	expect(t, e.do("DELETE", "/collections/employees/e4", hr1, nil), 404, "NOT_FOUND")
	expect(t, e.do("GET", "/collections/employees/nope", hr1, nil), 404, "NOT_FOUND")
	if e.raw("employees", "e4")["name"] != "Other Alice" {
		t.Fatal("other tenant's document changed")
	}
	// Count honours the policy.
	r = e.do("POST", "/collections/employees/count", hr2, map[string]any{})
	expect(t, r, 200, "")
	if n := r.data(t)["count"]; n != float64(1) {
		t.Fatalf("count = %v", n)
	}
}

func TestOwnerOnlyAndMasks(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	alice := e.user("alice", "t1", "employee")

	got := ids(t, e.do("GET", "/collections/employees", alice, nil).list(t))
	if !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("alice sees %v", got)
	}
	expect(t, e.do("GET", "/collections/employees/e3", alice, nil), 404, "NOT_FOUND")
	expect(t, e.do("GET", "/collections/employees/e4", alice, nil), 404, "NOT_FOUND")

	r := e.do("GET", "/collections/employees/e1", alice, nil)
	expect(t, r, 200, "")
	d := r.data(t)
	if _, ok := d["ssn"]; ok {
		t.Fatalf("denied field shown: %s", r.Body)
	}
	if email, _ := d["email"].(string); email == "alice@example.com" || email == "" {
		t.Fatalf("email not masked: %q", email)
	}
	if d["name"] != "Alice" {
		t.Fatalf("name = %v", d["name"])
	}
	// fields= silently omits what cannot be read.
	r = e.do("GET", "/collections/employees/e1?fields=name,ssn", alice, nil)
	expect(t, r, 200, "")
	d = r.data(t)
	if _, ok := d["ssn"]; ok || d["name"] != "Alice" || len(d) != 2 {
		t.Fatalf("fields projection: %s", r.Body)
	}
	// The employee role may not delete or create.
	expect(t, e.do("DELETE", "/collections/employees/e1", alice, nil), 403, "FORBIDDEN")
	expect(t, e.do("POST", "/collections/employees", alice, map[string]any{"name": "x"}), 403, "FORBIDDEN")
	// Unlisted collection: default deny.
	expect(t, e.do("GET", "/collections/secrets", alice, nil), 403, "FORBIDDEN")
}

func TestSharingViaArrays(t *testing.T) {
	e := newEnv(t)
	ann, ben, cid := e.user("ann", "", "member"), e.user("ben", "", "member"), e.user("cid", "", "member")

	r := e.do("POST", "/collections/notes", ann, map[string]any{"_id": "n1", "text": "hi", "shared_with": []string{"ben"}})
	expect(t, r, 201, "")
	if r.data(t)["owner"] != "ann" {
		t.Fatalf("owner preset not applied: %s", r.Body)
	}
	expect(t, e.do("GET", "/collections/notes/n1", ben, nil), 200, "")
	expect(t, e.do("GET", "/collections/notes/n1", cid, nil), 404, "NOT_FOUND")
	if got := ids(t, e.do("GET", "/collections/notes", cid, nil).list(t)); len(got) != 0 {
		t.Fatalf("cid sees %v", got)
	}
	// Ann shares with cid; now cid sees it.
	expect(t, e.do("PATCH", "/collections/notes/n1", ann, map[string]any{"$addToSet": map[string]any{"shared_with": "cid"}}), 200, "")
	expect(t, e.do("GET", "/collections/notes/n1", cid, nil), 200, "")
	// Ben cannot take the note over: owner is moved out of his reach.
	r = e.do("PATCH", "/collections/notes/n1", ben, map[string]any{"$set": map[string]any{"owner": "ben"}, "$pull": map[string]any{"shared_with": "ben"}})
	// the post-image (owner ben) still matches ben's rule, so this is allowed
	expect(t, r, 200, "")
	r = e.do("PATCH", "/collections/notes/n1", ben, map[string]any{"$set": map[string]any{"owner": "zed"}})
	expect(t, r, 403, "FORBIDDEN")
	if e.raw("notes", "n1")["owner"] != "ben" {
		t.Fatal("document changed by a refused update")
	}
}

func TestDenyWrite(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	alice := e.user("alice", "t1", "employee")

	cases := []struct {
		name string
		body any
	}{
		{"set", map[string]any{"$set": map[string]any{"salary": 1}}},
		{"unset", map[string]any{"$unset": map[string]any{"salary": ""}}},
		{"rename from", map[string]any{"$rename": map[string]any{"salary": "pay"}}},
		{"rename to", map[string]any{"$rename": map[string]any{"name": "salary"}}},
		{"inc", map[string]any{"$inc": map[string]any{"salary": 1}}},
		{"mul", map[string]any{"$mul": map[string]any{"salary": 2}}},
		{"max", map[string]any{"$max": map[string]any{"salary": 1000}}},
		{"merge", map[string]any{"salary": 1}},
		{"merge dotted", map[string]any{"profile.level": 9}},
		{"set parent", map[string]any{"$set": map[string]any{"profile": map[string]any{"level": 9}}}},
		{"owner", map[string]any{"owner": "bob"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("PATCH", "/collections/employees/e1", alice, c.body)
			expect(t, r, 403, "FORBIDDEN")
			if !r.has("salary") && !r.has("profile") && !r.has("owner") {
				t.Fatalf("403 does not name the field: %s", r.Body)
			}
		})
	}
	doc := e.raw("employees", "e1")
	if doc["salary"] != int32(100) {
		t.Fatalf("salary changed: %v", doc["salary"])
	}
	// Allowed fields can be written.
	r := e.do("PATCH", "/collections/employees/e1", alice, map[string]any{"$set": map[string]any{"name": "Alicia", "profile.title": "lead"}})
	expect(t, r, 200, "")
	if r.data(t)["name"] != "Alicia" {
		t.Fatalf("patch result %s", r.Body)
	}

	// PUT keeps denied fields as stored, whatever the body says.
	r = e.do("PUT", "/collections/employees/e1", alice, map[string]any{
		"tenant_id": "t1", "owner": "alice", "name": "Al", "salary": 999999, "profile": map[string]any{"level": 7, "title": "cto"},
	})
	expect(t, r, 200, "")
	doc = e.raw("employees", "e1")
	if doc["salary"] != int32(100) || doc["name"] != "Al" {
		t.Fatalf("PUT stored %v", doc)
	}
	prof := map[string]any{}
	for _, el := range doc["profile"].(bson.D) {
		prof[el.Key] = el.Value
	}
	if prof["level"] != int32(1) || prof["title"] != "cto" {
		t.Fatalf("PUT profile %v", prof)
	}
	// ssn is not readable by alice, but not deny_write either: PUT without
	// it removes it — the caller replaced the document.
	if doc["created_by"] != nil {
		t.Fatalf("stamps invented: %v", doc)
	}
	if doc["updated_by"] != "alice" {
		t.Fatalf("updated_by = %v", doc["updated_by"])
	}
}

func TestPresetsAndStamps(t *testing.T) {
	e := newEnv(t)
	hr := e.user("h1", "t1", "hr")

	r := e.do("POST", "/collections/employees", hr, map[string]any{"_id": "x1", "tenant_id": "t2", "name": "forged"})
	expect(t, r, 403, "FORBIDDEN")
	r = e.do("POST", "/collections/employees", hr, map[string]any{"_id": "x2", "tenant_id": "t1", "name": "echoed"})
	expect(t, r, 201, "")
	r = e.do("POST", "/collections/employees", hr, map[string]any{"name": "plain"})
	expect(t, r, 201, "")
	d := r.data(t)
	if d["tenant_id"] != "t1" || d["created_by"] != "h1" || d["created_at"] == nil || d["updated_at"] == nil {
		t.Fatalf("created %s", r.Body)
	}
	if _, ok := d["_id"].(map[string]any)["$oid"]; !ok {
		t.Fatalf("_id not an ObjectId: %s", r.Body)
	}
	for _, f := range []string{"created_by", "created_at", "updated_at", "updated_by"} {
		r = e.do("POST", "/collections/employees", hr, map[string]any{"name": "n", f: "me"})
		expect(t, r, 400, "BAD_REQUEST")
		r = e.do("PATCH", "/collections/employees/x2", hr, map[string]any{"$set": map[string]any{f: "me"}})
		expect(t, r, 400, "BAD_REQUEST")
	}
	// Duplicate _id → 409.
	expect(t, e.do("POST", "/collections/employees", hr, map[string]any{"_id": "x2", "name": "dup"}), 409, "CONFLICT")
	// Extended JSON round-trip. (Decimal128 is left out: FerretDB, the
	// default test backend, does not store it.)
	r = e.do("POST", "/collections/employees", hr, `{"_id": {"$oid": "0123456789abcdef01234567"}, "born": {"$date": "2001-02-03T04:05:06Z"}, "n": {"$numberLong": "9007199254740993"}}`)
	expect(t, r, 201, "")
	r = e.do("GET", "/collections/employees/0123456789abcdef01234567", hr, nil)
	expect(t, r, 200, "")
	if !r.has(`"$date":"2001-02-03T04:05:06Z"`) || !r.has(`"n":9007199254740993`) {
		t.Fatalf("extended JSON out: %s", r.Body)
	}
}

func TestPostImageCheck(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	hr := e.user("h1", "t1", "hr")
	before := e.raw("employees", "e3")

	for _, body := range []any{
		map[string]any{"$set": map[string]any{"tenant_id": "t2"}},
		map[string]any{"tenant_id": "t2"},
		map[string]any{"$unset": map[string]any{"tenant_id": ""}},
		map[string]any{"$rename": map[string]any{"tenant_id": "old_tenant"}},
	} {
		r := e.do("PATCH", "/collections/employees/e3", hr, body)
		expect(t, r, 403, "FORBIDDEN")
		after := e.raw("employees", "e3")
		if after["tenant_id"] != "t1" || after["name"] != before["name"] || after["updated_at"] != before["updated_at"] {
			t.Fatalf("document not restored: %v", after)
		}
	}
	r := e.do("PUT", "/collections/employees/e3", hr, map[string]any{"tenant_id": "t2", "name": "moved"})
	expect(t, r, 403, "FORBIDDEN")
	if e.raw("employees", "e3")["tenant_id"] != "t1" {
		t.Fatal("PUT moved the document")
	}
	// Delete works within scope.
	r = e.do("DELETE", "/collections/employees/e3", hr, nil)
	expect(t, r, 200, "")
	if d := r.data(t); d["deleted"] != true || d["id"] != "e3" {
		t.Fatalf("delete answer %s", r.Body)
	}
	expect(t, e.do("GET", "/collections/employees/e3", hr, nil), 404, "NOT_FOUND")
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	good := e.user("h1", "t1", "hr")
	revoked := e.keys.Add(principalFor("h1", "t1", "hr"), func(r *keyRecord) { now := r.CreatedAt; r.RevokedAt = &now })
	expired := e.keys.Add(principalFor("h1", "t1", "hr"), func(r *keyRecord) { past := r.CreatedAt.Add(-1); r.ExpiresAt = &past })
	unknown := "pm_0123456789abcdef_" + strings.Repeat("a", 52)

	expect(t, e.do("GET", "/collections/employees", good, nil), 200, "")
	for name, key := range map[string]string{"none": "", "revoked": revoked, "expired": expired, "unknown": unknown, "garbage": "hello"} {
		t.Run(name, func(t *testing.T) {
			r := e.do("GET", "/collections/employees", key, nil)
			expect(t, r, 401, "UNAUTHENTICATED")
			if r.json(t)["request_id"] == "" {
				t.Fatal("no request id in error")
			}
		})
	}
	// Two credentials, or the same header twice, are refused.
	expect(t, e.request("GET", "/collections/employees", good, nil, map[string]string{"Authorization": "Bearer " + good}), 401, "UNAUTHENTICATED")
	req := e.newRequest("GET", "/collections/employees", good, nil, nil)
	req.Header.Add("X-API-Key", good)
	expect(t, e.send(req), 401, "UNAUTHENTICATED")
	// Bearer form works.
	expect(t, e.do("GET", "/collections/employees", "Bearer "+good, nil), 200, "")
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	r := e.request("GET", "/healthz", "", nil, map[string]string{"X-Request-ID": "abc-123"})
	expect(t, r, 200, "")
	if r.Header.Get("X-Request-ID") != "abc-123" {
		t.Fatalf("request id not echoed: %q", r.Header.Get("X-Request-ID"))
	}
	r = e.do("GET", "/collections/employees", "", nil)
	id := r.Header.Get("X-Request-ID")
	if len(id) != 32 || r.json(t)["request_id"] != id {
		t.Fatalf("generated id %q, body %s", id, r.Body)
	}
	// A hostile id is replaced, not echoed.
	if got := e.request("GET", "/healthz", "", nil, map[string]string{"X-Request-ID": "a\"b<script>"}).Header.Get("X-Request-ID"); got == "a\"b<script>" {
		t.Fatal("hostile request id echoed")
	}
}

func TestOperations(t *testing.T) {
	e := newEnv(t)
	expect(t, e.do("GET", "/healthz", "", nil), 200, "")
	expect(t, e.do("GET", "/readyz", "", nil), 200, "")
	hr := e.user("h1", "t1", "hr")
	expect(t, e.do("GET", "/collections/employees", hr, nil), 200, "")
	r := e.do("GET", "/metrics", "", nil)
	expect(t, r, 200, "")
	if !r.has(`pm_http_requests_total{method="GET",route="/collections/:c",status="200"}`) {
		t.Fatalf("metrics lack the request: %s", r.Body)
	}
	if r.has(hr) {
		t.Fatal("metrics leak a key")
	}
	r = e.do("POST", "/explain", hr, map[string]any{"collection": "employees", "action": "read"})
	expect(t, r, 200, "")
	d := r.data(t)
	if d["allowed"] != true || !r.has(`"t1"`) {
		t.Fatalf("explain %s", r.Body)
	}
	expect(t, e.do("POST", "/explain", hr, map[string]any{"collection": "employees", "action": "fly"}), 400, "BAD_REQUEST")
	expect(t, e.do("GET", "/nowhere", "", nil), 404, "NOT_FOUND")
}

// TestFieldRulesPerDocument: each document is shown with the field rules of
// the roles that matched it, never the union over the caller's roles
// (ARCHITECTURE.md, security rule 14).
func TestFieldRulesPerDocument(t *testing.T) {
	e := newEnv(t)
	e.insert("people",
		D("_id", "mine", "owner", "u", "name", "Me", "email", "me@x.io", "salary", 1, "public", false),
		D("_id", "pub", "owner", "v", "name", "Pub", "email", "pub@x.io", "salary", 2, "public", true),
		D("_id", "mine-pub", "owner", "u", "name", "MePub", "email", "mp@x.io", "salary", 3, "public", true),
		D("_id", "hidden", "owner", "v", "name", "No", "public", false),
	)
	u := e.user("u", "", "viewer", "self")
	r := e.do("GET", "/collections/people", u, nil)
	expect(t, r, 200, "")
	byID := map[string]map[string]any{}
	for _, x := range r.list(t) {
		m := x.(map[string]any)
		byID[m["_id"].(string)] = m
	}
	if len(byID) != 3 || byID["hidden"] != nil {
		t.Fatalf("visible: %s", r.Body)
	}
	if byID["mine"]["salary"] != float64(1) || byID["mine"]["email"] != "me@x.io" {
		t.Fatalf("own document not shown in full: %v", byID["mine"])
	}
	if _, ok := byID["pub"]["salary"]; ok || byID["pub"]["email"] == "pub@x.io" || byID["pub"]["name"] != "Pub" {
		t.Fatalf("public document shown beyond the viewer rule: %v", byID["pub"])
	}
	// Matched by both rules: the most generous wins.
	if byID["mine-pub"]["salary"] != float64(3) || byID["mine-pub"]["email"] != "mp@x.io" {
		t.Fatalf("doubly matched document: %v", byID["mine-pub"])
	}
	// salary is hidden under one of the rules that can match: no filtering
	// or sorting on it, though the caller sees it on some documents.
	expect(t, e.do("POST", "/collections/people/find", u, map[string]any{"filter": map[string]any{"salary": 2}}), 403, "FORBIDDEN")
	expect(t, e.do("GET", "/collections/people?sort=salary", u, nil), 403, "FORBIDDEN")
	expect(t, e.do("GET", "/collections/people?sort=name", u, nil), 200, "")
}

// TestRouteNamedIDs: "find" and "count" are POST routes; a document whose
// string id is "find" is still reachable with GET (the router falls back to
// the :id route).
func TestRouteNamedIDs(t *testing.T) {
	e := newEnv(t)
	key := e.user("r", "", "reader")
	e.insert("items", D("_id", "find"))
	r := e.do("GET", "/collections/items/find", key, nil)
	expect(t, r, 200, "")
	if r.data(t)["_id"] != "find" {
		t.Fatalf("got %s", r.Body)
	}
}
