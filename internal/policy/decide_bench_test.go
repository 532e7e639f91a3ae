package policy

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// A typical three-role policy: a caller holding all three roles makes every
// rule contribute to the filter.
const benchPolicy = `roles: {employee: {}, manager: {inherits: [employee]}, auditor: {}}
policies:
  employees:
    employee:
      actions: [read, update]
      when: "resource.tenant_id == user.tenant_id && (resource.owner == user.id || resource.public == true)"
      fields: {deny: [ssn], mask: {email: email}}
    manager:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && resource.department in user.claims.departments"
    auditor:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && resource.status != 'draft'"
`

func BenchmarkDecideFilter3Roles(b *testing.B) {
	s, err := Parse(map[string][]byte{"bench.yml": []byte(benchPolicy)})
	if err != nil {
		b.Fatal(err)
	}
	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"manager", "auditor"},
		Claims: map[string]any{"departments": []any{"eng", "ops"}}}
	now := time.Now()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := s.Decide(p.Roles, p, "employees", Read, now)
		f := d.AppendFilter(buf[:0])
		if len(f) == 0 {
			b.Fatal("no filter")
		}
	}
}

// BenchmarkShowDocument: what a read does per document it shows, the field
// rules of the matched roles found (FieldsFor) and applied (deny ssn, mask
// email) to one stored employee: "page" with one decision for many
// documents, "get" with a decision per document.
func BenchmarkShowDocument(b *testing.B) {
	s, err := Parse(map[string][]byte{"bench.yml": []byte(benchPolicy)})
	if err != nil {
		b.Fatal(err)
	}
	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"employee"}}
	doc, err := bson.Marshal(bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "tenant_id", Value: "t1"},
		{Key: "owner", Value: "u1"}, {Key: "name", Value: "Employee 1"}, {Key: "email", Value: "e1@example.com"},
		{Key: "ssn", Value: "123-45-6789"}, {Key: "public", Value: true}, {Key: "salary", Value: int32(50001)}})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	d := s.Decide(p.Roles, p, "employees", Read, now)
	b.Run("page", func(b *testing.B) { showDocument(b, d, doc) })
	// A GET: the decision is made for the request, then the one document
	// is shown.
	b.Run("get", func(b *testing.B) {
		showDocument(b, nil, doc, func() *Decision { return s.Decide(p.Roles, p, "employees", Read, now) })
	})
}

// showDocument shows doc b.N times through d, or through a new decision of
// decide each time.
func showDocument(b *testing.B, d *Decision, doc bson.Raw, decide ...func() *Decision) {
	b.Helper()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if len(decide) > 0 {
			d = decide[0]()
		}
		v := d.FieldsFor(doc)
		if v == nil {
			b.Fatal("the document is not shown")
		}
		if _, err := v.Apply(doc); err != nil {
			b.Fatal(err)
		}
	}
}
