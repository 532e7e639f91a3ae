package policy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Rules below an array apply through any nesting of arrays: deny, mask and
// allow lists alike, and paths written with indexes or positional operators
// are judged as the field they name.
func TestFieldRulesInsideArraysOfArrays(t *testing.T) {
	src := `roles: {r: {}, a: {}}
policies:
  boards:
    r:
      actions: [read, update]
      fields: {deny: [grid.secret], mask: {grid.email: redact}, deny_write: [grid.locked]}
  lists:
    a:
      actions: [read]
      fields: {allow: [grid.name]}
`
	s, err := Parse(map[string][]byte{"p.yml": []byte(src)})
	require.NoError(t, err)
	cell := func(n string) bson.D {
		return bson.D{{Key: "secret", Value: "S"}, {Key: "email", Value: "e@x.io"}, {Key: "name", Value: n}}
	}
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "grid", Value: bson.A{
		bson.A{cell("a"), bson.A{bson.A{cell("b")}}, "x"},
		cell("c"),
		bson.A{},
	}}})

	p := &principal.Principal{ID: "u", Roles: []string{"r"}}
	d := s.Decide(p.Roles, p, "boards", Read, time.Now())
	got, err := d.FieldsFor(doc).Apply(doc)
	require.NoError(t, err)
	want := `{"_id": {"$numberInt":"1"},"grid": [[{"email": "****","name": "a"},[[{"email": "****","name": "b"}]],"x"],{"email": "****","name": "c"},[]]}`
	require.Equal(t, want, got.String())

	for _, path := range []string{"grid.secret", "grid.0.0.secret", "grid.$[].$[x].secret", "grid.0.1.0.0.email", "grid.email.0", "grid"} {
		require.False(t, d.Readable(path), path)
	}
	require.True(t, d.Readable("grid.0.1.0.0.name"))
	require.True(t, d.Opaque("grid.1.0.secret"))
	require.False(t, d.Opaque("grid.0"))

	u := s.Decide(p.Roles, p, "boards", Update, time.Now())
	for _, path := range []string{"grid.0.0.locked", "grid.$[].$[].locked", "grid.0", "grid"} {
		_, denied := u.WriteDeniedFor(doc, []string{path})
		require.True(t, denied, path)
	}
	_, denied := u.WriteDeniedFor(doc, []string{"grid.0.0.name"})
	require.False(t, denied)

	// An allow list reaches through the same nesting.
	pa := &principal.Principal{ID: "u", Roles: []string{"a"}}
	da := s.Decide(pa.Roles, pa, "lists", Read, time.Now())
	got, err = da.FieldsFor(doc).Apply(doc)
	require.NoError(t, err)
	require.Equal(t, `{"_id": {"$numberInt":"1"},"grid": [[{"name": "a"},[[{"name": "b"}]]],{"name": "c"},[]]}`, got.String())
}

// BenchmarkApplyFieldRules measures the read-side cost of field rules on a
// typical document (hidden, masked and visible fields, an array of
// documents).
func BenchmarkApplyFieldRules(b *testing.B) {
	src := `roles: {r: {}}
policies:
  people:
    r:
      actions: [read]
      fields: {deny: [ssn, profile.secret, items.cost], mask: {email: email, items.note: redact}}
`
	s, err := Parse(map[string][]byte{"p.yml": []byte(src)})
	require.NoError(b, err)
	p := &principal.Principal{ID: "u", Roles: []string{"r"}}
	d := s.Decide(p.Roles, p, "people", Read, time.Now())
	items := bson.A{}
	for i := 0; i < 10; i++ {
		items = append(items, bson.D{{Key: "sku", Value: "x"}, {Key: "cost", Value: i}, {Key: "note", Value: "n"}, {Key: "qty", Value: i}})
	}
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "n"}, {Key: "ssn", Value: "1"},
		{Key: "email", Value: "a@b.c"}, {Key: "profile", Value: bson.D{{Key: "secret", Value: "s"}, {Key: "title", Value: "t"}}},
		{Key: "items", Value: items}, {Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "c", Value: 3}})
	v := d.FieldsFor(doc)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Apply(doc); err != nil {
			b.Fatal(err)
		}
	}
}
