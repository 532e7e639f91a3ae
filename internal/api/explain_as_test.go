package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/policy"
)

// explainAsPolicy has an administrator who may explain others and run the
// policy tests, a role whose rule reads a claim, and a role holding a
// system permission the administrator lacks.
const explainAsPolicy = `
version: "1"
roles:
  admin: {}
  member: {}
  support: {}
  auditor: {}
system:
  explain.any_principal: [admin]
  policies.test: [admin]
  audit.read: [auditor]
policies:
  notes:
    member:
      actions: [read, update]
      when: "resource.tenant_id == user.tenant_id && resource.owner == user.id"
      fields:
        deny: [secret]
        deny_write: [owner]
    support:
      actions: [read]
      when: "resource.region in user.claims.regions"
defaults:
  deny_unlisted_collections: true
`

func explainBody(extra map[string]any) map[string]any {
	b := map[string]any{"collection": "notes", "action": "read"}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func filterText(t *testing.T, d map[string]any) string {
	t.Helper()
	j, err := json.Marshal(d["filter"])
	require.NoError(t, err)
	return string(j)
}

func TestExplainAsAnotherPrincipal(t *testing.T) {
	e := newEnvWithPolicy(t, explainAsPolicy)
	admin := e.user("boss", "t1", "admin")
	member := e.user("u2", "t1", "member")

	// What u2 is told about itself is what the administrator is told about u2.
	own := e.do("POST", "/explain", member, explainBody(nil))
	expect(t, own, http.StatusOK, "")
	as := e.do("POST", "/explain", admin, explainBody(map[string]any{"principal": map[string]any{"id": "u2", "roles": []string{"member"}}}))
	expect(t, as, http.StatusOK, "")
	od, ad := own.data(t), as.data(t)
	require.Equal(t, true, ad["allowed"])
	require.Equal(t, filterText(t, od), filterText(t, ad))
	require.Contains(t, filterText(t, ad), `"u2"`)
	require.Contains(t, filterText(t, ad), `"t1"`, "the subject is placed in the caller's tenant")
	require.Equal(t, od["fields"], ad["fields"])
	require.Equal(t, map[string]any{"id": "u2", "tenant_id": "t1", "roles": []any{"member"}}, ad["principal"])
	// The administrator's own explanation is unchanged: admin is granted nothing on notes.
	mine := e.do("POST", "/explain", admin, explainBody(nil)).data(t)
	require.Equal(t, false, mine["allowed"])
	require.Nil(t, mine["principal"])

	// Naming the caller's own tenant is accepted.
	r := e.do("POST", "/explain", admin, explainBody(map[string]any{"principal": map[string]any{"id": "u2", "tenant_id": "t1", "roles": []string{"member"}}}))
	expect(t, r, http.StatusOK, "")

	// Claims reach the rules that read them.
	r = e.do("POST", "/explain", admin, explainBody(map[string]any{"principal": map[string]any{
		"id": "s1", "roles": []string{"support"}, "claims": map[string]any{"regions": []string{"north", "east"}}}}))
	expect(t, r, http.StatusOK, "")
	require.Contains(t, filterText(t, r.data(t)), `"north"`)
	// Without the claim the rule fails closed.
	r = e.do("POST", "/explain", admin, explainBody(map[string]any{"principal": map[string]any{"id": "s1", "roles": []string{"support"}}}))
	expect(t, r, http.StatusOK, "")
	require.Equal(t, "never", r.data(t)["state"])

	// An explanation is policy, not data: a role holding a system
	// permission the administrator lacks can be explained too.
	r = e.do("POST", "/explain", admin, explainBody(map[string]any{"principal": map[string]any{"id": "a1", "roles": []string{"auditor"}}}))
	expect(t, r, http.StatusOK, "")
	require.Equal(t, false, r.data(t)["allowed"])
}

func TestExplainAsAPIKey(t *testing.T) {
	e := newEnvWithPolicy(t, explainAsPolicy)
	admin := e.user("boss", "t1", "admin")
	e.user("u2", "t1", "member")
	ownID := e.keys.IDOf("u2")
	e.keys.Add(principalFor("x9", "t2", "member"), nil)
	otherID := e.keys.IDOf("x9")
	require.NotEmpty(t, ownID)
	require.NotEmpty(t, otherID)

	r := e.do("POST", "/explain", admin, explainBody(map[string]any{"api_key_id": ownID}))
	expect(t, r, http.StatusOK, "")
	d := r.data(t)
	require.Equal(t, map[string]any{"id": "u2", "tenant_id": "t1", "roles": []any{"member"}, "api_key_id": ownID}, d["principal"])
	require.Contains(t, filterText(t, d), `"u2"`)

	// Another tenant's key and a key that does not exist get the same
	// answer, so key ids of other tenants cannot be probed.
	other := e.do("POST", "/explain", admin, explainBody(map[string]any{"api_key_id": otherID}))
	expect(t, other, http.StatusNotFound, "NOT_FOUND")
	require.NotContains(t, string(other.Body), "x9")
	require.NotContains(t, string(other.Body), "t2")
	missing := e.do("POST", "/explain", admin, explainBody(map[string]any{"api_key_id": "pm_nope"}))
	expect(t, missing, http.StatusNotFound, "NOT_FOUND")
}

func TestExplainAsRefusals(t *testing.T) {
	e := newEnvWithPolicy(t, explainAsPolicy)
	admin := e.user("boss", "t1", "admin")
	member := e.user("u2", "t1", "member")
	noTenant := e.user("root", "", "admin")
	memberKeyID := e.keys.IDOf("u2")
	p := func(m map[string]any) map[string]any { return explainBody(map[string]any{"principal": m}) }

	for _, c := range []struct {
		name   string
		key    string
		body   any
		status int
		code   string
		msg    string
	}{
		{"caller without the permission", member, p(map[string]any{"id": "u3", "roles": []string{"member"}}), 403, "FORBIDDEN", "explain.any_principal"},
		{"caller without the permission, by key id", member, explainBody(map[string]any{"api_key_id": memberKeyID}), 403, "FORBIDDEN", "explain.any_principal"},
		{"caller without a tenant", noTenant, p(map[string]any{"id": "u3", "roles": []string{"member"}}), 403, "FORBIDDEN", "tenant"},
		{"another tenant's principal", admin, p(map[string]any{"id": "x9", "tenant_id": "t2", "roles": []string{"member"}}), 403, "FORBIDDEN", "own tenant"},
		{"a role the policy does not declare", admin, p(map[string]any{"id": "u3", "roles": []string{"member", "superuser"}}), 400, "BAD_REQUEST", `"superuser"`},
		{"roles not a list", admin, p(map[string]any{"id": "u3", "roles": "admin"}), 400, "BAD_REQUEST", "roles"},
		{"roles with a non-string", admin, p(map[string]any{"id": "u3", "roles": []any{1}}), 400, "BAD_REQUEST", "roles"},
		{"no id", admin, p(map[string]any{"roles": []string{"member"}}), 400, "BAD_REQUEST", "principal.id"},
		{"empty id", admin, p(map[string]any{"id": "", "roles": []string{"member"}}), 400, "BAD_REQUEST", "principal.id"},
		{"unknown member", admin, p(map[string]any{"id": "u3", "role": []string{"member"}}), 400, "BAD_REQUEST", "unknown principal member"},
		{"principal not an object", admin, explainBody(map[string]any{"principal": "u3"}), 400, "BAD_REQUEST", "principal"},
		{"claims not an object", admin, p(map[string]any{"id": "u3", "claims": []string{"x"}}), 400, "BAD_REQUEST", "claims"},
		{"both principal and key", admin, explainBody(map[string]any{"principal": map[string]any{"id": "u3"}, "api_key_id": memberKeyID}), 400, "BAD_REQUEST", "not both"},
		{"empty key id", admin, explainBody(map[string]any{"api_key_id": ""}), 400, "BAD_REQUEST", "api_key_id"},
		{"key id not a string", admin, explainBody(map[string]any{"api_key_id": 7}), 400, "BAD_REQUEST", "api_key_id"},
		{"unknown action", admin, map[string]any{"collection": "notes", "action": "destroy", "principal": map[string]any{"id": "u3"}}, 400, "BAD_REQUEST", "destroy"},
		{"bad collection name", admin, map[string]any{"collection": "$x", "action": "read", "principal": map[string]any{"id": "u3"}}, 400, "BAD_REQUEST", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/explain", c.key, c.body)
			expect(t, r, c.status, c.code)
			require.Contains(t, string(r.Body), c.msg)
		})
	}
	// No credential at all is a 401, not an explanation of anyone.
	expect(t, e.do("POST", "/explain", "", p(map[string]any{"id": "u3"})), 401, "UNAUTHENTICATED")
}

const passingCases = `
cases:
  - name: member reads own note
    user: {id: u1, tenant_id: t1, roles: [member]}
    collection: notes
    action: read
    document: {tenant_id: t1, owner: u1, secret: s}
    expect: allow
    hidden: [secret]
`

const failingCases = `
cases:
  - name: member reads another's note
    user: {id: u1, tenant_id: t1, roles: [member]}
    collection: notes
    action: read
    document: {tenant_id: t1, owner: u2}
    expect: allow
  - name: not a case
    user: {id: u1}
    collection: notes
`

func TestPolicyTestsEndpoint(t *testing.T) {
	e := newEnvWithPolicy(t, explainAsPolicy)
	admin := e.user("boss", "t1", "admin")
	member := e.user("u2", "t1", "member")
	tests := filepath.Join(filepath.Dir(e.svc.Policies().Files[0]), "tests")

	// No tests folder: nothing ran, which is not reported as a pass.
	r := e.do("GET", "/admin/policies/tests", admin, nil)
	expect(t, r, http.StatusNotImplemented, "NOT_SUPPORTED")

	require.NoError(t, os.Mkdir(tests, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tests, "a.yml"), []byte(passingCases), 0o644))
	r = e.do("GET", "/admin/policies/tests", admin, nil)
	expect(t, r, http.StatusOK, "")
	d := r.data(t)
	require.Equal(t, float64(1), d["passed"])
	require.Equal(t, float64(0), d["failed"])
	require.Equal(t, []any{"tests/a.yml"}, d["files"])
	require.Equal(t, []any{map[string]any{"file": "tests/a.yml", "line": float64(3), "name": "member reads own note",
		"passed": true, "failures": []any{}}}, d["cases"])

	// Case files are read at each run: a failing case added now shows.
	require.NoError(t, os.WriteFile(filepath.Join(tests, "b.yml"), []byte(failingCases), 0o644))
	r = e.do("GET", "/admin/policies/tests", admin, nil)
	expect(t, r, http.StatusOK, "")
	d = r.data(t)
	require.Equal(t, float64(1), d["passed"])
	require.Equal(t, float64(2), d["failed"], "the failing case and the broken one")
	cases := d["cases"].([]any)
	require.Len(t, cases, 2)
	bad := cases[1].(map[string]any)
	require.Equal(t, "member reads another's note", bad["name"])
	require.Equal(t, false, bad["passed"])
	require.Equal(t, "tests/b.yml", bad["file"])
	fails := bad["failures"].([]any)
	require.Len(t, fails, 1)
	require.Contains(t, fails[0], "expected allow, got deny")
	probs := d["problems"].([]any)
	require.NotEmpty(t, probs)
	p0 := probs[0].(map[string]any)
	require.Equal(t, "tests/b.yml", p0["file"])
	require.Equal(t, "not a case", p0["case"])
	require.True(t, strings.Contains(p0["message"].(string), "is required"), p0["message"])
	// No absolute server path leaks into the answer.
	require.NotContains(t, string(r.Body), tests)

	// Administrators only; a query string is refused like elsewhere.
	expect(t, e.do("GET", "/admin/policies/tests", member, nil), http.StatusForbidden, "FORBIDDEN")
	expect(t, e.do("GET", "/admin/policies/tests", "", nil), http.StatusUnauthorized, "UNAUTHENTICATED")
	expect(t, e.do("GET", "/admin/policies/tests?dir=/etc", admin, nil), http.StatusBadRequest, "BAD_REQUEST")
}

// The hierarchy collection is not divided by tenant, so an administrator
// naming a user id must not learn that user's reporting lines through the
// filter: for another principal the hierarchy values stay unresolved (the
// rules using them fail closed) and the answer says so.
func TestExplainAsLeavesHierarchyUnresolved(t *testing.T) {
	e, _ := newHierarchyEnv(t)
	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(strings.Replace(hierarchyPolicy,
		"roles:\n  staff: {}\n", "roles:\n  staff: {}\n  admin: {}\nsystem:\n  explain.any_principal: [admin]\n", 1))})
	require.NoError(t, err)
	e.svc.SetPolicies(set)
	admin := e.user("root", "t1", "admin")

	// boss itself sees its subordinates in its own filter...
	own := e.do("POST", "/explain", e.user("boss", "t1", "staff"), map[string]any{"collection": "people", "action": "read"})
	expect(t, own, http.StatusOK, "")
	require.Contains(t, filterText(t, own.data(t)), `"e1"`)
	require.Nil(t, own.data(t)["hierarchy_resolved"])

	// ...the administrator explaining boss does not.
	r := e.do("POST", "/explain", admin, map[string]any{"collection": "people", "action": "read",
		"principal": map[string]any{"id": "boss", "roles": []string{"staff"}}})
	expect(t, r, http.StatusOK, "")
	d := r.data(t)
	require.Equal(t, false, d["hierarchy_resolved"])
	require.NotContains(t, filterText(t, d), `"e1"`)
	require.NotContains(t, filterText(t, d), `"m1"`)
	// A missing caller value fails the whole rule closed.
	require.Equal(t, "never", d["state"])
}

// countingKeys counts the lookups of one key id.
type countingKeys struct {
	auth.KeyStore
	id string
	n  atomic.Int32
}

func (c *countingKeys) Get(ctx context.Context, id string) (*auth.KeyRecord, error) {
	if id == c.id {
		c.n.Add(1)
	}
	return c.KeyStore.Get(ctx, id)
}

// A caller without the permission is refused before the key store is
// asked, so that it cannot learn from timing whether a key id exists.
func TestExplainAsRefusesBeforeLookingUpTheKey(t *testing.T) {
	counter := &countingKeys{}
	e := newEnvWithPolicy(t, explainAsPolicy, func(p *api.Params) {
		counter.KeyStore = p.Auth.Keys
		p.Auth = &auth.Authenticator{Keys: counter}
	})
	admin := e.user("boss", "t1", "admin")
	member := e.user("u2", "t1", "member")
	e.user("u3", "t1", "member") // the key explained, never used to sign in
	counter.id = e.keys.IDOf("u3")
	expect(t, e.do("POST", "/explain", member, explainBody(map[string]any{"api_key_id": counter.id})), http.StatusForbidden, "FORBIDDEN")
	require.Zero(t, counter.n.Load())
	expect(t, e.do("POST", "/explain", admin, explainBody(map[string]any{"api_key_id": counter.id})), http.StatusOK, "")
	require.Equal(t, int32(1), counter.n.Load())
}
