package api_test

import (
	"net/url"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// TestCursorBoundToRolesAndClaims: a cursor issued to one principal is
// refused for the same id and tenant holding other roles or other values of
// a claim the policy reads; role order and claims no rule reads do not
// matter.
func TestCursorBoundToRolesAndClaims(t *testing.T) {
	src := `version: "1"
roles:
  clerk: {}
  boss: {}
policies:
  tickets:
    clerk:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && resource.region in user.claims.regions"
    boss:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
`
	e := newAuditEnvWith(t, writePolicy(t, src), nil)
	for i, region := range []string{"eu", "eu", "eu", "us", "us"} {
		e.insert("tickets", D("_id", "t"+string(rune('0'+i)), "tenant_id", "t1", "region", region))
	}
	key := func(roles []string, claims map[string]any) string {
		return e.keys.Add(principal.Principal{ID: "u1", TenantID: "t1", Roles: roles, Claims: claims}, nil)
	}
	eu := map[string]any{"regions": []any{"eu"}, "session": "s1"}
	issuer := key([]string{"clerk", "boss"}, eu)

	r := e.req("GET", "/collections/tickets?limit=2&sort=_id", issuer, "", nil)
	expect(t, r, 200, "")
	cur := r.json(t)["pagination"].(map[string]any)["cursor"].(string)
	next := "/collections/tickets?limit=2&sort=_id&cursor=" + url.QueryEscape(cur)

	// Same principal, roles reordered and repeated, an unread claim changed.
	same := key([]string{"boss", "clerk", "boss"}, map[string]any{"regions": []any{"eu"}, "session": "s2"})
	expect(t, e.req("GET", next, issuer, "", nil), 200, "")
	expect(t, e.req("GET", next, same, "", nil), 200, "")

	for name, k := range map[string]string{
		"fewer roles":          key([]string{"clerk"}, eu),
		"other roles":          key([]string{"boss"}, eu),
		"other claim value":    key([]string{"clerk", "boss"}, map[string]any{"regions": []any{"us"}, "session": "s1"}),
		"claim absent":         key([]string{"clerk", "boss"}, map[string]any{"session": "s1"}),
		"claim null vs absent": key([]string{"clerk", "boss"}, map[string]any{"regions": nil, "session": "s1"}),
	} {
		r := e.req("GET", next, k, "", nil)
		if r.Status != 400 || r.code(t) != "INVALID_CURSOR" {
			t.Fatalf("%s: cursor accepted under another principal: %d %s", name, r.Status, r.Body)
		}
	}
}
