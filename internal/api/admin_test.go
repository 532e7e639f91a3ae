package api_test

import (
	"strings"
	"testing"
)

func TestAPIKeyLifecycle(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	admin := e.user("root", "t1", "admin")
	hr := e.user("h1", "t1", "hr")

	// Only holders of api_keys.manage.
	expect(t, e.do("GET", "/admin/api-keys", hr, nil), 403, "FORBIDDEN")
	expect(t, e.do("GET", "/admin/api-keys", "", nil), 401, "UNAUTHENTICATED")

	r := e.do("POST", "/admin/api-keys", admin, map[string]any{
		"name": "ci", "principal": map[string]any{"id": "bot", "roles": []string{"hr"}}, "expires_in": "1h"})
	expect(t, r, 201, "")
	d := r.data(t)
	key, _ := d["key"].(string)
	if !strings.HasPrefix(key, "pm_") || d["id"] == "" || d["expires_at"] == nil {
		t.Fatalf("created %s", r.Body)
	}
	if d["principal"].(map[string]any)["tenant_id"] != "t1" {
		t.Fatalf("tenant not defaulted to the caller's: %s", r.Body)
	}
	// The new key works and is the principal it says.
	r = e.do("GET", "/collections/employees", key, nil)
	expect(t, r, 200, "")
	if n := len(r.list(t)); n != 3 {
		t.Fatalf("new key sees %d docs", n)
	}
	// Listed without secret or hash.
	r = e.do("GET", "/admin/api-keys", admin, nil)
	expect(t, r, 200, "")
	if r.has(key[len(key)-20:]) || r.has("sha256") {
		t.Fatalf("list leaks secrets: %s", r.Body)
	}
	if len(r.list(t)) != 1 {
		t.Fatalf("list %s", r.Body)
	}
	// Revoked keys stop working at once; revoking again is fine.
	id := d["id"].(string)
	expect(t, e.do("DELETE", "/admin/api-keys/"+id, admin, nil), 200, "")
	expect(t, e.do("DELETE", "/admin/api-keys/"+id, admin, nil), 200, "")
	expect(t, e.do("GET", "/collections/employees", key, nil), 401, "UNAUTHENTICATED")
	expect(t, e.do("DELETE", "/admin/api-keys/0123456789abcdef", admin, nil), 404, "NOT_FOUND")

	// No escalation: other tenant, undeclared role, or a system permission
	// the caller lacks.
	for name, body := range map[string]map[string]any{
		"other tenant": {"name": "x", "principal": map[string]any{"id": "b", "tenant_id": "t2", "roles": []string{"hr"}}},
		"unknown role": {"name": "x", "principal": map[string]any{"id": "b", "roles": []string{"god"}}},
		"no id":        {"name": "x", "principal": map[string]any{"roles": []string{"hr"}}},
		"bad expiry":   {"name": "x", "principal": map[string]any{"id": "b"}, "expires_in": "forever"},
		"long expiry":  {"name": "x", "principal": map[string]any{"id": "b"}, "expires_in": "100000h"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/admin/api-keys", admin, body)
			if r.Status != 400 && r.Status != 403 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		})
	}
	// Other tenant's admin cannot see or revoke t1 keys.
	other := e.user("root2", "t2", "admin")
	r = e.do("GET", "/admin/api-keys", other, nil)
	expect(t, r, 200, "")
	if len(r.list(t)) != 0 {
		t.Fatalf("t2 admin sees %s", r.Body)
	}
	// The key store is not reachable through the document API.
	expect(t, e.do("GET", "/collections/pm_api_keys", admin, nil), 403, "FORBIDDEN")
}
