package api_test

import (
	"testing"
)

func TestBatchCreate(t *testing.T) {
	e := newEnv(t)
	hr := e.user("h1", "t1", "hr")
	r := e.do("POST", "/collections/employees/batch", hr, `{"documents": [
		{"_id": "b1", "name": "ok"},
		{"_id": "b2", "tenant_id": "t2"},
		{"_id": "b3", "created_by": "me"},
		{"_id": "b1", "name": "duplicate"},
		{"_id": "b4", "name": "ok too"}
	]}`)
	expect(t, r, 200, "")
	d := r.data(t)
	if got := d["created"].([]any); len(got) != 2 || got[0] != "b1" || got[1] != "b4" {
		t.Fatalf("created %v", got)
	}
	want := map[float64]string{1: "FORBIDDEN", 2: "BAD_REQUEST", 3: "CONFLICT"}
	failed := d["failed"].([]any)
	if len(failed) != len(want) {
		t.Fatalf("failed %v", failed)
	}
	for _, f := range failed {
		m := f.(map[string]any)
		if code := m["error"].(map[string]any)["code"]; code != want[m["index"].(float64)] {
			t.Fatalf("item %v: %v", m["index"], code)
		}
	}
	if e.raw("employees", "b1")["tenant_id"] != "t1" {
		t.Fatal("preset not applied in batch")
	}
	// Over the batch limit → 413; not granted → 403.
	docs := make([]map[string]any, testMaxBatch+1)
	for i := range docs {
		docs[i] = map[string]any{"n": i}
	}
	expect(t, e.do("POST", "/collections/employees/batch", hr, map[string]any{"documents": docs}), 413, "PAYLOAD_TOO_LARGE")
	alice := e.user("alice", "t1", "employee")
	expect(t, e.do("POST", "/collections/employees/batch", alice, map[string]any{"documents": docs[:1]}), 403, "FORBIDDEN")
}

func TestBatchUpdateAndDelete(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	alice := e.user("alice", "t1", "employee")
	hr := e.user("h1", "t1", "hr")

	// deny_write anywhere in the update refuses the whole request.
	r := e.do("PATCH", "/collections/employees/batch", alice, map[string]any{"ids": []string{"e1", "e2"}, "update": map[string]any{"$inc": map[string]any{"salary": 1}}})
	expect(t, r, 403, "FORBIDDEN")
	// Out-of-scope documents are skipped: alice may update e1 and e2 only.
	r = e.do("PATCH", "/collections/employees/batch", alice, map[string]any{"ids": []string{"e1", "e2", "e3", "e4"}, "update": map[string]any{"$set": map[string]any{"nick": "x"}}})
	expect(t, r, 200, "")
	d := r.data(t)
	if d["matched"] != float64(2) || d["modified"] != float64(2) {
		t.Fatalf("batch update %s", r.Body)
	}
	if e.raw("employees", "e3")["nick"] != nil || e.raw("employees", "e4")["nick"] != nil {
		t.Fatal("out-of-scope documents touched")
	}
	// A filter on a hidden field is refused like in find.
	expect(t, e.do("PATCH", "/collections/employees/batch", alice, map[string]any{"filter": map[string]any{"ssn": "1"}, "update": map[string]any{"nick": "y"}}), 403, "FORBIDDEN")
	// Moving documents to another tenant fails per document and is undone.
	r = e.do("PATCH", "/collections/employees/batch", hr, map[string]any{"filter": map[string]any{}, "update": map[string]any{"tenant_id": "t2"}})
	expect(t, r, 200, "")
	d = r.data(t)
	if d["matched"] != float64(3) || d["modified"] != float64(0) || len(d["failed"].([]any)) != 3 {
		t.Fatalf("batch move %s", r.Body)
	}
	for _, id := range []string{"e1", "e2", "e3"} {
		if e.raw("employees", id)["tenant_id"] != "t1" {
			t.Fatalf("%s moved", id)
		}
	}
	// Neither ids nor filter, or both → 400.
	expect(t, e.do("PATCH", "/collections/employees/batch", hr, map[string]any{"update": map[string]any{"a": 1}}), 400, "BAD_REQUEST")
	expect(t, e.do("POST", "/collections/employees/batch/delete", hr, map[string]any{"ids": []string{"e1"}, "filter": map[string]any{}}), 400, "BAD_REQUEST")

	// Delete: only in scope.
	r = e.do("POST", "/collections/employees/batch/delete", hr, map[string]any{"ids": []string{"e3", "e4"}})
	expect(t, r, 200, "")
	if r.data(t)["deleted"] != float64(1) {
		t.Fatalf("batch delete %s", r.Body)
	}
	e.raw("employees", "e4") // still there
	r = e.do("DELETE", "/collections/employees/batch", hr, map[string]any{"filter": map[string]any{"public": true}})
	expect(t, r, 200, "")
	if r.data(t)["deleted"] != float64(1) {
		t.Fatalf("batch delete by filter %s", r.Body)
	}
	expect(t, e.do("POST", "/collections/employees/batch/delete", alice, map[string]any{"ids": []string{"e1"}}), 403, "FORBIDDEN")
}

// TestBatchCreateItemsThatAreNotObjects: every item is checked on its own; a
// string, number, array or null among the documents is reported by index and
// the good items are still written.
func TestBatchCreateItemsThatAreNotObjects(t *testing.T) {
	e := newEnv(t)
	hr := e.user("h1", "t1", "hr")
	r := e.do("POST", "/collections/employees/batch", hr, `{"documents": [
		{"_id": "n1", "name": "ok"},
		"not a document",
		42,
		[{"_id": "n9"}],
		null,
		{"_id": "n2", "name": "ok too"}
	]}`)
	expect(t, r, 200, "")
	d := r.data(t)
	if got := d["created"].([]any); len(got) != 2 || got[0] != "n1" || got[1] != "n2" {
		t.Fatalf("created %v: %s", got, r.Body)
	}
	failed := d["failed"].([]any)
	if len(failed) != 4 {
		t.Fatalf("failed %v", failed)
	}
	for k, f := range failed {
		m := f.(map[string]any)
		if m["index"].(float64) != float64(k+1) {
			t.Fatalf("failed item %d has index %v, want %d: %s", k, m["index"], k+1, r.Body)
		}
		er := m["error"].(map[string]any)
		if er["code"] != "BAD_REQUEST" || er["message"] == "" {
			t.Fatalf("item %v: %v", m["index"], er)
		}
	}
	for _, id := range []string{"n1", "n2"} {
		if e.raw("employees", id)["tenant_id"] != "t1" {
			t.Fatalf("%s not written with its preset", id)
		}
	}
	n, err := e.db.Collection("employees").CountDocuments(t.Context(), D())
	if err != nil || n != 2 {
		t.Fatalf("%d documents stored (%v), want 2", n, err)
	}
	// Only non-objects: nothing written, each reported.
	r = e.do("POST", "/collections/employees/batch", hr, `{"documents": [1, "x"]}`)
	expect(t, r, 200, "")
	if len(r.data(t)["created"].([]any)) != 0 || len(r.data(t)["failed"].([]any)) != 2 {
		t.Fatalf("%s", r.Body)
	}
	// The body itself must still be an object with a documents array.
	expect(t, e.do("POST", "/collections/employees/batch", hr, `{"documents": {"a": 1}}`), 400, "BAD_REQUEST")
}
