package api_test

import (
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/grant"
)

const grantPolicy = `
version: "1"
roles:
  analyst: {}
  engineer: {}
  intern: {inherits: [analyst]}
  nobody: {}
  admin: {}
system:
  grants.admin: [admin]
grants:
  analyst:
    databases: [app]
    collections: [orders, "report_*"]
    actions: [find]
    max_ttl: 24h
    client_source: ["10.0.0.0/8"]
  engineer:
    databases: [app]
    collections: ["*"]
    actions: [readWrite]
    max_ttl: 2h
    deny: {collections: [payroll]}
policies:
  notes:
    analyst:
      actions: [read]
defaults:
  deny_unlisted_collections: true
`

// ledgerCollection is the grants ledger the proxy keeps in its database.
const ledgerCollection = "pm_grants"

type grantEnv struct {
	*env
	m *grant.Manager
}

// newGrantEnv is newEnv with the grant policy and a grant manager on the
// real test backend (capabilities as store.Probe reported them).
func newGrantEnv(t *testing.T) *grantEnv {
	t.Helper()
	e := newEnvWithPolicy(t, grantPolicy)
	return &grantEnv{env: e, m: e.app.Grants()}
}

func (g *grantEnv) ledgerCount(t *testing.T) int64 {
	t.Helper()
	n, err := g.db.Collection(ledgerCollection).CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// noPassword fails when a response body carries a password member or the
// word at all: the ledger and every answer but POST /grants's 201 never do.
func noPassword(t *testing.T, r resp) {
	t.Helper()
	if strings.Contains(strings.ToLower(string(r.Body)), "password") {
		t.Fatalf("response mentions a password: %s", r.Body)
	}
}

func errMessage(t *testing.T, r resp) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// An allowed request on a backend that cannot issue grants (no user
// management on the embedded FerretDB; users but no custom roles on the
// DocumentDB engine) passes the rule checks, then answers 501 NOT_SUPPORTED
// naming the missing capability, and leaves nothing behind: no ledger entry.
func TestGrantIssueWithoutUserManagement(t *testing.T) {
	g := newGrantEnv(t)
	if g.m.Missing == "" {
		t.Skip("capabilities user_management and custom_roles present: this test covers backends without them")
	}
	analyst := g.user("a1", "t1", "analyst")
	for name, body := range map[string]map[string]any{
		"actions":          {"database": "app", "collections": []string{"orders", "report_q1"}, "actions": []string{"find"}, "ttl": "1h"},
		"role shorthand":   {"database": "app", "collections": []string{"orders"}, "role": "read", "ttl": "1h"},
		"ttl over max":     {"database": "app", "collections": []string{"orders"}, "actions": []string{"find"}, "ttl": "720h"},
		"narrower network": {"database": "app", "collections": []string{"orders"}, "actions": []string{"find"}, "ttl": "1h", "client_source": []string{"10.1.2.3"}},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "role shorthand" {
				// read expands to more than find: the analyst rule refuses
				// it, before any capability question.
				r := g.do("POST", "/grants", analyst, body)
				expect(t, r, 403, "FORBIDDEN")
				return
			}
			r := g.do("POST", "/grants", analyst, body)
			expect(t, r, 501, "NOT_SUPPORTED")
			noPassword(t, r)
			e := r.json(t)["error"].(map[string]any)
			d, _ := e["details"].(map[string]any)
			if d["capability"] != g.m.Missing {
				t.Fatalf("501 does not name the capability %s: %s", g.m.Missing, r.Body)
			}
		})
	}
	// The engineer's readWrite shorthand is allowed too, and also creates nothing.
	eng := g.user("e1", "t1", "engineer")
	expect(t, g.do("POST", "/grants", eng, map[string]any{"database": "app", "collections": []string{"x"}, "role": "readWrite", "ttl": "30m"}), 501, "NOT_SUPPORTED")
	if n := g.ledgerCount(t); n != 0 {
		t.Fatalf("%d ledger entries written on a backend that cannot issue", n)
	}
}

// Refusals by the rules are 403 and say why; the checks run before the
// capability question, so they are the same on every backend.
func TestGrantIssueDenied(t *testing.T) {
	g := newGrantEnv(t)
	analyst := g.user("a1", "t1", "analyst")
	intern := g.user("i1", "t1", "intern")
	eng := g.user("e1", "t1", "engineer")
	nobody := g.user("n1", "t1", "nobody")
	cases := []struct {
		name, key string
		body      map[string]any
		why       string
	}{
		{"role without grant rule", nobody, map[string]any{"database": "app", "collections": []string{"orders"}, "actions": []string{"find"}, "ttl": "1h"}, "none of your roles"},
		{"deny rule", eng, map[string]any{"database": "app", "collections": []string{"orders", "payroll"}, "actions": []string{"find"}, "ttl": "1h"}, "denies collection payroll"},
		{"action outside the rule", analyst, map[string]any{"database": "app", "collections": []string{"orders"}, "actions": []string{"insert"}, "ttl": "1h"}, "action insert is not allowed"},
		{"collection outside the rule", analyst, map[string]any{"database": "app", "collections": []string{"users"}, "actions": []string{"find"}, "ttl": "1h"}, "collection users is not allowed"},
		{"database outside the rule", intern, map[string]any{"database": "billing", "collections": []string{"orders"}, "actions": []string{"find"}, "ttl": "1h"}, "database billing is not allowed"},
		{"network outside the rule", analyst, map[string]any{"database": "app", "collections": []string{"orders"}, "actions": []string{"find"}, "ttl": "1h", "client_source": []string{"192.168.0.0/16"}}, "outside the allowed networks"},
		{"proxy's own collection", eng, map[string]any{"database": "app", "collections": []string{"pm_api_keys"}, "role": "readWrite", "ttl": "1h"}, "reserved for the proxy"},
		{"admin database", eng, map[string]any{"database": "admin", "collections": []string{"x"}, "role": "read", "ttl": "1h"}, "cannot be granted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := g.do("POST", "/grants", c.key, c.body)
			expect(t, r, 403, "FORBIDDEN")
			if msg := errMessage(t, r); !strings.Contains(msg, c.why) {
				t.Fatalf("refusal %q does not say %q", msg, c.why)
			}
		})
	}
	if n := g.ledgerCount(t); n != 0 {
		t.Fatalf("%d ledger entries written for refused requests", n)
	}
}

// Malformed requests are 400 and say what is wrong.
func TestGrantIssueBadRequests(t *testing.T) {
	g := newGrantEnv(t)
	eng := g.user("e1", "t1", "engineer")
	ok := `"database":"app","collections":["orders"]`
	cases := []struct{ name, body, why string }{
		{"bad CIDR", `{` + ok + `,"actions":["find"],"ttl":"1h","client_source":["10.0.0.0/99"]}`, "not an IP address or CIDR"},
		{"unknown action", `{` + ok + `,"actions":["dropDatabase"],"ttl":"1h"}`, "cannot be granted"},
		{"cluster action", `{` + ok + `,"actions":["createUser"],"ttl":"1h"}`, "cannot be granted"},
		{"missing ttl", `{` + ok + `,"actions":["find"]}`, `"ttl" is required`},
		{"bad ttl", `{` + ok + `,"actions":["find"],"ttl":"soon"}`, "not a positive duration"},
		{"negative ttl", `{` + ok + `,"actions":["find"],"ttl":"-1h"}`, "not a positive duration"},
		{"bad JSON", `{` + ok + `,"actions":["find"],"ttl":"1h"`, ""},
		{"unknown field", `{` + ok + `,"actions":["find"],"ttl":"1h","mode":"view"}`, `unknown member "mode"`},
		{"no actions nor role", `{` + ok + `,"ttl":"1h"}`, "actions or role is required"},
		{"role and actions", `{` + ok + `,"role":"read","actions":["find"],"ttl":"1h"}`, "either role or actions"},
		{"unknown role shorthand", `{` + ok + `,"role":"dbOwner","ttl":"1h"}`, "not read or readWrite"},
		{"collections not a list", `{"database":"app","collections":"orders","actions":["find"],"ttl":"1h"}`, "array of strings"},
		{"no collections", `{"database":"app","collections":[],"actions":["find"],"ttl":"1h"}`, "collections are required"},
		{"missing database", `{"collections":["orders"],"actions":["find"],"ttl":"1h"}`, `"database" is required`},
		{"ttl a number", `{` + ok + `,"actions":["find"],"ttl":3600}`, "must be a string"},
		{"system collection", `{"database":"app","collections":["system.users"],"actions":["find"],"ttl":"1h"}`, "not a collection a grant can name"},
		{"empty body", ``, "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := g.doCT("POST", "/grants", eng, c.body, "application/json")
			expect(t, r, 400, "BAD_REQUEST")
			if msg := errMessage(t, r); !strings.Contains(msg, c.why) {
				t.Fatalf("refusal %q does not say %q", msg, c.why)
			}
		})
	}
	expect(t, g.doCT("POST", "/grants", eng, `{}`, "text/plain"), 400, "BAD_REQUEST")
	expect(t, g.do("POST", "/grants?x=1", eng, map[string]any{"database": "app"}), 400, "BAD_REQUEST")
	if n := g.ledgerCount(t); n != 0 {
		t.Fatalf("%d ledger entries written for bad requests", n)
	}
}

func TestGrantEndpointsNeedAuthentication(t *testing.T) {
	g := newGrantEnv(t)
	for _, rt := range [][2]string{{"POST", "/grants"}, {"GET", "/grants"}, {"GET", "/grants/abc"}, {"POST", "/grants/abc/renew"}, {"DELETE", "/grants/abc"}} {
		expect(t, g.do(rt[0], rt[1], "", map[string]any{"ttl": "1h"}), 401, "UNAUTHENTICATED")
		expect(t, g.do(rt[0], rt[1], "pm_nope_nope", map[string]any{"ttl": "1h"}), 401, "UNAUTHENTICATED")
	}
}

func TestGrantUnknownIDs(t *testing.T) {
	g := newGrantEnv(t)
	a := g.user("a1", "t1", "analyst")
	admin := g.user("root", "t1", "admin")
	r := g.do("GET", "/grants", a, nil)
	expect(t, r, 200, "")
	if l := r.list(t); len(l) != 0 {
		t.Fatalf("a caller with no grants sees %s", r.Body)
	}
	for _, key := range []string{a, admin} {
		id := grant.NewID()
		expect(t, g.do("GET", "/grants/"+id, key, nil), 404, "NOT_FOUND")
		expect(t, g.do("DELETE", "/grants/"+id, key, nil), 404, "NOT_FOUND")
		expect(t, g.do("POST", "/grants/"+id+"/renew", key, map[string]any{"ttl": "1h"}), 404, "NOT_FOUND")
		expect(t, g.do("GET", "/grants/not-even-hex", key, nil), 404, "NOT_FOUND")
	}
}

// seedGrant writes a ledger record directly into the real ledger
// collection, as Manager.Issue would have left it.
func (g *grantEnv) seedGrant(t *testing.T, owner, tenant, status string, expiresIn time.Duration) *grant.Record {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	id := grant.NewID()
	rec := &grant.Record{
		ID: id, Owner: owner, Tenant: tenant, Database: "app", Collections: []string{"orders"}, Actions: []string{"find"},
		ClientSource: []string{"10.0.0.0/8"}, Username: grant.UserPrefix + id, RoleName: grant.RolePrefix + id,
		Rule: "analyst", Status: status, CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(expiresIn),
		MaxExpiresAt: now.Add(-time.Minute + 24*time.Hour), MaxTTL: 24 * time.Hour,
	}
	if _, err := g.db.Collection(ledgerCollection).InsertOne(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func grantIDs(t *testing.T, r resp) []string {
	t.Helper()
	var out []string
	for _, x := range r.list(t) {
		out = append(out, x.(map[string]any)["grant_id"].(string))
	}
	return out
}

// Who sees which grant: the owner (same id and tenant), holders of
// grants.admin; for everyone else a grant does not exist. No answer carries a
// password.
func TestGrantVisibility(t *testing.T) {
	g := newGrantEnv(t)
	owner := g.user("u1", "t1", "analyst")
	other := g.user("u2", "t1", "analyst")
	sameIDOtherTenant := g.user("u1", "t2", "analyst")
	admin := g.user("root", "t1", "admin")

	mine := g.seedGrant(t, "u1", "t1", grant.Active, time.Hour)
	revoked := g.seedGrant(t, "u1", "t1", grant.Revoked, -time.Hour)
	theirs := g.seedGrant(t, "u2", "t1", grant.Active, time.Hour)
	orphan := g.seedGrant(t, "", "", grant.Pending, time.Hour) // as a crash might leave it

	r := g.do("GET", "/grants", owner, nil)
	expect(t, r, 200, "")
	noPassword(t, r)
	if ids := grantIDs(t, r); len(ids) != 2 || !contains(ids, mine.ID) || !contains(ids, revoked.ID) {
		t.Fatalf("owner lists %v", ids)
	}
	r = g.do("GET", "/grants", other, nil)
	expect(t, r, 200, "")
	if ids := grantIDs(t, r); len(ids) != 1 || ids[0] != theirs.ID {
		t.Fatalf("other user lists %v", ids)
	}
	r = g.do("GET", "/grants", sameIDOtherTenant, nil)
	expect(t, r, 200, "")
	if ids := grantIDs(t, r); len(ids) != 0 {
		t.Fatalf("same id in another tenant lists %v", ids)
	}
	r = g.do("GET", "/grants", admin, nil)
	expect(t, r, 200, "")
	noPassword(t, r)
	if ids := grantIDs(t, r); len(ids) != 4 || !contains(ids, orphan.ID) {
		t.Fatalf("grants.admin lists %v", ids)
	}

	// One grant: the owner and grants.admin see it, everyone else gets the
	// same 404 as for a grant that does not exist.
	r = g.do("GET", "/grants/"+mine.ID, owner, nil)
	expect(t, r, 200, "")
	noPassword(t, r)
	d := r.data(t)
	if d["grant_id"] != mine.ID || d["status"] != "active" || d["username"] != mine.Username || d["auth_source"] != "app" ||
		d["expired"] != false || d["expires_at"] != mine.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Fatalf("owner reads %s", r.Body)
	}
	if privs, _ := d["privileges"].([]any); len(privs) != 1 {
		t.Fatalf("privileges %s", r.Body)
	}
	expect(t, g.do("GET", "/grants/"+mine.ID, admin, nil), 200, "")
	for _, key := range []string{other, sameIDOtherTenant} {
		expect(t, g.do("GET", "/grants/"+mine.ID, key, nil), 404, "NOT_FOUND")
		expect(t, g.do("DELETE", "/grants/"+mine.ID, key, nil), 404, "NOT_FOUND")
		expect(t, g.do("POST", "/grants/"+mine.ID+"/renew", key, map[string]any{"ttl": "1h"}), 404, "NOT_FOUND")
	}
	if st := g.status(t, mine.ID); st != grant.Active {
		t.Fatalf("a refused caller changed the grant: %s", st)
	}

	// An expired grant the reaper has not dropped yet says so.
	late := g.seedGrant(t, "u1", "t1", grant.Active, -time.Minute)
	r = g.do("GET", "/grants/"+late.ID, owner, nil)
	expect(t, r, 200, "")
	if r.data(t)["expired"] != true {
		t.Fatalf("expired grant %s", r.Body)
	}
	expect(t, g.do("GET", "/grants/"+late.ID+"?x=1", owner, nil), 400, "BAD_REQUEST")
}

func (g *grantEnv) status(t *testing.T, id string) string {
	t.Helper()
	return g.raw(ledgerCollection, id)["status"].(string)
}

// Revocation is idempotent: a grant already revoked answers 200 again, and
// grants.admin may revoke anyone's grant.
func TestGrantRevoke(t *testing.T) {
	g := newGrantEnv(t)
	owner := g.user("u1", "t1", "analyst")
	admin := g.user("root", "t1", "admin")
	revoked := g.seedGrant(t, "u1", "t1", grant.Revoked, time.Hour)
	for _, key := range []string{owner, owner, admin} {
		r := g.do("DELETE", "/grants/"+revoked.ID, key, nil)
		expect(t, r, 200, "")
		if d := r.data(t); d["revoked"] != true || d["grant_id"] != revoked.ID {
			t.Fatalf("revoke answered %s", r.Body)
		}
	}

	// An active grant: on a backend that manages users, the user and role
	// are dropped (already gone counts as dropped); on one that does not,
	// the answer names the missing capability.
	active := g.seedGrant(t, "u1", "t1", grant.Active, time.Hour)
	r := g.do("DELETE", "/grants/"+active.ID, admin, nil)
	noPassword(t, r)
	if g.m.Missing == "" {
		expect(t, r, 200, "")
		expect(t, g.do("DELETE", "/grants/"+active.ID, owner, nil), 200, "")
		if st := g.status(t, active.ID); st != grant.Revoked {
			t.Fatalf("status %s after revoke", st)
		}
		return
	}
	expect(t, r, 501, "NOT_SUPPORTED")
	if d, _ := r.json(t)["error"].(map[string]any)["details"].(map[string]any); d["capability"] != g.m.Missing {
		t.Fatalf("501 does not name the capability: %s", r.Body)
	}
}

// Renewal: only the owner, only an active, unexpired grant, only while the
// policy still allows it; a bad ttl is a 400.
func TestGrantRenew(t *testing.T) {
	g := newGrantEnv(t)
	owner := g.user("u1", "t1", "analyst")
	demoted := g.user("u1", "t1", "nobody") // the same person after a role change
	admin := g.user("root", "t1", "admin")
	active := g.seedGrant(t, "u1", "t1", grant.Active, time.Hour)
	revoked := g.seedGrant(t, "u1", "t1", grant.Revoked, time.Hour)
	late := g.seedGrant(t, "u1", "t1", grant.Active, -time.Minute)

	for _, body := range []string{`{}`, `{"ttl":"later"}`, `{"ttl":"0s"}`, `{"ttl":"1h","extra":1}`, `{"ttl":`} {
		expect(t, g.doCT("POST", "/grants/"+active.ID+"/renew", owner, body, "application/json"), 400, "BAD_REQUEST")
	}
	r := g.do("POST", "/grants/"+active.ID+"/renew", admin, map[string]any{"ttl": "1h"})
	expect(t, r, 403, "FORBIDDEN")
	r = g.do("POST", "/grants/"+active.ID+"/renew", demoted, map[string]any{"ttl": "1h"})
	expect(t, r, 403, "FORBIDDEN")
	if !strings.Contains(errMessage(t, r), "none of your roles") {
		t.Fatalf("refusal does not say why: %s", r.Body)
	}
	expect(t, g.do("POST", "/grants/"+revoked.ID+"/renew", owner, map[string]any{"ttl": "1h"}), 409, "CONFLICT")
	expect(t, g.do("POST", "/grants/"+late.ID+"/renew", owner, map[string]any{"ttl": "1h"}), 409, "CONFLICT")

	r = g.do("POST", "/grants/"+active.ID+"/renew", owner, map[string]any{"ttl": "720h"})
	noPassword(t, r)
	if g.m.Missing != "" {
		expect(t, r, 501, "NOT_SUPPORTED")
		if got := g.raw(ledgerCollection, active.ID)["expires_at"].(bson.DateTime).Time(); !got.Equal(active.ExpiresAt) {
			t.Fatalf("expiry moved to %v on a backend that cannot renew", got)
		}
		return
	}
	// On a server that manages users, the seeded grant has no user behind
	// it; a real renewal is TestRealServerGrantLifecycle's business.
	t.Skip("capabilities user_management and custom_roles present: a grant seeded in the ledger has no real user to renew; internal/grant TestRealServerGrantLifecycle renews real ones")
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
