package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

func TestSpecExampleLoadsUnchanged(t *testing.T) {
	s, err := Load("testdata/spec_example.yml")
	require.NoError(t, err)
	require.Contains(t, s.Collections, "employees")
	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"employee"}}
	d := s.Decide(p.Roles, p, "employees", Read, time.Now())
	require.True(t, d.Granted)
	require.Equal(t, when.Conditional, d.State)
	t.Log(d.Filter().String())
}

func TestLoadErrorsAllAtOnce(t *testing.T) {
	src := `version: "1"
roles:
  a: {inherits: [b]}
  b: {inherits: [a]}
  c: {bogus: 1}
policies:
  things:
    c:
      actions: [read, fly]
      when: "resource.x == user.nope"
      fields:
        mask: {email: sparkle}
    ghost: {actions: [read]}
grants:
  c: {databases: [app], collections: [x], actions: [dropDatabase], max_ttl: forever}
extra: 1
defaults: {strict_roles: true}
`
	_, err := Parse(map[string][]byte{"p.yml": []byte(src)})
	require.Error(t, err)
	var le *LoadError
	require.ErrorAs(t, err, &le)
	msg := le.Error()
	t.Log(msg)
	for _, want := range []string{
		"p.yml:3:", "cycle", "p.yml:5:", `unknown key "bogus"`, `unknown action "fly"`,
		"p.yml:10:", "unknown variable user.nope", `unknown mask type "sparkle"`, `unknown role "ghost"`,
		`"dropDatabase" is not a grantable`, "max_ttl", `unknown key "extra"`,
	} {
		require.Contains(t, msg, want)
	}
	require.GreaterOrEqual(t, len(le.Problems), 9)
}

func TestWhenErrorColumn(t *testing.T) {
	src := "roles: {r: {}}\npolicies:\n  c:\n    r:\n      actions: [read]\n      when: \"resource.a == 1 && resource.b > resource.c\"\n"
	_, err := Parse(map[string][]byte{"x.yml": []byte(src)})
	require.Error(t, err)
	// The error points into the expression, at the offending operand.
	require.True(t, strings.HasPrefix(err.Error(), "x.yml:6:"), err.Error())
	require.Contains(t, err.Error(), "two document fields")
}

func TestFieldsPerDocument(t *testing.T) {
	src := `roles: {emp: {}, hr: {}}
policies:
  people:
    emp:
      actions: [read]
      when: "resource.owner == user.id"
      fields: {deny: [ssn], mask: {email: email}}
    hr:
      actions: [read]
      when: "resource.dept == 'hr'"
`
	s, err := Parse(map[string][]byte{"p.yml": []byte(src)})
	require.NoError(t, err)
	p := &principal.Principal{ID: "u1", Roles: []string{"emp", "hr"}}
	d := s.Decide(p.Roles, p, "people", Read, time.Now())
	own, _ := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "owner", Value: "u1"}, {Key: "dept", Value: "eng"}, {Key: "ssn", Value: "1"}, {Key: "email", Value: "ab@x.io"}})
	hrdoc, _ := bson.Marshal(bson.D{{Key: "_id", Value: 2}, {Key: "owner", Value: "u2"}, {Key: "dept", Value: "hr"}, {Key: "ssn", Value: "2"}, {Key: "email", Value: "cd@x.io"}})
	got, err := d.FieldsFor(own).Apply(own)
	require.NoError(t, err)
	require.Equal(t, `{"_id": {"$numberInt":"1"},"owner": "u1","dept": "eng","email": "a*@x.io"}`, got.String())
	got, err = d.FieldsFor(hrdoc).Apply(hrdoc)
	require.NoError(t, err)
	require.Contains(t, got.String(), `"ssn": "2"`)
	// ssn is hidden under one granting role: never filterable.
	require.False(t, d.Readable("ssn"))
	require.False(t, d.Readable("email"))
	require.True(t, d.Readable("dept"))
}

func TestStrictFields(t *testing.T) {
	src := `policies:
  c:
    a: {actions: [aggregate], when: "resource.x == 1", fields: {allow: [name, address, email], mask: {email: email}}}
    b: {actions: [aggregate], when: "resource.x == 2", fields: {allow: [name, address.city], deny: [name.secret]}}
`
	s, err := Parse(map[string][]byte{"p.yml": []byte(src)})
	require.NoError(t, err)
	p := &principal.Principal{ID: "u", Roles: []string{"a", "b"}}
	f := s.Decide(p.Roles, p, "c", Aggregate, time.Now()).StrictFields()
	require.Equal(t, []string{"address.city", "name"}, f.Allow)
	require.Equal(t, []string{"name.secret"}, f.Deny)
	require.Equal(t, map[string]string{"email": "email"}, f.Mask)
}

// TestPermissionMongoFilesLoad: files written for Permission Mongo say
// version "1.0" and list _id in deny_write; both load, _id is dropped from
// deny_write (it cannot be written anyway) and the other entries stay.
func TestPermissionMongoFilesLoad(t *testing.T) {
	src := `version: "1.0"
policies:
  employees:
    hr:
      actions: [create, read, update]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny_write: [_id, tenant_id, salary]
`
	s, err := Parse(map[string][]byte{"p.yml": []byte(src)})
	require.NoError(t, err)
	require.Equal(t, "1", s.Version)
	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"hr"}}
	d := s.Decide(p.Roles, p, "employees", Update, time.Now())
	require.True(t, d.Granted)
	require.Len(t, s.Collections["employees"].Rules, 1)
	require.Equal(t, []string{"tenant_id", "salary"}, s.Collections["employees"].Rules[0].Fields.DenyWrite)

	for _, v := range []string{`"1"`, `1`, `"1.0"`, `1.0`} {
		_, err := Parse(map[string][]byte{"p.yml": []byte("version: " + v + "\n")})
		require.NoError(t, err, "version %s", v)
	}
	for _, v := range []string{`"2"`, `"1.1"`, `"v1"`, `[1]`} {
		_, err := Parse(map[string][]byte{"p.yml": []byte("version: " + v + "\n")})
		require.Error(t, err, "version %s", v)
	}
	// _id stays refused where it would mean something: hiding or masking it.
	for _, rule := range []string{"deny: [_id]", "mask: {_id: email}"} {
		_, err := Parse(map[string][]byte{"p.yml": []byte(`version: "1.0"
policies:
  employees:
    hr:
      actions: [read]
      fields: {` + rule + `}
`)})
		require.Error(t, err, rule)
	}
}
