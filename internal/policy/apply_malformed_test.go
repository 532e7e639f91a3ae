package policy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// View.Apply walks the stored document itself (no slice of elements): every
// document that bson.Raw.Elements refuses, it must refuse too, never answer
// with part of it or panic. The documents are an employee cut short at every
// length and with every byte of its header and first element flipped.
func TestApplyRefusesWhatElementsRefuses(t *testing.T) {
	s, err := Parse(map[string][]byte{"bench.yml": []byte(benchPolicy)})
	require.NoError(t, err)
	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"employee"}}
	doc, err := bson.Marshal(bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "tenant_id", Value: "t1"},
		{Key: "owner", Value: "u1"}, {Key: "email", Value: "e1@example.com"}, {Key: "ssn", Value: "123-45-6789"},
		{Key: "public", Value: true}, {Key: "salary", Value: int32(50001)}})
	require.NoError(t, err)
	v := s.Decide(p.Roles, p, "employees", Read, time.Now()).FieldsFor(doc)
	require.NotNil(t, v)
	require.False(t, v.AllVisible(), "the view must rewrite the document for this test to mean anything")

	got, err := v.Apply(doc)
	require.NoError(t, err)
	require.Nil(t, got.Lookup("ssn").Value, "ssn is denied")
	require.Equal(t, "u1", got.Lookup("owner").StringValue())

	var bad []bson.Raw
	for n := 0; n < len(doc); n++ {
		bad = append(bad, append(bson.Raw(nil), doc[:n]...))
	}
	for i := 0; i < 30; i++ {
		m := append(bson.Raw(nil), doc...)
		m[i] ^= 0xff
		bad = append(bad, m)
	}
	refused := 0
	for _, m := range bad {
		if _, err := m.Elements(); err == nil {
			continue
		}
		refused++
		out, err := v.Apply(m)
		require.Errorf(t, err, "Apply answered %x for a document Elements refuses", []byte(out))
		require.Nil(t, out)
	}
	require.Greater(t, refused, len(doc)/2, "most mutations must be malformed")
}
