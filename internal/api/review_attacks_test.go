package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Attacks found by review of the enforcement path; each must fail.

// A restore must not bring another scope's old content into a document the
// caller can read, even when keepDenied would put the caller's tenant back.
func TestAttackRestoreOfAnotherScopesVersion(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	e.insert("docs", D("_id", "m", "tenant_id", "t1", "title", "now", "locked", "L"))
	raw, _ := bson.Marshal(D("_id", "m", "tenant_id", "t2", "title", "t2-confidential-text", "locked", "L"))
	_, err := e.vers.Save(context.Background(), "docs", "m", raw, "update", "admin", time.Now())
	require.NoError(t, err)

	r := e.req("POST", "/collections/docs/m/versions/1/restore", ann, "", nil)
	expect(t, r, 404, "NOT_FOUND")
	require.NotContains(t, string(r.Body), "t2-confidential-text")
	require.Equal(t, "now", e.raw("docs", "m")["title"], "the document is unchanged")

	// Nor is the other scope's version listed.
	list := e.req("GET", "/collections/docs/m/versions", ann, "", nil).list(t)
	require.Empty(t, list, "a version of another tenant is not listed")
}

// Value-dependent update operators on a masked or hidden field are refused:
// their result ($addToSet adds only what is absent) or their failure ($inc
// on a string) would reveal the value.
func TestAttackUpdateOperatorsAsOracles(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", "t1", "employee")
	e.insert("employees", D("_id", "x1", "tenant_id", "t1", "owner", "alice", "email", bson.A{"alice.private@corp.com"},
		"ssn", "123", "profile", D("secret", "s", "title", "dev")))
	for name, body := range map[string]any{
		"addToSet on masked":     map[string]any{"$addToSet": map[string]any{"email": "alice.private@corp.com"}},
		"pullAll on masked":      map[string]any{"$pullAll": map[string]any{"email": []string{"x"}}},
		"push on masked":         map[string]any{"$push": map[string]any{"email": "x"}},
		"inc on hidden":          map[string]any{"$inc": map[string]any{"ssn": 0}},
		"max on hidden":          map[string]any{"$max": map[string]any{"ssn": "0"}},
		"set below hidden":       map[string]any{"$set": map[string]any{"profile.secret.x": 1}},
		"merge below hidden":     map[string]any{"ssn.x": 1},
		"set below masked array": map[string]any{"$set": map[string]any{"email.x": 1}},
	} {
		r := e.do("PATCH", "/collections/employees/x1", alice, body)
		if r.Status != 403 {
			t.Errorf("%s: want 403, got %d %s", name, r.Status, r.Body)
		}
	}
	stored := e.raw("employees", "x1")
	require.Equal(t, "123", stored["ssn"])
	// Blind writes of readable fields still work.
	expect(t, e.do("PATCH", "/collections/employees/x1", alice, map[string]any{"$set": map[string]any{"profile.title": "lead"}}), 200, "")
}

// A GET-then-PUT round trip must not delete hidden fields nor store the
// mask's text over the real value.
func TestAttackPutRoundTripKeepsWhatTheCallerCannotRead(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", "t1", "employee")
	e.insert("employees", D("_id", "e1", "tenant_id", "t1", "owner", "alice", "name", "Alice",
		"email", "alice@example.com", "ssn", "123-45", "profile", D("secret", "s", "title", "dev")))
	got := e.do("GET", "/collections/employees/e1", alice, nil)
	expect(t, got, 200, "")
	body := got.data(t)
	require.NotContains(t, body, "ssn")
	require.NotEqual(t, "alice@example.com", body["email"])
	body["name"] = "Alice A."
	expect(t, e.do("PUT", "/collections/employees/e1", alice, body), 200, "")
	stored := e.raw("employees", "e1")
	require.Equal(t, "Alice A.", stored["name"], "the visible change is written")
	require.Equal(t, "123-45", stored["ssn"], "hidden field kept")
	require.Equal(t, "alice@example.com", stored["email"], "masked field kept, not overwritten with the mask")
	profile, _ := bson.Marshal(stored["profile"])
	require.Equal(t, "s", bson.Raw(profile).Lookup("secret").StringValue(), "hidden sub-field kept")
}
