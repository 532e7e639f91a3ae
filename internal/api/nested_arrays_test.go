package api_test

import (
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

const nestedPolicy = `
version: "1"
roles:
  member: {}
policies:
  boards:
    member:
      actions: [create, read, update, aggregate]
      fields:
        deny: [grid.secret]
        deny_write: [grid.locked]
        mask: {grid.email: email}
defaults:
  deny_unlisted_collections: true
`

// nestedGrid is an array holding arrays of documents (at two depths), a
// document and a scalar: every place a rule on grid.secret must reach.
func nestedGrid() bson.A {
	return bson.A{
		bson.A{D("secret", "S1-hidden", "email", "ann.private@example.com", "name", "n1", "locked", 1)},
		D("secret", "S2-hidden", "email", "bob.private@example.com", "name", "n2"),
		bson.A{bson.A{D("secret", "S3-hidden", "email", "cy.private@example.com", "name", "n3")}},
		"plain",
	}
}

var nestedSecrets = []string{"S1-hidden", "S2-hidden", "S3-hidden", "ann.private", "bob.private", "cy.private"}

func requireNoSecrets(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, s := range nestedSecrets {
		if strings.Contains(string(body), s) {
			t.Fatalf("%s shows %q: %s", what, s, body)
		}
	}
}

// Field rules apply inside arrays of arrays at any depth (ARCHITECTURE.md,
// security rule 19): reads, projections, aggregations, filters, PATCH and PUT.
func TestAttackFieldRulesInsideArraysOfArrays(t *testing.T) {
	e := newEnvWith(t, nestedPolicy)
	ann := e.user("ann", "t1", "member")
	if _, err := e.db.Collection("boards").InsertOne(t.Context(), D("_id", "b1", "grid", nestedGrid())); err != nil {
		// FerretDB v1 cannot store arrays of arrays. A client that tries
		// must get a 4xx, never a 5xx.
		r := e.do("POST", "/collections/boards", ann, map[string]any{"other": []any{[]any{map[string]any{"name": "x"}}}})
		if r.Status != 400 {
			t.Fatalf("create with nested arrays on a backend that refuses them: %d %s", r.Status, r.Body)
		}
		t.Logf("create: %d %s", r.Status, r.Body)
		t.Skipf("capability nested_arrays missing on backend %s (it refuses to store arrays of arrays); creating one answers %d", testenv.Backend(), r.Status)
	}
	before := e.raw("boards", "b1")

	// Reads: GET, find, find with a projection.
	r := e.do("GET", "/collections/boards/b1", ann, nil)
	expect(t, r, 200, "")
	requireNoSecrets(t, "GET", r.Body)
	grid := r.data(t)["grid"].([]any)
	if len(grid) != 4 {
		t.Fatalf("grid: %v", grid)
	}
	inner := grid[0].([]any)[0].(map[string]any)
	if inner["name"] != "n1" || inner["email"] != "a**********@example.com" || inner["secret"] != nil {
		t.Fatalf("grid[0][0] = %v", inner)
	}
	deep := grid[2].([]any)[0].([]any)[0].(map[string]any)
	if deep["name"] != "n3" || deep["email"] != "c*********@example.com" || deep["secret"] != nil {
		t.Fatalf("grid[2][0][0] = %v", deep)
	}
	if grid[3] != "plain" {
		t.Fatalf("grid[3] = %v", grid[3])
	}
	r = e.do("POST", "/collections/boards/find", ann, `{}`)
	expect(t, r, 200, "")
	requireNoSecrets(t, "find", r.Body)
	r = e.do("GET", "/collections/boards?fields=grid.secret,grid.email,grid.name", ann, nil)
	expect(t, r, 200, "")
	requireNoSecrets(t, "find with fields", r.Body)
	if !r.has(`"n3"`) {
		t.Fatalf("projection lost the visible deep field: %s", r.Body)
	}

	// Aggregation: the stripping stages reach into arrays of arrays.
	r = e.do("POST", "/collections/boards/aggregate", ann, `{"pipeline": [{"$limit": 5}]}`)
	expect(t, r, 200, "")
	requireNoSecrets(t, "aggregate", r.Body)
	if !r.has(`"n3"`) {
		t.Fatalf("aggregate lost the visible deep field: %s", r.Body)
	}

	// Filters and sorts naming the hidden or masked field through indexes.
	for _, f := range []string{`{"grid.secret": "S1-hidden"}`, `{"grid.0.0.secret": "S1-hidden"}`,
		`{"grid.2.0.0.email": {"$regex": "^cy"}}`, `{"grid": {"$elemMatch": {"$elemMatch": {"secret": "S1-hidden"}}}}`} {
		expect(t, e.do("POST", "/collections/boards/find", ann, `{"filter": `+f+`}`), 403, "FORBIDDEN")
	}

	// Writes below the rules through any nesting.
	for _, u := range []string{
		`{"$set": {"grid.0.0.locked": 2}}`,
		`{"$set": {"grid.$[].$[].locked": 2}}`,
		`{"$set": {"grid.0.0.secret.0": "x"}}`,
		`{"$set": {"grid.2.0.0.email.0": "x"}}`,
		`{"$set": {"grid.0": [{"name": "replaced"}]}}`,
		`{"$set": {"grid": [[{"locked": 5}]]}}`,
		`{"$unset": {"grid.0.0.locked": ""}}`,
	} {
		expect(t, e.do("PATCH", "/collections/boards/b1", ann, u), 403, "FORBIDDEN")
	}
	if got := e.raw("boards", "b1"); !reflect.DeepEqual(got, before) {
		t.Fatalf("refused writes changed the document:\n%v\n%v", before, got)
	}

	// PUT of what was read keeps every hidden, masked and protected value
	// below the arrays as stored.
	r = e.do("GET", "/collections/boards/b1", ann, nil)
	body := r.data(t)
	delete(body, "updated_at")
	expect(t, e.do("PUT", "/collections/boards/b1", ann, body), 200, "")
	if got := e.raw("boards", "b1")["grid"]; !reflect.DeepEqual(got, before["grid"]) {
		t.Fatalf("PUT round trip changed grid:\n%v\n%v", before["grid"], got)
	}

	// A visible field deep inside stays writable.
	expect(t, e.do("PATCH", "/collections/boards/b1", ann, `{"$set": {"grid.2.0.0.name": "m3"}}`), 200, "")
	got := e.raw("boards", "b1")["grid"].(bson.A)[2].(bson.A)[0].(bson.A)[0].(bson.D)
	if v, _ := lookupD(got, "name"); v != "m3" {
		t.Fatalf("deep visible write: %v", got)
	}
	if v, _ := lookupD(got, "secret"); v != "S3-hidden" {
		t.Fatalf("deep hidden value changed: %v", got)
	}
}

func lookupD(d bson.D, k string) (any, bool) {
	for _, x := range d {
		if x.Key == k {
			return x.Value, true
		}
	}
	return nil, false
}

// A GET-then-PUT round trip keeps hidden and masked sub-fields of
// documents inside an array (one level: every engine stores it), and a PUT
// cannot change them by sending new elements. No deny_write is involved:
// the fields are protected only because the caller cannot read them.
func TestAttackPutKeepsRulesBelowArrays(t *testing.T) {
	e := newEnvWith(t, `
version: "1"
roles:
  member: {}
policies:
  carts:
    member:
      actions: [read, update]
      fields:
        deny: [items.secret]
        mask: {items.email: email}
defaults:
  deny_unlisted_collections: true
`)
	ann := e.user("ann", "t1", "member")
	e.insert("carts", D("_id", "c1", "name", "A",
		"items", bson.A{D("sku", "a", "secret", "S-hidden", "email", "ann.private@example.com"), D("sku", "b", "secret", "T-hidden")}))
	before := e.raw("carts", "c1")

	r := e.do("GET", "/collections/carts/c1", ann, nil)
	expect(t, r, 200, "")
	if r.has("-hidden") || r.has("ann.private") {
		t.Fatalf("GET shows a hidden or masked value: %s", r.Body)
	}
	body := r.data(t)
	expect(t, e.do("PUT", "/collections/carts/c1", ann, body), 200, "")
	if got := e.raw("carts", "c1")["items"]; !reflect.DeepEqual(got, before["items"]) {
		t.Fatalf("PUT round trip changed items:\n%v\n%v", before["items"], got)
	}

	body["items"] = []any{map[string]any{"sku": "x", "secret": "forged", "email": "forged@example.com"}}
	body["name"] = "B"
	expect(t, e.do("PUT", "/collections/carts/c1", ann, body), 200, "")
	after := e.raw("carts", "c1")
	if !reflect.DeepEqual(after["items"], before["items"]) {
		t.Fatalf("PUT wrote below the array:\n%v\n%v", before["items"], after["items"])
	}
	if after["name"] != "B" {
		t.Fatalf("the rest of the PUT was not applied: %v", after)
	}
}
