package api_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRestoreDeletedUnderExampleHRPolicy: with the example policies, where
// hr's deny_write lists tenant_id, hr restores a deleted employee of its
// tenant; another tenant's hr and a role without restore cannot.
func TestRestoreDeletedUnderExampleHRPolicy(t *testing.T) {
	e := newAuditEnvWith(t, "../../policies", []string{"employees"})
	hr := e.user("h1", "t1", "hr")
	hrOther := e.user("h2", "t2", "hr")
	emp := e.user("e1", "t1", "employee")
	e.insert("employees", D("_id", "ann", "tenant_id", "t1", "owner", "e1", "name", "Ann", "salary", 100))

	expect(t, e.req("PATCH", "/collections/employees/ann", hr, "", map[string]any{"salary": 120}), 200, "")
	expect(t, e.req("DELETE", "/collections/employees/ann", hr, "", nil), 200, "")
	// v1: salary 100 (before the update); v2: salary 120 (the state deleted).

	expect(t, e.req("POST", "/collections/employees/ann/versions/2/restore", hrOther, "", nil), 404, "NOT_FOUND")
	expect(t, e.req("POST", "/collections/employees/ann/versions/2/restore", emp, "", nil), 403, "FORBIDDEN")
	n, err := e.db.Collection("employees").CountDocuments(context.Background(), D("_id", "ann"))
	require.NoError(t, err)
	require.Zero(t, n, "refused restores write nothing")

	r := e.req("POST", "/collections/employees/ann/versions/2/restore", hr, "", nil)
	expect(t, r, 200, "")
	require.Equal(t, "Ann", r.data(t)["name"])
	got := e.raw("employees", "ann")
	require.Equal(t, "t1", got["tenant_id"])
	require.EqualValues(t, 120, got["salary"])
	require.Equal(t, "h1", got["updated_by"])

	// Restoring twice over an existing document is the PUT path; deleting
	// again and restoring the older version brings its salary back (hr may
	// write salary).
	expect(t, e.req("DELETE", "/collections/employees/ann", hr, "", nil), 200, "")
	expect(t, e.req("POST", "/collections/employees/ann/versions/1/restore", hr, "", nil), 200, "")
	require.EqualValues(t, 100, e.raw("employees", "ann")["salary"])
}

// TestRestoreDeletedKeepsDeniedFieldsAsDeleted: restoring an old version of
// a deleted document cannot roll back a deny_write field: the field takes
// the value the document had when it was deleted, as a restore over an
// existing document keeps the stored value.
func TestRestoreDeletedKeepsDeniedFieldsAsDeleted(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	ed := e.user("ed", "t1", "editor")
	e.insert("docs", D("_id", "k", "tenant_id", "t1", "title", "t0", "locked", "L0"))
	expect(t, e.req("PATCH", "/collections/docs/k", ed, "", map[string]any{"title": "t1", "locked": "L1"}), 200, "")
	expect(t, e.req("DELETE", "/collections/docs/k", ann, "", nil), 200, "")
	// v1: t0/L0; v2: t1/L1 (deleted). member may not write locked.
	expect(t, e.req("POST", "/collections/docs/k/versions/1/restore", ann, "", nil), 200, "")
	got := e.raw("docs", "k")
	require.Equal(t, "t0", got["title"])
	require.Equal(t, "L1", got["locked"], "deny_write field as it was when deleted, not rolled back")
}

// TestRestoreDeletedChecksTenantPreset: a rule without a tenant condition
// still cannot restore a document into a tenant other than the one its
// preset would stamp for the caller.
func TestRestoreDeletedChecksTenantPreset(t *testing.T) {
	src := `version: "1"
roles:
  archivist: {}
policies:
  docs:
    archivist:
      actions: [read, delete, restore]
    presets:
      tenant_id: user.tenant_id
`
	e := newAuditEnvWith(t, writePolicy(t, src), []string{"docs"})
	a1 := e.user("a1", "t1", "archivist")
	noTenant := e.user("a0", "", "archivist")
	e.insert("docs", D("_id", "x", "tenant_id", "t2", "title", "theirs"), D("_id", "y", "tenant_id", "t1", "title", "mine"))
	expect(t, e.req("DELETE", "/collections/docs/x", a1, "", nil), 200, "")
	expect(t, e.req("DELETE", "/collections/docs/y", a1, "", nil), 200, "")
	expect(t, e.req("POST", "/collections/docs/x/versions/1/restore", a1, "", nil), 403, "FORBIDDEN")
	expect(t, e.req("POST", "/collections/docs/y/versions/1/restore", noTenant, "", nil), 403, "FORBIDDEN")
	for _, id := range []string{"x", "y"} {
		n, err := e.db.Collection("docs").CountDocuments(context.Background(), D("_id", id))
		require.NoError(t, err)
		require.Zero(t, n, id)
	}
	expect(t, e.req("POST", "/collections/docs/y/versions/1/restore", a1, "", nil), 200, "")
	require.Equal(t, "mine", e.raw("docs", "y")["title"])
}
