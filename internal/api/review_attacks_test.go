package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Attacks found by review of the enforcement path; each must fail.

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

// Writes that reach below a hidden, masked or deny_write field through an
// array index or a positional operator are refused with 403 before anything
// is sent to the database, on the single and the batch endpoint, and the
// answer is the same whether the field holds a scalar, an array or nothing
// (issue: these used to be 500 for a scalar and 200 for an absent field,
// and the 200 wrote into the hidden field).
func TestAttackWritesBelowProtectedFieldsThroughIndexes(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", "t1", "employee")
	// Twins that differ only in what alice cannot see or write: ssn (hidden),
	// email (masked), salary (deny_write), profile.secret (hidden),
	// profile.level (deny_write).
	twins := []bson.D{
		D("_id", "scalar", "tenant_id", "t1", "owner", "alice", "name", "A", "tags", bson.A{"x", "y"},
			"ssn", "123-45", "email", "alice@example.com", "salary", 100,
			"profile", D("title", "dev", "secret", "s", "level", 1)),
		D("_id", "absent", "tenant_id", "t1", "owner", "alice", "name", "A", "tags", bson.A{"x", "y"},
			"profile", D("title", "dev")),
		D("_id", "array", "tenant_id", "t1", "owner", "alice", "name", "A", "tags", bson.A{"x", "y"},
			"ssn", bson.A{"1", "2"}, "email", bson.A{"a@example.com"}, "salary", bson.A{1, 2},
			"profile", D("title", "dev", "secret", bson.A{"s"}, "level", bson.A{1})),
	}
	e.insert("employees", twins...)
	before := map[string]bson.M{}
	for _, d := range twins {
		id := d[0].Value.(string)
		before[id] = e.raw("employees", id)
	}

	attacks := []string{
		// hidden
		`{"$set": {"ssn.0": "x"}}`,
		`{"$set": {"ssn.$": "x"}}`,
		`{"$set": {"ssn.$[]": "x"}}`,
		`{"$set": {"ssn.$[x]": "x"}}`,
		`{"$set": {"ssn.0.a": "x"}}`,
		`{"$set": {"ssn.1.0": "x"}}`,
		`{"ssn.0": "x"}`,
		`{"$unset": {"ssn.0": ""}}`,
		`{"$unset": {"ssn.$[]": ""}}`,
		`{"$rename": {"name": "ssn.0"}}`,
		`{"$rename": {"name": "ssn.a"}}`,
		`{"$currentDate": {"ssn.0": true}}`,
		`{"$currentDate": {"ssn.$[]": {"$type": "timestamp"}}}`,
		`{"$inc": {"ssn.0": 1}}`,
		`{"$push": {"ssn.0": 1}}`,
		`{"$pop": {"ssn.$[]": 1}}`,
		`{"$set": {"profile.secret.0": "x"}}`,
		`{"$set": {"profile.secret.$[]": "x"}}`,
		`{"$min": {"profile.secret.0": 1}}`,
		// masked
		`{"$set": {"email.0": "x"}}`,
		`{"$set": {"email.$[]": "x"}}`,
		`{"$set": {"email.$[e]": "x"}}`,
		`{"$rename": {"name": "email.1"}}`,
		`{"$currentDate": {"email.0": true}}`,
		`{"$unset": {"email.0": ""}}`,
		// deny_write
		`{"$set": {"salary.0": 1}}`,
		`{"$set": {"salary.$[]": 1}}`,
		`{"$set": {"salary.$": 1}}`,
		`{"$rename": {"name": "salary.0"}}`,
		`{"$currentDate": {"salary.0": true}}`,
		`{"$unset": {"salary.0": ""}}`,
		`{"$set": {"profile.level.0": 1}}`,
		`{"$set": {"profile.level.$[]": 1}}`,
		`{"$unset": {"owner.0": ""}}`,
	}
	for _, body := range attacks {
		t.Run(body, func(t *testing.T) {
			var first string
			for _, d := range twins {
				id := d[0].Value.(string)
				r := e.do("PATCH", "/collections/employees/"+id, alice, body)
				expect(t, r, 403, "FORBIDDEN")
				errJSON, _ := json.Marshal(r.json(t)["error"]) // without the request id
				if first == "" {
					first = string(errJSON)
				} else if string(errJSON) != first {
					t.Fatalf("the answer depends on the stored document:\n%s\n%s", first, errJSON)
				}
			}
			for _, sel := range []string{`"filter": {"owner": "alice"}`, `"ids": ["scalar", "absent", "array"]`} {
				r := e.do("PATCH", "/collections/employees/batch", alice, `{`+sel+`, "update": `+body+`}`)
				expect(t, r, 403, "FORBIDDEN")
			}
		})
	}
	for id, want := range before {
		if got := e.raw("employees", id); !reflect.DeepEqual(got, want) {
			t.Errorf("document %s changed:\nbefore %v\nafter  %v", id, want, got)
		}
	}

	// Indexes and positional operators on fields alice may write still work.
	expect(t, e.do("PATCH", "/collections/employees/scalar", alice, `{"$set": {"tags.0": "z"}}`), 200, "")
	expect(t, e.do("PATCH", "/collections/employees/array", alice, `{"$set": {"tags.0": "q"}}`), 200, "")
	r := e.do("PATCH", "/collections/employees/batch", alice, `{"filter": {"name": "A"}, "update": {"$set": {"tags.1": "w"}}}`)
	expect(t, r, 200, "")
	if got := fmt.Sprint(r.data(t)["modified"]); got != "3" {
		t.Fatalf("batch modified %s documents, want 3: %s", got, r.Body)
	}
	tags := func(id string) string {
		b, _ := json.Marshal(e.raw("employees", id)["tags"])
		return string(b)
	}
	if tags("scalar") != `["z","w"]` || tags("array") != `["q","w"]` || tags("absent") != `["x","w"]` {
		t.Fatalf("allowed positional writes: %s %s %s", tags("scalar"), tags("array"), tags("absent"))
	}
	// And none of them touched a protected field.
	for id, want := range before {
		got := e.raw("employees", id)
		for _, f := range []string{"ssn", "email", "salary", "profile", "owner"} {
			if !reflect.DeepEqual(got[f], want[f]) {
				t.Errorf("%s.%s changed: %v -> %v", id, f, want[f], got[f])
			}
		}
	}
}
