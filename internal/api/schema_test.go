package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/schema"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// schemaPolicy declares a schema on staff; departments are what staff refer
// to, per tenant, with a field (code) hr may not read.
const schemaPolicy = `
version: "1"
roles:
  hr: {}
policies:
  staff:
    hr:
      actions: [create, read, update, delete]
      when: "resource.tenant_id == user.tenant_id"
    presets:
      tenant_id: user.tenant_id
  departments:
    hr:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny: [code]}
schemas:
  staff:
    additional_fields: false
    fields:
      name:      {type: string, required: true, max_length: 20}
      first:     {type: string}
      last:      {type: string}
      email:     {type: string, format: email}
      salary:    {type: number, min: 0, max: 1000000}
      level:     {type: int}
      status:    {type: string, enum: [active, inactive], default: active}
      tenant_id: {type: string, immutable: true}
      badge:     {type: string, immutable: true}
      tags:      {type: array, items: {type: string, min_length: 1}, max_items: 3}
      address:
        type: object
        additional_fields: false
        fields:
          city: {type: string, required: true}
          zip:  {type: string, pattern: "^[0-9]{5}$"}
      site:      {type: string, format: uri}
      hired:     {type: string, format: date-time}
      dept_id:   {type: string, ref: departments}
      dept_code: {type: string, ref: {collection: departments, field: code}}
      dept_any:  {ref: {collection: departments, field: name}}
      full_name: {computed: "(resource.first ?? '') + ' ' + (resource.last ?? '')"}
`

// schemaIndexes declares a unique index on staff. The proxy creates it at
// start; documents without email of one tenant then collide (null), as on
// MongoDB, so only the index test declares it.
const schemaIndexes = `    indexes:
      - {fields: [tenant_id, email], unique: true}
`

type schemaEnv struct {
	*env
	hr, hr2 string
	deptT1  string // a department of tenant t1, hex id
	deptT2  string // a department of tenant t2
}

func newSchemaEnv(t *testing.T) *schemaEnv {
	t.Helper()
	return newSchemaEnvWith(t, schemaPolicy)
}

func newSchemaEnvWith(t *testing.T, policyText string) *schemaEnv {
	t.Helper()
	e := newEnvWithPolicy(t, policyText)
	se := &schemaEnv{env: e, hr: e.user("h1", "t1", "hr"), hr2: e.user("h2", "t2", "hr")}
	d1, d2 := bson.NewObjectID(), bson.NewObjectID()
	e.insert("departments",
		D("_id", d1, "tenant_id", "t1", "name", "Sales", "code", "S1"),
		D("_id", d2, "tenant_id", "t2", "name", "Ops", "code", "O2"))
	se.deptT1, se.deptT2 = d1.Hex(), d2.Hex()
	return se
}

// failures returns the (path, rule) pairs of a 422, sorted.
func failures(t *testing.T, r resp) []string {
	t.Helper()
	expect(t, r, http.StatusUnprocessableEntity, "VALIDATION_FAILED")
	return failureList(t, r.json(t)["error"].(map[string]any))
}

func failureList(t *testing.T, errObj map[string]any) []string {
	t.Helper()
	det, _ := errObj["details"].(map[string]any)
	list, ok := det["errors"].([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("no details.errors in %v", errObj)
	}
	var out []string
	for _, x := range list {
		m := x.(map[string]any)
		if m["message"] == "" {
			t.Fatalf("failure without message: %v", m)
		}
		out = append(out, m["path"].(string)+":"+m["rule"].(string))
	}
	sort.Strings(out)
	return out
}

func (e *schemaEnv) count(filter bson.D) int64 {
	e.t.Helper()
	n, err := e.db.Collection("staff").CountDocuments(e.t.Context(), filter)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *schemaEnv) create(body string) string {
	e.t.Helper()
	r := e.do("POST", "/collections/staff", e.hr, body)
	expect(e.t, r, http.StatusCreated, "")
	return ids(e.t, []any{r.data(e.t)})[0]
}

func TestSchemaCreateAppliesDefaultsAndComputed(t *testing.T) {
	e := newSchemaEnv(t)
	id := e.create(`{"name": "Ann", "first": "Ann", "last": "Lee", "level": 3, "email": "ann@example.org",
		"address": {"city": "Oslo", "zip": "01234"}, "site": "https://example.org/ann", "hired": "2024-01-02T03:04:05Z",
		"dept_id": "` + e.deptT1 + `", "tags": ["a"], "salary": 10.5}`)
	oid, _ := bson.ObjectIDFromHex(id)
	got := e.raw("staff", oid)
	if got["status"] != "active" || got["full_name"] != "Ann Lee" || got["tenant_id"] != "t1" {
		t.Fatalf("defaults/computed/preset not applied: %v", got)
	}
}

func TestSchemaCreateListsEveryFailure(t *testing.T) {
	e := newSchemaEnv(t)
	r := e.do("POST", "/collections/staff", e.hr, `{"name": "a name that is far too long", "email": "not an email",
		"salary": -1, "level": 2.5, "status": "retired", "tags": ["ok", "", "x", "y"],
		"address": {"zip": "12", "floor": 3}, "site": "no scheme", "hired": "yesterday", "bogus": true}`)
	got := failures(t, r)
	want := []string{"address.city:required", "address.floor:additional_fields", "address.zip:pattern", "bogus:additional_fields",
		"email:format", "hired:format", "level:type", "name:max_length", "salary:min", "site:format", "status:enum",
		"tags.1:min_length", "tags:max_items"}
	if !slices.Equal(got, want) {
		t.Fatalf("failures\n got %v\nwant %v", got, want)
	}
	if n := e.count(bson.D{}); n != 0 {
		t.Fatalf("%d documents written by a refused create", n)
	}
	// required, and a wrong type at the top
	got = failures(t, e.do("POST", "/collections/staff", e.hr, `{"name": 5}`))
	if !slices.Equal(got, []string{"name:type"}) {
		t.Fatalf("got %v", got)
	}
	got = failures(t, e.do("POST", "/collections/staff", e.hr, `{"first": "x"}`))
	if !slices.Equal(got, []string{"name:required"}) {
		t.Fatalf("got %v", got)
	}
}

func TestSchemaComputedCannotBeSetByClient(t *testing.T) {
	e := newSchemaEnv(t)
	got := failures(t, e.do("POST", "/collections/staff", e.hr, `{"name": "A", "full_name": "forged"}`))
	if !slices.Equal(got, []string{"full_name:computed"}) {
		t.Fatalf("got %v", got)
	}
	id := e.create(`{"name": "A", "first": "Ann", "last": "Lee"}`)
	oid, _ := bson.ObjectIDFromHex(id)
	for _, body := range []string{
		`{"$set": {"full_name": "forged"}}`,
		`{"full_name": "forged"}`,
		`{"$unset": {"full_name": ""}}`,
		`{"$rename": {"first": "full_name"}}`,
		`{"$set": {"full_name.x": 1}}`,
	} {
		got := failures(t, e.do("PATCH", "/collections/staff/"+id, e.hr, body))
		if !slices.Contains(got, "full_name:computed") {
			t.Fatalf("%s: got %v", body, got)
		}
	}
	r := e.do("PATCH", "/collections/staff/batch", e.hr, map[string]any{"ids": []string{id}, "update": map[string]any{"$set": map[string]any{"full_name": "forged"}}})
	expect(t, r, 200, "")
	if f := r.data(t)["failed"].([]any); len(f) != 1 {
		t.Fatalf("batch update of a computed field not refused: %s", r.Body)
	}
	// PUT: the body's value is replaced by the server's.
	expect(t, e.do("PUT", "/collections/staff/"+id, e.hr, `{"name": "A", "tenant_id": "t1", "first": "Bo", "last": "Lee", "full_name": "forged"}`), 200, "")
	if got := e.raw("staff", oid)["full_name"]; got != "Bo Lee" {
		t.Fatalf("full_name after PUT = %v", got)
	}
	// Updates recompute it.
	expect(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"$set": {"first": "Cy"}}`), 200, "")
	if got := e.raw("staff", oid)["full_name"]; got != "Cy Lee" {
		t.Fatalf("full_name after PATCH = %v", got)
	}
	expect(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"last": "Ma"}`), 200, "")
	if got := e.raw("staff", oid)["full_name"]; got != "Cy Ma" {
		t.Fatalf("full_name after merge patch = %v", got)
	}
}

func TestSchemaImmutable(t *testing.T) {
	e := newSchemaEnv(t)
	id := e.create(`{"name": "A", "badge": "B1"}`)
	oid, _ := bson.ObjectIDFromHex(id)
	before := e.raw("staff", oid)
	for _, body := range []string{
		`{"$set": {"badge": "B2"}}`,
		`{"badge": "B2"}`,
		`{"badge": null}`,
		`{"$unset": {"badge": ""}}`,
		`{"$rename": {"badge": "first"}}`,
	} {
		got := failures(t, e.do("PATCH", "/collections/staff/"+id, e.hr, body))
		if !slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, ":immutable") }) {
			t.Fatalf("%s: got %v", body, got)
		}
		if after := e.raw("staff", oid); after["badge"] != "B1" || after["updated_at"] != before["updated_at"] {
			t.Fatalf("%s: refused update left %v", body, after)
		}
	}
	// PUT changing it, or leaving it out, is a change.
	for _, body := range []string{`{"name": "A", "tenant_id": "t1", "badge": "B2"}`, `{"name": "A", "tenant_id": "t1"}`} {
		got := failures(t, e.do("PUT", "/collections/staff/"+id, e.hr, body))
		if !slices.Contains(got, "badge:immutable") {
			t.Fatalf("PUT %s: got %v", body, got)
		}
	}
	r := e.do("PATCH", "/collections/staff/batch", e.hr, map[string]any{"ids": []string{id}, "update": map[string]any{"$set": map[string]any{"badge": "B3"}}})
	expect(t, r, 200, "")
	f := r.data(t)["failed"].([]any)
	if len(f) != 1 || f[0].(map[string]any)["error"].(map[string]any)["code"] != "VALIDATION_FAILED" {
		t.Fatalf("batch update of an immutable field: %s", r.Body)
	}
	if e.raw("staff", oid)["badge"] != "B1" {
		t.Fatal("batch changed an immutable field")
	}
	// Same value is no change; another field may change.
	expect(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"$set": {"badge": "B1", "first": "x"}}`), 200, "")
	// A field absent on create stays absent.
	id2 := e.create(`{"name": "B"}`)
	got := failures(t, e.do("PATCH", "/collections/staff/"+id2, e.hr, `{"$set": {"badge": "late"}}`))
	if !slices.Equal(got, []string{"badge:immutable"}) {
		t.Fatalf("got %v", got)
	}
}

func TestSchemaUpdatePostImage(t *testing.T) {
	e := newSchemaEnv(t)
	id := e.create(`{"name": "A", "salary": 999999, "tags": ["a", "b", "c"]}`)
	oid, _ := bson.ObjectIDFromHex(id)
	before := e.raw("staff", oid)
	for body, want := range map[string]string{
		`{"$set": {"salary": -5}}`:                "salary:min",
		`{"$inc": {"salary": 10}}`:                "salary:max",
		`{"$mul": {"salary": -1}}`:                "salary:min",
		`{"name": "a name that is far too long"}`: "name:max_length",
		`{"$push": {"tags": "d"}}`:                "tags:max_items",
		`{"$set": {"tags.1": ""}}`:                "tags.1:min_length",
		`{"$unset": {"name": ""}}`:                "name:required",
		`{"$set": {"extra": 1}}`:                  "extra:additional_fields",
		`{"$set": {"status": "gone"}}`:            "status:enum",
		`{"$set": {"address": {"zip": "1"}}}`:     "address.city:required",
		`{"$currentDate": {"hired": true}}`:       "hired:type",
		`{"$set": {"level": "x"}}`:                "level:type",
		`{"$rename": {"name": "nick"}}`:           "nick:additional_fields",
	} {
		got := failures(t, e.do("PATCH", "/collections/staff/"+id, e.hr, body))
		if !slices.Contains(got, want) {
			t.Fatalf("%s: got %v, want %s", body, got, want)
		}
		after := e.raw("staff", oid)
		if after["updated_at"] != before["updated_at"] || after["salary"] != before["salary"] {
			t.Fatalf("%s: refused update was not undone: %v", body, after)
		}
	}
	// The same rules apply to PUT.
	got := failures(t, e.do("PUT", "/collections/staff/"+id, e.hr, `{"name": "A", "tenant_id": "t1", "salary": "lots", "tags": []}`))
	if !slices.Equal(got, []string{"salary:type"}) {
		t.Fatalf("PUT: got %v", got)
	}
	// A valid update passes.
	expect(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"$inc": {"salary": 1}}`), 200, "")
}

func TestSchemaRefNoOracle(t *testing.T) {
	e := newSchemaEnv(t)
	e.create(`{"name": "A", "dept_id": "` + e.deptT1 + `"}`)
	// Another tenant's department and one that does not exist answer alike.
	other := e.do("POST", "/collections/staff", e.hr, `{"name": "A", "dept_id": "`+e.deptT2+`"}`)
	missing := e.do("POST", "/collections/staff", e.hr, `{"name": "A", "dept_id": "`+bson.NewObjectID().Hex()+`"}`)
	if g := failures(t, other); !slices.Equal(g, []string{"dept_id:ref"}) {
		t.Fatalf("other tenant: %v", g)
	}
	failures(t, missing)
	if strip(other.Body) != strip(missing.Body) {
		t.Fatalf("a ref to another tenant's document answers differently from a missing one:\n%s\n%s", other.Body, missing.Body)
	}
	// A ref without a type still names one document: a regex, a list or
	// an object matches nothing.
	for _, v := range []string{`{"$regularExpression": {"pattern": ".*", "options": ""}}`, `["Sales"]`, `{"x": 1}`} {
		if g := failures(t, e.do("POST", "/collections/staff", e.hr, `{"name": "A", "dept_any": `+v+`}`)); !slices.Equal(g, []string{"dept_any:ref"}) {
			t.Fatalf("dept_any %s: %v", v, g)
		}
	}
	expect(t, e.do("POST", "/collections/staff", e.hr, `{"name": "A", "dept_any": "Sales"}`), 201, "")
	// The other tenant's caller can use its own.
	expect(t, e.do("POST", "/collections/staff", e.hr2, `{"name": "B", "dept_id": "`+e.deptT2+`"}`), 201, "")
	// A ref by a field the caller may not read is refused even when it
	// matches: looking values up by it would reveal them.
	if g := failures(t, e.do("POST", "/collections/staff", e.hr, `{"name": "A", "dept_code": "S1"}`)); !slices.Equal(g, []string{"dept_code:ref"}) {
		t.Fatalf("hidden ref field: %v", g)
	}
	// Changing a ref to another tenant's document through an update is
	// refused and undone.
	id := e.create(`{"name": "C"}`)
	failures(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"$set": {"dept_id": "`+e.deptT2+`"}}`))
	oid, _ := bson.ObjectIDFromHex(id)
	if _, ok := e.raw("staff", oid)["dept_id"]; ok {
		t.Fatal("refused ref update was stored")
	}
	// An unrelated update does not re-check an existing ref.
	expect(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"$set": {"dept_id": "`+e.deptT1+`"}}`), 200, "")
	if _, err := e.db.Collection("departments").DeleteMany(t.Context(), bson.D{}); err != nil {
		t.Fatal(err)
	}
	expect(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"$set": {"first": "x"}}`), 200, "")
}

// strip removes the request id, which differs per request.
func strip(b []byte) string {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "request_id")
	out, _ := json.Marshal(m)
	return string(out)
}

func TestSchemaBatchAndImport(t *testing.T) {
	e := newSchemaEnv(t)
	r := e.do("POST", "/collections/staff/batch", e.hr, `{"documents": [{"name": "ok"}, {"name": 1, "bogus": 2}, {"name": "x", "full_name": "f"}]}`)
	expect(t, r, 200, "")
	d := r.data(t)
	if len(d["created"].([]any)) != 1 {
		t.Fatalf("batch: %s", r.Body)
	}
	failed := d["failed"].([]any)
	if len(failed) != 2 {
		t.Fatalf("batch: %s", r.Body)
	}
	if g := failureList(t, failed[0].(map[string]any)["error"].(map[string]any)); !slices.Equal(g, []string{"bogus:additional_fields", "name:type"}) {
		t.Fatalf("batch item 1: %v", g)
	}
	if g := failureList(t, failed[1].(map[string]any)["error"].(map[string]any)); !slices.Equal(g, []string{"full_name:computed"}) {
		t.Fatalf("batch item 2: %v", g)
	}
	ir := e.doCT("POST", "/collections/staff/import", e.hr, "{\"name\": \"i1\"}\n{\"name\": \"i2\", \"salary\": -1}\n{\"name\": \"i3\", \"dept_id\": \""+e.deptT2+"\"}\n", "application/x-ndjson")
	expect(t, ir, 200, "")
	id := ir.data(t)
	if id["inserted"].(float64) != 1 || len(id["failed"].([]any)) != 2 {
		t.Fatalf("import: %s", ir.Body)
	}
	for _, f := range id["failed"].([]any) {
		if c := f.(map[string]any)["error"].(map[string]any)["code"]; c != "VALIDATION_FAILED" {
			t.Fatalf("import failure code %v: %s", c, ir.Body)
		}
	}
	if n := e.count(bson.D{}); n != 2 {
		t.Fatalf("%d documents stored, want 2", n)
	}
}

func TestSchemaIndexesCreated(t *testing.T) {
	e := newSchemaEnvWith(t, schemaPolicy+schemaIndexes) // the proxy's start created them
	set := e.svc.Policies()
	ctx := t.Context()
	// Idempotent: a restart does it again.
	if err := schema.EnsureIndexes(ctx, store.NewDatabase(e.db), set.Schemas); err != nil {
		t.Fatal(err)
	}
	specs, err := e.db.Collection("staff").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range specs {
		if s.Name == "pm_schema_tenant_id_1_email_1" && s.Unique != nil && *s.Unique {
			found = true
		}
	}
	if !found {
		t.Fatalf("declared index missing: %+v", specs)
	}
	e.create(`{"name": "A", "email": "a@example.org"}`)
	expect(t, e.do("POST", "/collections/staff", e.hr, `{"name": "B", "email": "a@example.org"}`), 409, "CONFLICT")
	expect(t, e.do("POST", "/collections/staff", e.hr2, `{"name": "B", "email": "a@example.org"}`), 201, "")
}

// Restoring a version goes through the schema too: computed fields are
// recomputed, and a version that today's schema refuses is not restored.
func TestSchemaOnRestore(t *testing.T) {
	src := `version: "1"
roles: {archivist: {}}
policies:
  docs:
    archivist: {actions: [create, read, update, delete, restore]}
schemas:
  docs:
    fields:
      title: {type: string, max_length: 5}
      badge: {type: string, immutable: true}
      shout: {computed: "upper(resource.title ?? '')"}
`
	e := newAuditEnvWith(t, writePolicy(t, src), []string{"docs"})
	a := e.user("a1", "t1", "archivist")
	// Stored before the schema existed: a title too long.
	e.insert("docs", D("_id", "old", "title", "far too long", "badge", "B"))
	expect(t, e.req("PATCH", "/collections/docs/old", a, "", map[string]any{"title": "ok"}), 200, "")
	if got := e.raw("docs", "old")["shout"]; got != "OK" {
		t.Fatalf("shout = %v", got)
	}
	// Version 1 (the long title) cannot be brought back.
	r := e.req("POST", "/collections/docs/old/versions/1/restore", a, "", nil)
	expect(t, r, 422, "VALIDATION_FAILED")
	if got := e.raw("docs", "old")["title"]; got != "ok" {
		t.Fatalf("refused restore changed the document: %v", got)
	}
	// Deleted, then restored: the computed field is recomputed.
	expect(t, e.req("DELETE", "/collections/docs/old", a, "", nil), 200, "")
	expect(t, e.req("POST", "/collections/docs/old/versions/2/restore", a, "", nil), 200, "")
	if got := e.raw("docs", "old"); got["title"] != "ok" || got["shout"] != "OK" || got["badge"] != "B" {
		t.Fatalf("restored %v", got)
	}
}
