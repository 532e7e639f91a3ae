package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPolicyAsWrittenForPermissionMongo: a file with version "1.0" and _id
// in deny_write loads and serves; _id there neither blocks creates that
// choose their id nor lets an update change it, and the other deny_write
// entries still hold.
func TestPolicyAsWrittenForPermissionMongo(t *testing.T) {
	src := `version: "1.0"
roles:
  staff: {}
policies:
  tickets:
    staff:
      actions: [create, read, update]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny_write: [_id, tenant_id, priority]
    presets:
      tenant_id: user.tenant_id
`
	e := newAuditEnvWith(t, writePolicy(t, src), nil)
	k := e.user("s1", "t1", "staff")

	r := e.req("POST", "/collections/tickets", k, "", map[string]any{"_id": "T-1", "title": "printer"})
	expect(t, r, 201, "")
	require.Equal(t, "T-1", r.data(t)["_id"])
	expect(t, e.req("PATCH", "/collections/tickets/T-1", k, "", map[string]any{"title": "printer on fire"}), 200, "")
	expect(t, e.req("PATCH", "/collections/tickets/T-1", k, "", map[string]any{"$set": map[string]any{"_id": "T-2"}}), 400, "BAD_REQUEST")
	expect(t, e.req("PATCH", "/collections/tickets/T-1", k, "", map[string]any{"priority": 1}), 403, "FORBIDDEN")
	expect(t, e.req("PATCH", "/collections/tickets/T-1", k, "", map[string]any{"tenant_id": "t2"}), 403, "FORBIDDEN")
	got := e.raw("tickets", "T-1")
	require.Equal(t, "printer on fire", got["title"])
	require.Equal(t, "t1", got["tenant_id"])
	require.NotContains(t, got, "priority")
}
