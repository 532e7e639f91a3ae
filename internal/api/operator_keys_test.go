package api_test

import (
	"strings"
	"testing"
)

// operatorPolicy adds platform roles to testPolicy: "keyops" may manage the
// keys of any tenant and nothing else; "platform" may too, and holds
// everything an admin holds.
var operatorPolicy = strings.Replace(strings.Replace(testPolicy,
	"  admin: {}\n", "  admin: {}\n  keyops: {}\n  platform: {inherits: [admin]}\n", 1),
	"  api_keys.manage: [admin]\n", "  api_keys.manage: [admin]\n  api_keys.manage_any_tenant: [keyops, platform]\n", 1)

// TestOperatorManagesKeysOfAnyTenant: a platform operator onboards a tenant
// over HTTP — creates its first admin key, which then manages that tenant's
// keys — while a tenant admin stays inside its tenant and nobody mints a key
// more powerful than themselves.
func TestOperatorManagesKeysOfAnyTenant(t *testing.T) {
	if !strings.Contains(operatorPolicy, "api_keys.manage_any_tenant: [keyops, platform]") || !strings.Contains(operatorPolicy, "keyops: {}") {
		t.Fatal("test policy not built")
	}
	e := newEnvWithPolicy(t, operatorPolicy)
	seedEmployees(e)
	keyops := e.user("ops", "", "keyops")      // a platform operator without a tenant
	platform := e.user("plat", "", "platform") // an operator with admin powers
	adminT1 := e.user("root1", "t1", "admin")  // a tenant admin

	// The operator creates a key for tenant t2; it works as t2 and only t2.
	r := e.do("POST", "/admin/api-keys", keyops, map[string]any{
		"name": "t2 importer", "principal": map[string]any{"id": "t2-bot", "tenant_id": "t2", "roles": []string{"hr"}}})
	expect(t, r, 201, "")
	d := r.data(t)
	t2key, t2id := d["key"].(string), d["id"].(string)
	if d["principal"].(map[string]any)["tenant_id"] != "t2" || d["created_by"] != "ops" {
		t.Fatalf("created %s", r.Body)
	}
	r = e.do("GET", "/collections/employees", t2key, nil)
	expect(t, r, 200, "")
	if l := r.list(t); len(l) != 1 || l[0].(map[string]any)["_id"] != "e4" {
		t.Fatalf("the t2 key must see t2's document only: %s", r.Body)
	}

	// Without a tenant in the request an operator without one is told to name it.
	expect(t, e.do("POST", "/admin/api-keys", keyops, map[string]any{
		"name": "x", "principal": map[string]any{"id": "b", "roles": []string{"hr"}}}), 400, "BAD_REQUEST")
	expect(t, e.do("GET", "/admin/api-keys", keyops, nil), 400, "BAD_REQUEST")

	// List and revoke in the named tenant.
	r = e.do("GET", "/admin/api-keys?tenant_id=t2", keyops, nil)
	expect(t, r, 200, "")
	if l := r.list(t); len(l) != 1 || l[0].(map[string]any)["id"] != t2id {
		t.Fatalf("t2's keys: %s", r.Body)
	}
	// The key is in t2, not t1: revoking it as a t1 key is a 404.
	expect(t, e.do("DELETE", "/admin/api-keys/"+t2id+"?tenant_id=t1", keyops, nil), 404, "NOT_FOUND")

	// A tenant admin cannot reach another tenant, by body or by query.
	expect(t, e.do("POST", "/admin/api-keys", adminT1, map[string]any{
		"name": "x", "principal": map[string]any{"id": "b", "tenant_id": "t2", "roles": []string{"hr"}}}), 403, "FORBIDDEN")
	expect(t, e.do("GET", "/admin/api-keys?tenant_id=t2", adminT1, nil), 403, "FORBIDDEN")
	expect(t, e.do("DELETE", "/admin/api-keys/"+t2id+"?tenant_id=t2", adminT1, nil), 403, "FORBIDDEN")
	expect(t, e.do("DELETE", "/admin/api-keys/"+t2id, adminT1, nil), 404, "NOT_FOUND")
	// Its own tenant, named or not, still works.
	expect(t, e.do("GET", "/admin/api-keys?tenant_id=t1", adminT1, nil), 200, "")
	expect(t, e.do("GET", "/admin/api-keys?tenant_id=", adminT1, nil), 400, "BAD_REQUEST")

	// No escalation: keyops lacks audit.read and api_keys.manage's
	// neighbours that admin holds, so it cannot mint an admin key; nor can a
	// tenant admin mint an operator key.
	r = e.do("POST", "/admin/api-keys", keyops, map[string]any{
		"name": "x", "principal": map[string]any{"id": "b", "tenant_id": "t2", "roles": []string{"admin"}}})
	expect(t, r, 403, "FORBIDDEN")
	if !r.has("audit.read") {
		t.Fatalf("the refusal names the permission: %s", r.Body)
	}
	expect(t, e.do("POST", "/admin/api-keys", adminT1, map[string]any{
		"name": "x", "principal": map[string]any{"id": "b", "roles": []string{"keyops"}}}), 403, "FORBIDDEN")
	expect(t, e.do("POST", "/admin/api-keys", adminT1, map[string]any{
		"name": "x", "principal": map[string]any{"id": "b", "roles": []string{"platform"}}}), 403, "FORBIDDEN")

	// Onboarding: platform holds what admin holds, so it mints tenant t3's
	// first admin, who then manages t3's keys and nothing else.
	r = e.do("POST", "/admin/api-keys", platform, map[string]any{
		"name": "t3 admin", "principal": map[string]any{"id": "t3-root", "tenant_id": "t3", "roles": []string{"admin"}}})
	expect(t, r, 201, "")
	t3admin := r.data(t)["key"].(string)
	r = e.do("POST", "/admin/api-keys", t3admin, map[string]any{
		"name": "t3 hr", "principal": map[string]any{"id": "t3-hr", "roles": []string{"hr"}}})
	expect(t, r, 201, "")
	if r.data(t)["principal"].(map[string]any)["tenant_id"] != "t3" {
		t.Fatalf("t3 admin's key: %s", r.Body)
	}
	r = e.do("GET", "/admin/api-keys", t3admin, nil)
	expect(t, r, 200, "")
	if len(r.list(t)) != 2 {
		t.Fatalf("t3 keys: %s", r.Body)
	}
	expect(t, e.do("GET", "/admin/api-keys?tenant_id=t2", t3admin, nil), 403, "FORBIDDEN")

	// The operator revokes t2's key; it stops working at once.
	expect(t, e.do("DELETE", "/admin/api-keys/"+t2id+"?tenant_id=t2", keyops, nil), 200, "")
	expect(t, e.do("GET", "/collections/employees", t2key, nil), 401, "UNAUTHENTICATED")
}
