package policy

import (
	"testing"
	"time"

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
