package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/app"
)

// startExampleServer runs the proxy on the example policies of policies/,
// with one bootstrap key per principal given.
func startExampleServer(t *testing.T, keys ...testKey) (string, map[string]string) {
	t.Helper()
	pol, err := filepath.Abs("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	c, full := loadTestConfig(t, t.TempDir(), "listen: 127.0.0.1:0\npolicies: "+pol+"\nmongodb: {uri: embedded, embedded_dir: data, database: app}\n", "", keys)
	_, url := serveApp(t, c, app.Options{})
	return url, full
}

// The example invoices collection: a tenant admin creates invoices (the
// tenant is stamped by the server, and may be echoed), cannot create one in
// another tenant, and an auditor reads but cannot create. A document outside
// the caller's scope is refused as such, not by naming an unrelated field.
func TestExampleInvoicesAdminCanCreate(t *testing.T) {
	url, keys := startExampleServer(t,
		testKey{"ada", "ada", "t1", []string{"admin"}},
		testKey{"otto", "otto", "t1", []string{"auditor"}})
	for _, body := range []string{`{"_id": "inv1", "amount": 129.5}`, `{"_id": "inv2", "amount": 1, "tenant_id": "t1"}`} {
		st, _, m := call(t, "POST", url+"/collections/invoices", keys["ada"], body)
		if st != 201 {
			t.Fatalf("admin create %s: %d %v", body, st, m)
		}
		if d, _ := m["data"].(map[string]any); d["tenant_id"] != "t1" {
			t.Fatalf("admin create %s: %v", body, m)
		}
	}
	st, _, m := call(t, "POST", url+"/collections/invoices", keys["ada"], `{"_id": "inv3", "amount": 1, "tenant_id": "t2"}`)
	if e, _ := m["error"].(map[string]any); st != 403 || e["details"].(map[string]any)["field"] != "tenant_id" {
		t.Fatalf("admin create in another tenant: %d %v", st, m)
	}
	st, _, m = call(t, "POST", url+"/collections/invoices", keys["otto"], `{"_id": "inv4", "amount": 1}`)
	if st != 403 {
		t.Fatalf("auditor create: %d %v", st, m)
	}
	if st, _, m := call(t, "GET", url+"/collections/invoices/inv1", keys["otto"], ""); st != 200 {
		t.Fatalf("auditor read: %d %v", st, m)
	}
}

// A create that no rule's condition admits is refused as out of scope; the
// message does not blame a field the caller was free to write.
func TestCreateOutOfScopeNamesNoField(t *testing.T) {
	pol := `
version: "1"
roles: {admin: {}}
policies:
  things:
    admin:
      actions: [create, read]
      when: resource.tenant_id == user.tenant_id
      fields: {deny_write: [tenant_id]}
`
	ts := startTestServer(t, pol, testKey{"ada", "ada", "t1", []string{"admin"}})
	st, _, m := call(t, "POST", ts.url+"/collections/things", ts.keys["ada"], `{"amount": 1}`)
	e, _ := m["error"].(map[string]any)
	if st != 403 || strings.Contains(e["message"].(string), "amount") || !strings.Contains(e["message"].(string), "scope") {
		t.Fatalf("out-of-scope create: %d %v", st, m)
	}
}
