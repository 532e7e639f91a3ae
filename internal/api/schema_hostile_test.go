package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSchemaRefToOtherTenantOnEveryWritePath: a ref to another tenant's
// document is refused on every way a document can be written, answers as a
// missing document does, and stores nothing.
func TestSchemaRefToOtherTenantOnEveryWritePath(t *testing.T) {
	e := newSchemaEnv(t)
	id := e.create(`{"name": "A", "dept_id": "` + e.deptT1 + `"}`)
	oid, _ := bson.ObjectIDFromHex(id)
	missing := bson.NewObjectID().Hex()

	// PUT, with the other tenant's department and with a missing one: the
	// same answer, and the stored document unchanged.
	put := func(dept string) resp {
		return e.do("PUT", "/collections/staff/"+id, e.hr, `{"name": "A", "tenant_id": "t1", "dept_id": "`+dept+`"}`)
	}
	other, none := put(e.deptT2), put(missing)
	if g := failures(t, other); !slices.Equal(g, []string{"dept_id:ref"}) {
		t.Fatalf("PUT: %v", g)
	}
	failures(t, none)
	if strip(other.Body) != strip(none.Body) {
		t.Fatalf("PUT: another tenant's document answers differently from a missing one:\n%s\n%s", other.Body, none.Body)
	}
	if got := e.raw("staff", oid)["dept_id"]; got != e.deptT1 {
		t.Fatalf("refused PUT stored dept_id %v", got)
	}

	// Merge patch form.
	if g := failures(t, e.do("PATCH", "/collections/staff/"+id, e.hr, `{"dept_id": "`+e.deptT2+`"}`)); !slices.Equal(g, []string{"dept_id:ref"}) {
		t.Fatalf("merge patch: %v", g)
	}

	// Batch update: the item fails with the ref failure, nothing changes.
	r := e.do("PATCH", "/collections/staff/batch", e.hr, map[string]any{"ids": []string{id}, "update": map[string]any{"$set": map[string]any{"dept_id": e.deptT2}}})
	expect(t, r, 200, "")
	f := r.data(t)["failed"].([]any)
	if len(f) != 1 || !slices.Equal(failureList(t, f[0].(map[string]any)["error"].(map[string]any)), []string{"dept_id:ref"}) {
		t.Fatalf("batch update with another tenant's ref: %s", r.Body)
	}
	if got := e.raw("staff", oid)["dept_id"]; got != e.deptT1 {
		t.Fatalf("refused batch update stored dept_id %v", got)
	}

	// Batch create: the item with the other tenant's ref fails, the other
	// is created.
	r = e.do("POST", "/collections/staff/batch", e.hr, `{"documents": [{"name": "ok", "dept_id": "`+e.deptT1+`"}, {"name": "bad", "dept_id": "`+e.deptT2+`"}]}`)
	expect(t, r, 200, "")
	d := r.data(t)
	if len(d["created"].([]any)) != 1 || len(d["failed"].([]any)) != 1 {
		t.Fatalf("batch create: %s", r.Body)
	}
	if g := failureList(t, d["failed"].([]any)[0].(map[string]any)["error"].(map[string]any)); !slices.Equal(g, []string{"dept_id:ref"}) {
		t.Fatalf("batch create item: %v", g)
	}
	if n := e.count(bson.D{{Key: "dept_id", Value: e.deptT2}}); n != 0 {
		t.Fatalf("%d documents stored with another tenant's ref", n)
	}
}

// TestSchemaComputedSetByClientInImport: an imported line that sets a
// computed field fails like a create does; the others are imported with the
// server's value.
func TestSchemaComputedSetByClientInImport(t *testing.T) {
	e := newSchemaEnv(t)
	req, _ := http.NewRequest("POST", e.srv.URL+"/collections/staff/import",
		strings.NewReader("{\"name\": \"i1\", \"first\": \"An\", \"last\": \"Li\"}\n{\"name\": \"i2\", \"full_name\": \"forged\"}\n"))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("X-API-Key", e.hr)
	r := e.send(req)
	expect(t, r, 200, "")
	d := r.data(t)
	if d["inserted"].(float64) != 1 || len(d["failed"].([]any)) != 1 {
		t.Fatalf("import: %s", r.Body)
	}
	if g := failureList(t, d["failed"].([]any)[0].(map[string]any)["error"].(map[string]any)); !slices.Equal(g, []string{"full_name:computed"}) {
		t.Fatalf("import failure: %v", g)
	}
	if n := e.count(bson.D{{Key: "full_name", Value: "forged"}}); n != 0 {
		t.Fatal("a client's value of a computed field was stored")
	}
	if n := e.count(bson.D{{Key: "full_name", Value: "An Li"}}); n != 1 {
		t.Fatal("the imported document has no computed value")
	}
}
