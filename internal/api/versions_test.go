package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
)

// TestVersionsUpdateKeepsTheOldStateWithMasks: an update stores the state
// before it as version 1; reading it applies the read rules of that old
// state (mask, hidden field).
func TestVersionsUpdateKeepsTheOldStateWithMasks(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	ed := e.user("ed", "t1", "editor")
	other := e.user("zed", "t2", "member")
	e.insert("docs", D("_id", "x", "tenant_id", "t1", "title", "old", "email", "old@acme.io", "secret", "s-old"))

	expect(t, e.req("PATCH", "/collections/docs/x", ann, "", map[string]any{"title": "new", "email": "new@acme.io"}), 200, "")
	r := e.req("GET", "/collections/docs/x/versions", ann, "", nil)
	expect(t, r, 200, "")
	list := r.list(t)
	require.Len(t, list, 1)
	v := list[0].(map[string]any)
	require.EqualValues(t, 1, v["version"])
	require.Equal(t, "ann", v["updated_by"])
	require.Equal(t, "update", v["op"])

	// member: email masked, secret hidden, in the old state too.
	r = e.req("GET", "/collections/docs/x/versions/1", ann, "", nil)
	expect(t, r, 200, "")
	d := r.data(t)
	require.Equal(t, "old", d["title"])
	require.NotEqual(t, "old@acme.io", d["email"], "masked")
	require.NotEmpty(t, d["email"])
	require.NotContains(t, d, "secret")
	// editor: no field rules.
	r = e.req("GET", "/collections/docs/x/versions/1", ed, "", nil)
	expect(t, r, 200, "")
	require.Equal(t, "old@acme.io", r.data(t)["email"])
	// another tenant sees neither the document nor its history.
	expect(t, e.req("GET", "/collections/docs/x/versions", other, "", nil), 404, "NOT_FOUND")
	expect(t, e.req("GET", "/collections/docs/x/versions/1", other, "", nil), 404, "NOT_FOUND")
	expect(t, e.req("GET", "/collections/docs/x/versions/9", ann, "", nil), 404, "NOT_FOUND")
	expect(t, e.req("GET", "/collections/docs/x/versions/zero", ann, "", nil), 400, "BAD_REQUEST")

	// The stored version is the full old document.
	ver, err := e.vers.Get(t.Context(), "docs", "x", 1)
	require.NoError(t, err)
	require.Equal(t, "s-old", ver.Doc.Lookup("secret").StringValue())
}

// TestVersionsOldStateOfAnotherScopeIsHidden: a version whose content the
// caller could not read (it belonged to another tenant then) is not listed
// and is a 404. Nor can it be restored, even when keepDenied would put the
// caller's tenant back (an attack found by review): its content never
// reaches a document the caller can read.
func TestVersionsOldStateOfAnotherScopeIsHidden(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	e.insert("docs", D("_id", "m", "tenant_id", "t1", "title", "now", "locked", "L"))
	raw, _ := bson.Marshal(D("_id", "m", "tenant_id", "t2", "title", "t2-confidential-text", "locked", "L"))
	_, err := e.vers.Save(t.Context(), "docs", "m", raw, "update", "admin", time.Now())
	require.NoError(t, err)

	r := e.req("POST", "/collections/docs/m/versions/1/restore", ann, "", nil)
	expect(t, r, 404, "NOT_FOUND")
	require.NotContains(t, string(r.Body), "t2-confidential-text")
	require.Equal(t, "now", e.raw("docs", "m")["title"], "the document is unchanged")

	r = e.req("GET", "/collections/docs/m/versions", ann, "", nil)
	expect(t, r, 200, "")
	require.Empty(t, r.list(t), "a version of another tenant is not listed")
	expect(t, e.req("GET", "/collections/docs/m/versions/1", ann, "", nil), 404, "NOT_FOUND")
}

// TestVersionsRestore: restore needs the restore action; it goes through
// the PUT checks (deny_write fields keep their stored values, a version of
// another tenant is refused), and is itself versioned and audited.
func TestVersionsRestore(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	ed := e.user("ed", "t1", "editor")
	ctx := t.Context()
	e.insert("docs", D("_id", "r", "tenant_id", "t1", "title", "v0", "locked", "L0"))
	expect(t, e.req("PATCH", "/collections/docs/r", ann, "", map[string]any{"title": "v1"}), 200, "")
	expect(t, e.req("PATCH", "/collections/docs/r", ed, "", map[string]any{"title": "v2", "locked": "L2"}), 200, "")

	// editor has no restore action.
	expect(t, e.req("POST", "/collections/docs/r/versions/1/restore", ed, "ed-restore", nil), 403, "FORBIDDEN")
	require.Equal(t, "v2", e.raw("docs", "r")["title"])

	// member restores v1 (title v0, locked L0): locked is deny_write for
	// member, so it keeps its stored value L2.
	r := e.req("POST", "/collections/docs/r/versions/1/restore", ann, "ann-restore", nil)
	expect(t, r, 200, "")
	require.Equal(t, "v0", r.data(t)["title"])
	stored := e.raw("docs", "r")
	require.Equal(t, "v0", stored["title"])
	require.Equal(t, "L2", stored["locked"], "deny_write field kept as stored")
	require.Equal(t, "ann", stored["updated_by"])

	// Restore is versioned: version 3 holds the state it replaced.
	r = e.req("GET", "/collections/docs/r/versions", ann, "", nil)
	list := r.list(t)
	require.Len(t, list, 3)
	top := list[0].(map[string]any)
	require.EqualValues(t, 3, top["version"])
	require.Equal(t, "restore", top["op"])
	v3, err := e.vers.Get(ctx, "docs", "r", 3)
	require.NoError(t, err)
	require.Equal(t, "v2", v3.Doc.Lookup("title").StringValue())

	// A version of another tenant: the caller cannot read it, so it cannot
	// restore it either — 404 (as GET of that version), document unchanged.
	raw, _ := bson.Marshal(D("_id", "r", "tenant_id", "t2", "title", "moved"))
	n, err := e.vers.Save(ctx, "docs", "r", raw, "update", "admin", time.Now())
	require.NoError(t, err)
	expect(t, e.req("POST", "/collections/docs/r/versions/"+strconv.FormatInt(n, 10)+"/restore", ann, "", nil), 404, "NOT_FOUND")
	require.Equal(t, "t1", e.raw("docs", "r")["tenant_id"])
	require.Equal(t, "v0", e.raw("docs", "r")["title"])

	// Audited.
	all := entriesN(t, e.coll, 6)
	got := byRequestID(all)
	require.Len(t, got["ann-restore"], 1)
	require.Equal(t, "restore", got["ann-restore"][0].Action)
	require.Equal(t, []string{"r"}, got["ann-restore"][0].DocIDs)
	require.Equal(t, audit.OutcomeDenied, got["ed-restore"][0].Outcome)
}

// TestVersionsDeleteAndRestoreDeleted: single and batch deletes save the
// last state; the history of a deleted document stays readable under the
// policy evaluated on its latest version, and restore creates it again.
func TestVersionsDeleteAndRestoreDeleted(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	other := e.user("zed", "t2", "member")
	e.insert("docs", D("_id", "d", "tenant_id", "t1", "title", "gone"),
		D("_id", "b1", "tenant_id", "t1", "title", "batch"),
		D("_id", "b2", "tenant_id", "t2", "title", "not mine"))
	expect(t, e.req("DELETE", "/collections/docs/d", ann, "", nil), 200, "")
	r := e.req("POST", "/collections/docs/batch/delete", ann, "", map[string]any{"ids": []string{"b1", "b2"}})
	expect(t, r, 200, "")
	require.EqualValues(t, 1, r.data(t)["deleted"])
	for _, id := range []string{"d", "b1"} {
		r := e.req("GET", "/collections/docs/"+id+"/versions", ann, "", nil)
		expect(t, r, 200, "")
		list := r.list(t)
		require.Len(t, list, 1, id)
		require.Equal(t, "delete", list[0].(map[string]any)["op"])
	}
	// A batch update versions each document it changes.
	e.insert("docs", D("_id", "u1", "tenant_id", "t1", "title", "before"))
	r = e.req("PATCH", "/collections/docs/batch", ann, "", map[string]any{"ids": []string{"u1"}, "update": map[string]any{"$set": map[string]any{"title": "after"}}})
	expect(t, r, 200, "")
	uv, err := e.vers.Get(t.Context(), "docs", "u1", 1)
	require.NoError(t, err)
	require.Equal(t, "before", uv.Doc.Lookup("title").StringValue())
	require.Equal(t, "update", uv.Op)

	_, err = e.vers.Get(t.Context(), "docs", "b2", 1)
	require.Error(t, err, "a document skipped by the batch has no version")
	expect(t, e.req("GET", "/collections/docs/d/versions", other, "", nil), 404, "NOT_FOUND")
	expect(t, e.req("POST", "/collections/docs/d/versions/1/restore", other, "", nil), 404, "NOT_FOUND")

	r = e.req("POST", "/collections/docs/d/versions/1/restore", ann, "", nil)
	expect(t, r, 200, "")
	require.Equal(t, "gone", e.raw("docs", "d")["title"])
	expect(t, e.req("GET", "/collections/docs/d", ann, "", nil), 200, "")
}

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
	n, err := e.db.Collection("employees").CountDocuments(t.Context(), D("_id", "ann"))
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
		n, err := e.db.Collection("docs").CountDocuments(t.Context(), D("_id", id))
		require.NoError(t, err)
		require.Zero(t, n, id)
	}
	expect(t, e.req("POST", "/collections/docs/y/versions/1/restore", a1, "", nil), 200, "")
	require.Equal(t, "mine", e.raw("docs", "y")["title"])
}
